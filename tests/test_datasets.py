"""The paper's UCI data sets ship inside the package: what the provenance note
says of them holds, the loaders find them with no option, the overrides work,
and a built wheel carries them to an installation outside the source tree."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from biglearn_em.cli import main
from biglearn_em.datasets import (
    DATA_ENV,
    UCI_FILES,
    bundled_data_dir,
    load_faithful,
    load_mat,
    load_uci,
    resolve_data_dir,
)

ROOT = Path(__file__).resolve().parents[1]
NOTE = bundled_data_dir() / "README.md"


def _note_rows() -> dict[str, dict[str, str]]:
    """The rows of the provenance note's file table, by file."""
    rows = {}
    for line in NOTE.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].endswith(".mat"):
            rows[cells[0]] = dict(zip(("shape", "classes", "storage", "sha256"), cells[1:]))
    return rows


def test_the_note_lists_exactly_the_shipped_files():
    shipped = {p.relative_to(bundled_data_dir()).as_posix()
               for p in bundled_data_dir().rglob("*.mat")}
    expected = {f for pair in UCI_FILES.values() for f in pair if f is not None}
    assert shipped == expected == set(_note_rows())
    assert "CC BY 4.0" in NOTE.read_text() and "MIT" in NOTE.read_text()


@pytest.mark.parametrize("name", sorted(_note_rows()))
def test_each_file_is_what_the_note_says(name):
    row = _note_rows()[name]
    path = bundled_data_dir() / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
    from scipy.io import loadmat

    raw = loadmat(path)["DataSet"]
    X, y = load_mat(path)
    n, d = (int(v) for v in row["shape"].split(" x "))
    assert X.shape == (n, d) and y.shape == (n,) and X.dtype == np.float64
    assert np.array_equal(np.unique(y), np.arange(int(row["classes"])))  # 0-based labels
    storage = row["storage"].split(",")[0]
    assert raw.dtype == np.dtype(storage)
    if "-" in row["storage"]:  # the integer sets state their range
        low, high = (int(v) for v in re.findall(r"\d+", row["storage"].split(",")[1]))
        assert X.min() == low and X.max() == high
    np.testing.assert_array_equal(X, raw[:, 1:].astype(np.float64))  # no wrap, no rounding


def test_faithful_is_rs_table():
    X = load_faithful()
    assert X.shape == (272, 2) and X.dtype == np.float64
    # R's summary(faithful): eruptions 1.6 to 5.1 (mean 3.488), waiting 43 to 96 (mean 70.9)
    assert X[:, 0].min() == 1.6 and X[:, 0].max() == 5.1
    assert X[:, 1].min() == 43 and X[:, 1].max() == 96
    np.testing.assert_allclose(X.mean(0), [3.487783, 70.897059], atol=1e-6)
    np.testing.assert_array_equal(X[0], [3.6, 79])  # R's first row


def test_vehicle_values_above_255_survive():
    X = load_uci("vehicle")[0]
    assert X.max() == 1018.0 and (X > 255).sum() > 100


def test_loaders_need_no_option(tmp_path, capsys):
    X, y, X_test, y_test = load_uci("pendigits")
    assert X.shape == (7494, 16) and X_test.shape == (3498, 16)
    assert resolve_data_dir() == bundled_data_dir()
    out = tmp_path / "out"
    assert main(["reproduce", "clustering", "--dataset", "glass", "--quick",
                 "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "UCI data: the copies shipped in the package" in report
    assert "| glass |" in report


def _copy_of_glass(folder: Path, rows: int) -> Path:
    """A data folder in the package's layout whose glass file has only ``rows`` rows."""
    from scipy.io import loadmat, savemat

    table = loadmat(bundled_data_dir() / UCI_FILES["glass"][0])["DataSet"]
    (folder / "glass").mkdir(parents=True)
    savemat(folder / UCI_FILES["glass"][0], {"DataSet": table[:rows]})
    return folder


def test_data_dir_option_and_environment_override_the_package(tmp_path, monkeypatch):
    small = _copy_of_glass(tmp_path / "mine", rows=50)
    assert load_uci("glass", small)[0].shape == (50, 9)
    monkeypatch.setenv(DATA_ENV, str(small))
    assert resolve_data_dir() == small
    assert load_uci("glass")[0].shape == (50, 9)
    # the option wins over the environment
    assert resolve_data_dir(bundled_data_dir()) == bundled_data_dir()
    # an empty variable counts as unset
    monkeypatch.setenv(DATA_ENV, "")
    assert load_uci("glass")[0].shape == (214, 9)


def test_reproduce_reads_the_data_dir_option(tmp_path, capsys):
    small = _copy_of_glass(tmp_path / "mine", rows=120)
    out = tmp_path / "out"
    assert main(["reproduce", "clustering", "--dataset", "glass", "--quick", "--seeds", "1",
                 "--data-dir", str(small), "--out", str(out)]) == 0
    assert f"UCI data: `{small}`" in (out / "report.md").read_text()


def test_a_missing_override_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nowhere"
    assert main(["reproduce", "clustering", "--dataset", "vehicle", "--quick",
                 "--data-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "--data-dir" in err and len(err.splitlines()) == 1
    monkeypatch.setenv(DATA_ENV, str(missing))
    with pytest.raises(ValueError, match=r"from \$BIGLEARN_EM_DATA\) does not exist"):
        load_uci("glass")
    # scikit-learn's bundled sets need no folder at all
    assert main(["reproduce", "clustering", "--dataset", "iris", "--quick", "--seeds", "1",
                 "--out", str(tmp_path / "iris")]) == 0


def test_an_override_without_the_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"letter/letter\.mat"):
        load_uci("letter", tmp_path)


def _build_wheel(tmp_path: Path) -> Path:
    """A wheel built from a copy of the project's sources (the checkout stays clean)."""
    src = tmp_path / "project"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    # no build isolation: the test extras bring a setuptools that builds it offline
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(dist), str(src)],
                   check=True, cwd=tmp_path)
    (wheel,) = dist.glob("biglearn_em-*.whl")
    return wheel


@pytest.mark.slow
def test_the_wheel_carries_the_data_and_works_installed(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for relative in [*_note_rows(), "README.md", "faithful.csv"]:
        assert f"biglearn_em/data/{relative}" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", "--target", str(target), str(wheel)], check=True)
    # an installed copy, run from a folder with nothing beside it and no override
    env = {k: v for k, v in os.environ.items() if k != DATA_ENV}
    env["PYTHONPATH"] = str(target)
    script = (
        "import sys, biglearn_em, biglearn_em.datasets as d\n"
        f"assert biglearn_em.__file__.startswith({str(target)!r}), biglearn_em.__file__\n"
        "assert d.load_uci('vehicle')[0].shape == (846, 18)\n"
        "assert d.load_faithful().shape == (272, 2)\n"
        "from biglearn_em.cli import main\n"
        "sys.exit(main(['reproduce', 'clustering', '--dataset', 'glass', '--quick',\n"
        "               '--seeds', '1', '--out', 'out']))\n"
    )
    run = tmp_path / "elsewhere"
    run.mkdir()
    done = subprocess.run([sys.executable, "-c", script], cwd=run, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "UCI data: the copies shipped in the package" in (run / "out" / "report.md").read_text()

