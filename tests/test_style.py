import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    # the ruff installed beside this interpreter, even when its venv is not activated
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a test dependency: pip install -e '.[test]'"
    result = subprocess.run([ruff, "check", "src", "tests", "benchmarks", "examples"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_clean():
    # the mypy of this interpreter, which finds the packages installed beside it (numpy's and
    # torch's types); pyproject's [tool.mypy] names the package and the settings. About 45 s on
    # the 2-core machine with a cold cache (mostly reading torch's and numpy's types), 1 s with
    # .mypy_cache
    assert importlib.util.find_spec("mypy"), "mypy is a test dependency: pip install -e '.[test]'"
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


#: What the repository's own files may read, link or run: the files it holds.
CHECKED = ("README.md", "pyproject.toml", "docs", "src", "tests", "benchmarks", "examples",
           ".ci")


def _text_files():
    for name in CHECKED:
        path = ROOT / name
        for f in [path] if path.is_file() else sorted(path.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and ".egg-info" not in str(f):
                try:
                    yield f, f.read_text()
                except UnicodeDecodeError:  # the .mat data files
                    continue


def test_no_file_points_outside_the_repository():
    # the folder that once lay beside the repository, and its files' names (spelled in
    # pieces, so that this test and a grep of the repository do not find themselves)
    folder = "sha" + "red"
    outside = ("../" + folder, folder + "/datasets", "DESIGN" + ".md",
               "REFERENCE" + "_RESULTS", "ARCHITECTURE" + "_NOTES", "STRATEGY" + "_NOTES")
    found = [f"{f.relative_to(ROOT)}: {word}" for f, text in _text_files()
             for word in outside if word in text]
    assert not found, found


def test_documents_link_to_files_that_exist():
    broken = []
    for f, text in _text_files():
        # the gallery's scripts and header (reStructuredText prose) name files as well
        in_examples = f.relative_to(ROOT).parts[0] == "examples"
        if f.suffix != ".md" and not in_examples:
            continue
        # Markdown links [..](target) and backticked paths `dir/file.md` (``dir/file.md``)
        targets = re.findall(r"\]\(([^)#\s]+)", text) if f.suffix == ".md" else []
        targets += re.findall(r"`((?:docs|src|tests|benchmarks|examples|\.ci)/[\w./-]+)`",
                              text)
        for target in targets:
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            here = (f.parent / target).resolve()
            top = (ROOT / target).resolve()
            if not ((here.exists() and here.is_relative_to(ROOT)) or top.exists()):
                broken.append(f"{f.relative_to(ROOT)} -> {target}")
    assert not broken, broken
