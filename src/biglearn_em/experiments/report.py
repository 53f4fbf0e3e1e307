"""Markdown reports of the experiments: tables, settings, versions, figures."""

from __future__ import annotations

import csv
import importlib.util
import platform
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

NO_MATPLOTLIB = ("matplotlib is not installed, so no figures were drawn: "
                 "pip install matplotlib (from a biglearn-em clone: pip install -e '.[plot]')")


def have_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (also readable as plain text)."""
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def versions() -> str:
    import numpy
    import scipy
    import sklearn


    return table(["package", "version"], [
        ["biglearn-em", __version__], ["numpy", numpy.__version__], ["scipy", scipy.__version__],
        ["scikit-learn", sklearn.__version__], ["python", platform.python_version()],
    ])


def prepare(folder: str | Path) -> Path:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write(out: Path, title: str, sections: Sequence[tuple[str, str]],
          figures: Sequence[Path] = ()) -> Path:
    """Write ``out/report.md``: the sections, the figures, the versions."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"# {title}", f"Generated {stamp} on {platform.machine()} "
             f"({_cpus()} CPUs)."]
    parts += [f"## {name}\n\n{body}" for name, body in sections]
    if figures:
        parts.append("## Figures\n\n" + "\n\n".join(f"![{f.stem}]({f.name})" for f in figures))
    parts.append("## Versions\n\n" + versions())
    path = out / "report.md"
    path.write_text("\n\n".join(parts) + "\n")
    return path


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


def write_csv(rows: Sequence[DataclassInstance], path: Path) -> Path:
    """Rows (dataclass instances of one type) as a CSV file with a header of
    their field names."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    return path
