"""What a new user meets first on the command line: files written by R, a data
file given as the model, missing values, and mistyped arguments."""

import argparse
import re
from pathlib import Path

import numpy as np
import pytest

from biglearn_em import load
from biglearn_em.cli import build_parser, main
from conftest import blobs

FAST = ["--max-iter", "30", "--random-state", "0"]


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def points():
    X, _ = blobs(np.random.default_rng(5), 2, 2, 30, spread=8.0)
    return X


@pytest.fixture
def r_csv(tmp_path, points):
    """The points as R's write.csv writes a data frame: quoted row names 1..N under an
    empty header."""
    rows = enumerate(points.tolist())
    lines = ['"","x","y"'] + [f'"{i + 1}",{a!r},{b!r}' for i, (a, b) in rows]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def one_line(code, err):
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------- index columns
def test_fit_leaves_r_row_names_out_and_says_so(tmp_path, r_csv, points, capsys):
    model = tmp_path / "m.npz"
    code, out, err = run(["fit", r_csv, "-k", 2, "-o", model, *FAST], capsys)
    assert code == 0, err
    assert f"{len(points)} samples x 2 features (x, y)" in out
    assert ("column 1 ('') read as a row index (an empty header) and left out; "
            "--index-column none keeps it") in out
    gmm = load(model)
    assert gmm.n_features_in_ == 2 and list(gmm.feature_names_in_) == ["x", "y"]


def test_index_column_none_keeps_the_row_names(tmp_path, r_csv, points, capsys):
    model = tmp_path / "m.npz"
    code, out, err = run(["fit", r_csv, "-k", 2, "--index-column", "none", "-o", model, *FAST],
                         capsys)
    assert code == 0, err
    assert f"{len(points)} samples x 3 features (, x, y)" in out and "row index" not in out
    assert load(model).n_features_in_ == 3


def test_index_column_by_name_or_position(tmp_path, capsys):
    path = tmp_path / "d.csv"
    rows = ["a,code,b"] + [f"{i % 3}.5,{7 * i},{i % 2}.25" for i in range(12)]
    path.write_text("\n".join(rows) + "\n")
    for spec in ("code", "1"):
        code, out, err = run(["fit", path, "-k", 2, "--index-column", spec, *FAST], capsys)
        assert code == 0, err
        assert "12 samples x 2 features (a, b)" in out
        assert "column 2 ('code') left out as the --index-column" in out


def test_predict_reads_the_file_as_the_fit_did(tmp_path, r_csv, points, capsys):
    model = tmp_path / "m.npz"
    assert run(["fit", r_csv, "-k", 2, "-o", model, *FAST], capsys)[0] == 0
    code, out, err = run(["predict", model, r_csv], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "label" and len(out.splitlines()) == len(points) + 1
    # the columns were matched by name; a headerless copy has its row numbers dropped
    bare = tmp_path / "bare.csv"
    rows = enumerate(points.tolist())
    bare.write_text("".join(f"{i + 1},{a!r},{b!r}\n" for i, (a, b) in rows))
    code, same, err = run(["predict", model, bare], capsys)
    assert code == 0 and same == out
    # stdout holds the labels: the note goes to stderr
    assert "biglearn-em: note: column 1 read as a row index (values 1..N)" in err
    # a model fitted with the row numbers as a feature gets them back at predict
    kept = tmp_path / "kept.npz"
    assert run(["fit", bare, "-k", 2, "--index-column", "none", "-o", kept, *FAST],
               capsys)[0] == 0
    code, out, err = run(["predict", kept, bare], capsys)
    assert code == 0 and len(out.splitlines()) == len(points) + 1, err


# ------------------------------------------------------------- wrong files
def test_a_data_file_given_as_the_model_is_one_line_without_pickle(r_csv, capsys):
    for command in (["predict", r_csv, r_csv], ["info", r_csv]):
        err = one_line(*run(command, capsys)[::2])
        assert err == (f"biglearn-em: error: {r_csv} is not a biglearn-em model file (expected "
                       "an .npz archive written by biglearn-em fit --out or model.save)\n")


def test_an_object_npy_is_refused_without_suggesting_pickle(tmp_path, capsys):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([[1, "a"], [2, "b"]], dtype=object), allow_pickle=True)
    err = one_line(*run(["fit", path, "-k", 2], capsys)[::2])
    assert "holds Python objects (dtype object), which are never read" in err
    assert "pickle" not in err.replace(str(tmp_path), "")


# ----------------------------------------------------------- missing values
@pytest.mark.parametrize("cell", ["NA", "", "NaN", "?"])
def test_a_missing_value_gets_its_own_one_line_message(tmp_path, cell, capsys):
    path = tmp_path / "d.csv"
    path.write_text(f"a,b\n1,2\n3,4\n5,6\n7,{cell}\n")
    err = one_line(*run(["fit", path, "-k", 2], capsys)[::2])
    assert f"{path}, line 5, column 2 ('b'): " in err and "is a missing value" in err
    assert "drop the rows with missing values or impute them" in err
    assert "label column" not in err


def test_one_feature_is_singular(tmp_path, capsys):
    path = tmp_path / "one.csv"
    path.write_text("v\n" + "".join(f"{v}\n" for v in (0.1, 0.3, 5.2, 5.0, 0.2, 5.1)))
    code, out, err = run(["fit", path, "-k", 2, "-o", tmp_path / "m.npz", *FAST], capsys)
    assert code == 0, err
    assert "6 samples x 1 feature (v)" in out
    wide = tmp_path / "wide.npy"
    np.save(wide, np.ones((4, 3)))
    np.save(tmp_path / "narrow.npy", np.ones((4, 1)))
    two = tmp_path / "two.npz"
    assert run(["fit", wide, "-k", 1, "--columns", "0,1", "-o", two, *FAST], capsys)[0] == 0
    err = one_line(*run(["predict", two, tmp_path / "narrow.npy"], capsys)[::2])
    assert "has 1 feature column; the model was fitted on 2" in err


# ------------------------------------------------------------ bad arguments
def _commands(parser, path=()):
    """Every command path of the parser: (), ("fit",), ("reproduce", "grid25"), ..."""
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(build_parser()))


def test_every_command_is_checked():
    assert {("fit",), ("predict",), ("info",), ("select",), ("reproduce", "grid25"),
            ("reproduce", "fashion-mnist")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_bad_argument_is_one_line_without_the_usage(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--no-such-option"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    prog = " ".join(("biglearn-em", *command))
    listed = "commands" if command in ((), ("reproduce",)) else "options"
    assert err.count("\n") == 1 and "usage:" not in err, err
    assert err.startswith(f"{prog}: error: ")
    assert err.endswith(f"({prog} --help lists the {listed})\n")


def test_a_bad_value_names_the_option(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "data.csv", "-k", "five"])
    assert capsys.readouterr().err == (
        "biglearn-em fit: error: argument -k/--n-components: invalid int value: 'five' "
        "(biglearn-em fit --help lists the options)\n")


# --------------------------------------------------- install and packaging
ROOT = Path(__file__).resolve().parents[1]


def test_readme_installs_from_a_clone_and_its_dask_example_runs_as_a_script():
    # the README and Getting started install from a clone; the user guide's Dask page holds
    # the Dask example
    for page in ("README.md", "docs/getting_started.md"):
        text = (ROOT / page).read_text()
        # the package is on no index: no command installs it by name
        commands = "".join(re.findall(r"```bash\n(.*?)```", text, flags=re.S))
        assert "pip install -e" in commands and "biglearn-em[" not in commands, page
        for extra in ("plot", "io", "dask", "torch"):
            assert f'pip install -e ".[{extra}]"' in text, page
        assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in text, page
    # distributed's worker processes import the script again: its work needs the guard
    guide = (ROOT / "docs" / "guide" / "dask.md").read_text()
    dask = guide.split("# Dask")[1].split("```python")[1].split("```")[0]
    assert 'if __name__ == "__main__":' in dask
    body = dask.split('if __name__ == "__main__":')[1]
    assert "LocalCluster(" in body and ".fit(X)" in body


def test_the_package_declares_its_license_and_its_types():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "BSD-3-Clause"
    assert project["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License\n")
    assert "Copyright (c) 2026, the biglearn-em developers" in text
    assert "Neither the name of the copyright holder" in text
    assert (ROOT / "src" / "biglearn_em" / "py.typed").is_file()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["biglearn_em"]
