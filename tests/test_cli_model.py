"""``biglearn-em fit``, ``predict`` and ``info`` on small files of every format."""

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.io import savemat
from sklearn.datasets import dump_svmlight_file

from biglearn_em import BigLearnGaussianMixture, load
from biglearn_em.cli import main
from biglearn_em.io import read_table
from conftest import blobs

FAST = ["--max-iter", "30", "--random-state", "0"]


@pytest.fixture(scope="module")
def data():
    X, y = blobs(np.random.default_rng(3), 3, 2, 40, spread=6.0)
    return X, y


@pytest.fixture
def csv_file(tmp_path, data):
    """Features 'u', 'v' and a text label column 'kind' between them."""
    X, y = data
    path = tmp_path / "d.csv"
    lines = ["u,kind,v"] + [f"{a!r},c{k},{b!r}" for (a, b), k in zip(X.tolist(), y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def fit_model(tmp_path, csv_file, capsys, *extra):
    model = tmp_path / "m.npz"
    code, out, err = run(["fit", csv_file, "-k", 3, "--label-column", "kind", "-o", model,
                          *FAST, *extra], capsys)
    assert code == 0, err
    return model, out


# --------------------------------------------------------------------- fit
def test_fit_prints_a_summary_and_saves_the_model(tmp_path, csv_file, data, capsys):
    model, out = fit_model(tmp_path, csv_file, capsys)
    X, y = data
    assert f"{len(X)} samples x 2 features (u, v)" in out
    assert "column 'kind' set aside" in out
    assert "log-likelihood:" in out and "BIC:" in out and f"written to {model}" in out
    assert "3 components in" in out and " s, " in out
    # the cluster table: one row per cluster, sizes adding up to N
    table = out.splitlines()
    start = table.index(f"{'cluster':>7} {'size':>8} {'share':>7} {'weight':>8}") + 1
    rows = [line.split() for line in table[start : start + 3]]
    assert [r[0] for r in rows] == ["0", "1", "2"]
    assert sum(int(r[1]) for r in rows) == len(X)

    gmm = load(model)
    assert gmm.feature_names_in_.tolist() == ["u", "v"]
    # the same fit as the estimator with the same settings
    ref = BigLearnGaussianMixture(3, max_iter=30, random_state=0).fit(X)
    assert np.array_equal(gmm.means_, ref.means_)
    assert f"BIC: {ref.bic(X):.6g}" in out
    assert f"log-likelihood: {ref.score(X):.6g} per sample" in out
    assert sorted(int(r[1]) for r in rows) == sorted(np.bincount(ref.labels_).tolist())


def test_fit_without_out_does_not_save(tmp_path, csv_file, capsys):
    code, out, _ = run(["fit", csv_file, "-k", 2, "--columns", "u,v", *FAST], capsys)
    assert code == 0 and "model: not saved" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_fit_passes_every_estimator_option(tmp_path, csv_file, capsys):
    model, _ = fit_model(
        tmp_path, csv_file, capsys, "--n-init", "2", "--n-inner", "3",
        "--init-params", "random_from_data", "--update", "conditional", "--eig-floor", "0.01",
        "--reg-covar", "1e-6", "--weight-smoothing", "0.1", "--patience", "none",
        "--tol", "1e-4", "--view-probs", "0.5,0.25,0.25", "--chunk-size", "16",
        "--restarts", "2", "--restart-iter", "4", "--moves", "1", "--smoothing-fade", "10",
        "--search-rows", "50", "--max-time", "600", "--covariance-type", "diag")
    params = load(model).get_params()
    expected = {"n_components": 3, "max_iter": 30, "random_state": 0, "n_init": 2, "n_inner": 3,
                "init_params": "random_from_data", "update": "conditional", "eig_floor": 0.01,
                "reg_covar": 1e-6, "weight_smoothing": 0.1, "patience": None, "tol": 1e-4,
                "view_probs": (0.5, 0.25, 0.25), "chunk_size": 16, "restarts": 2,
                "restart_iter": 4, "moves": 1, "smoothing_fade": 10, "search_rows": 50,
                "max_time": 600.0, "covariance_type": "diag"}
    assert {k: params[k] for k in expected} == expected
    assert load(model).covariances_.shape == (3, 2)


def test_fit_checkpoint_resumes_to_the_same_model(tmp_path, csv_file, data, capsys):
    ckpt = tmp_path / "fit.ckpt"
    first, _ = fit_model(tmp_path, csv_file, capsys, "--checkpoint", ckpt)
    assert ckpt.is_file()
    means = load(first).means_
    assert load(first).checkpoint is None  # the model file does not point at the checkpoint
    # a rerun resumes the finished fit from the file: the same model
    again, _ = fit_model(tmp_path, csv_file, capsys, "--checkpoint", ckpt)
    assert np.array_equal(load(again).means_, means)
    # another data set refuses the checkpoint with a one-line error
    other = tmp_path / "other.npy"
    np.save(other, data[0] + 1.0)
    code, _, err = run(["fit", other, "-k", 3, "--checkpoint", ckpt, *FAST], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "checkpoint" in err


def test_fit_defaults_are_the_estimators(tmp_path, csv_file, capsys):
    model, _ = fit_model(tmp_path, csv_file, capsys)
    params = load(model).get_params()
    defaults = BigLearnGaussianMixture().get_params()
    changed = {k for k in params if params[k] != defaults[k]}
    assert changed == {"n_components", "max_iter", "random_state"}


def test_fit_help_shows_the_estimators_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults = BigLearnGaussianMixture().get_params()
    assert f"(default: {defaults['max_iter']})" in text
    assert f"(default: {','.join(map(str, defaults['view_probs']))})" in text
    assert "dense N x D float64 matrix" in text  # LIBSVM files are densified


def test_fit_warnings_are_one_line(tmp_path, csv_file, capsys):
    code, _, err = run(["fit", csv_file, "-k", 3, "--label-column", "kind", "--max-iter", 2,
                        "--tol", 0, "--patience", "none", "--random-state", 0], capsys)
    assert code == 0
    assert err == ("biglearn-em: warning: Best performing initialization did not converge. "
                   "Try different init parameters, or increase max_iter, tol, or check for "
                   "degenerate data.\n")


def write_formats(tmp_path, X, y):
    """The same data as every supported file format."""
    paths = {}
    paths["tsv"] = tmp_path / "d.tsv"
    paths["tsv"].write_text("a\tb\n" + "".join(f"{a!r}\t{b!r}\n" for a, b in X.tolist()))
    paths["txt"] = tmp_path / "d.txt"
    paths["txt"].write_text("".join(f"{a!r} {b!r}\n" for a, b in X.tolist()))
    paths["npy"] = tmp_path / "d.npy"
    np.save(paths["npy"], X)
    paths["parquet"] = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1]}), paths["parquet"])
    paths["mat"] = tmp_path / "d.mat"
    savemat(paths["mat"], {"DataSet": np.column_stack([y, X])})
    paths["libsvm"] = tmp_path / "d.libsvm"
    dump_svmlight_file(X, y, str(paths["libsvm"]))
    return paths


@pytest.mark.parametrize("fmt", ["tsv", "txt", "npy", "parquet", "mat", "libsvm"])
def test_fit_and_predict_every_format(tmp_path, data, capsys, fmt):
    X, y = data
    path = write_formats(tmp_path, X, y)[fmt]
    model = tmp_path / "m.npz"
    code, out, err = run(["fit", path, "-k", 3, "-o", model, *FAST], capsys)
    assert code == 0, err
    assert f"{len(X)} samples x 2 features" in out
    gmm = load(model)
    Xf = read_table(path)[0]
    # LIBSVM writes 16 significant digits; the other files hold exactly X
    np.testing.assert_allclose(Xf, X, rtol=1e-15 if fmt == "libsvm" else 0)
    ref = BigLearnGaussianMixture(3, max_iter=30, random_state=0).fit(Xf)
    assert np.array_equal(gmm.means_, ref.means_)
    code, out, err = run(["predict", model, path], capsys)
    assert code == 0, err
    assert out.splitlines() == ["label"] + [str(v) for v in ref.predict(Xf)]


# ----------------------------------------------------------------- predict
def test_predict_writes_labels_and_probabilities(tmp_path, csv_file, data, capsys):
    X, _ = data
    model, _ = fit_model(tmp_path, csv_file, capsys)
    gmm = load(model)
    out_file = tmp_path / "labels.csv"
    code, out, err = run(["predict", model, csv_file, "-o", out_file], capsys)
    assert code == 0, err
    assert f"{out_file}: {len(X)} rows written" in out
    lines = out_file.read_text().splitlines()
    assert lines[0] == "label"
    with pytest.warns(UserWarning, match="feature names"):  # fitted with names
        expected = gmm.predict(X)
    assert [int(v) for v in lines[1:]] == expected.tolist()

    code, out, _ = run(["predict", model, csv_file, "--proba"], capsys)
    assert code == 0
    table = np.loadtxt(out.splitlines(), delimiter=",", skiprows=1)
    assert out.splitlines()[0] == "label,p_0,p_1,p_2"
    assert np.array_equal(table[:, 0], expected)
    with pytest.warns(UserWarning, match="feature names"):
        np.testing.assert_allclose(table[:, 1:], gmm.predict_proba(X), rtol=1e-7, atol=1e-12)


def test_predict_matches_columns_by_name(tmp_path, csv_file, data, capsys):
    X, _ = data
    model, _ = fit_model(tmp_path, csv_file, capsys)
    reordered = tmp_path / "r.csv"
    reordered.write_text("note,v,u\n" + "".join(f"row {i},{b!r},{a!r}\n"
                                                for i, (a, b) in enumerate(X.tolist())))
    code, out, err = run(["predict", model, reordered], capsys)
    assert code == 0, err
    code, same, _ = run(["predict", model, csv_file], capsys)
    assert out == same
    # a file without the model's columns
    other = tmp_path / "o.csv"
    other.write_text("u,w\n1,2\n")
    code, _, err = run(["predict", model, other], capsys)
    assert code == 2 and err == f"biglearn-em: error: {other} lacks the model's feature " \
                                "column(s) ['v']\n"


def test_predict_libsvm_file_narrower_than_the_model(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=30), rng.normal(size=30) + 5])
    model = tmp_path / "m.npz"
    np.save(tmp_path / "d.npy", X)
    assert run(["fit", tmp_path / "d.npy", "-k", 2, "-o", model, *FAST], capsys)[0] == 0
    dump_svmlight_file(np.array([[1.0, 0.0], [2.0, 0.0]]), [0, 0], str(tmp_path / "n.svm"))
    code, out, err = run(["predict", model, tmp_path / "n.svm"], capsys)
    assert code == 0, err
    assert out.splitlines()[1:] == [str(v) for v in load(model).predict([[1, 0], [2, 0]])]


def test_predict_into_a_closed_pipe_is_quiet(tmp_path, capsys):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "d.npy", rng.normal(size=(60_000, 2)))  # output beyond a pipe's buffer
    np.save(tmp_path / "s.npy", rng.normal(size=(50, 2)))
    model = tmp_path / "m.npz"
    assert run(["fit", tmp_path / "s.npy", "-k", 2, "-o", model, *FAST], capsys)[0] == 0
    proc = subprocess.Popen([sys.executable, "-m", "biglearn_em.cli", "predict", str(model),
                             str(tmp_path / "d.npy")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"label\n"
    proc.stdout.close()  # as `| head -1` does
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_an_output_command_into_a_closed_pipe_is_quiet(tmp_path):
    # cli.main, not each command, meets a reader that went away: a command whose output is
    # what it prints (info, its output made longer than a pipe holds) ends quietly with 0
    script = tmp_path / "flood.py"
    script.write_text(
        "import sys\n"
        "import biglearn_em.commands.model as commands\n"
        "from biglearn_em.cli import main\n"
        "def flood(args):\n"
        "    for i in range(100_000):\n"
        "        print(f'line {i}')\n"
        "    return 0\n"
        "commands._info = flood\n"
        "sys.exit(main(['info', 'model.npz']))\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"line 0\n"
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_a_fit_into_a_closed_pipe_keeps_its_model_and_says_so(tmp_path, csv_file):
    # a fit whose summary meets a closed stdout (| head, the reader gone) has saved its model
    # first, and says in one line that it did not end, with status 1, not 0
    model = tmp_path / "m.npz"
    proc = subprocess.Popen([sys.executable, "-m", "biglearn_em.cli", "fit", str(csv_file),
                             "-k", "3", "--label-column", "kind", "-o", str(model), *FAST],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # gone before the fit prints anything
    assert proc.wait(timeout=120) == 1
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert err == ("biglearn-em: error: standard output closed before the command ended "
                   "([Errno 32] Broken pipe)\n")
    assert load(model).means_.shape[0] == 3


def test_predict_progress_bar_only_on_a_terminal(tmp_path, csv_file, capsys, monkeypatch):
    model, _ = fit_model(tmp_path, csv_file, capsys)
    code, _, err = run(["predict", model, csv_file], capsys)
    assert code == 0 and err == ""  # not a terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(["predict", model, csv_file], capsys)
    assert code == 0 and "predicting [" in err and "1/1" in err
    code, _, err = run(["predict", model, csv_file, "--quiet"], capsys)
    assert code == 0 and err == ""


def test_fit_progress_bar_only_on_a_terminal(tmp_path, csv_file, capsys, monkeypatch):
    code, _, err = run(["fit", csv_file, "-k", 3, "--label-column", "kind", *FAST], capsys)
    assert code == 0 and err == ""  # not a terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(["fit", csv_file, "-k", 3, "--label-column", "kind", "--n-init", 2,
                        *FAST], capsys)
    assert code == 0 and "fitting [" in err and "2/2" in err
    code, _, err = run(["fit", csv_file, "-k", 3, "--label-column", "kind", "-q", *FAST],
                       capsys)
    assert code == 0 and err == ""


# -------------------------------------------------------------------- info
def test_info(tmp_path, csv_file, capsys):
    model, _ = fit_model(tmp_path, csv_file, capsys)
    gmm = load(model)
    code, out, _ = run(["info", model], capsys)
    assert code == 0
    assert "biglearn-em model, format version 1" in out
    assert f"NumPy {np.__version__}" in out
    assert "components: 3; features: 2; dtype: float64" in out
    assert "feature names: u, v" in out
    assert "parameters (not default): max_iter=30, random_state=0" in out
    for k in range(3):
        assert f"{k:>7} {gmm.weights_[k]:>8.4f}" in out
    code, out, _ = run(["info", model, "--json"], capsys)
    meta = json.loads(out)
    assert meta["format"] == "biglearn-em-model" and meta["feature_names_in_"] == ["u", "v"]


# ------------------------------------------------------------------ errors
def one_line_error(code, out, err):
    assert code == 2
    assert err.startswith("biglearn-em: error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    return err


def test_missing_data_file(tmp_path, capsys):
    err = one_line_error(*run(["fit", tmp_path / "none.csv", "-k", 2], capsys))
    assert "no such data file" in err


def test_bad_column(tmp_path, csv_file, capsys):
    err = one_line_error(*run(["fit", csv_file, "-k", 2], capsys))
    assert "line 2, column 2 ('kind'): 'c0' is not a number" in err
    err = one_line_error(*run(["fit", csv_file, "-k", 2, "--columns", "u,z"], capsys))
    assert "no column named 'z'" in err


def test_wrong_model_file(tmp_path, csv_file, capsys):
    not_model = tmp_path / "x.npz"
    np.savez(not_model, a=np.ones(3))
    for command in (["predict", not_model, csv_file], ["info", not_model]):
        err = one_line_error(*run(command, capsys))
        assert "is not a biglearn-em model file" in err
    err = one_line_error(*run(["info", tmp_path / "missing.npz"], capsys))
    assert "no such model file" in err


def test_wrong_number_of_features(tmp_path, csv_file, capsys):
    model, _ = fit_model(tmp_path, csv_file, capsys)
    np.save(tmp_path / "w.npy", np.ones((4, 3)))
    err = one_line_error(*run(["predict", model, tmp_path / "w.npy"], capsys))
    assert "has 3 feature columns; the model was fitted on 2" in err


def test_estimator_refusal_is_one_line(tmp_path, csv_file, capsys):
    err = one_line_error(*run(["fit", csv_file, "-k", 2, "--label-column", "kind",
                               "--update", "sideways"], capsys))
    assert "'update'" in err and "sideways" in err


def test_debug_shows_the_exception(tmp_path, capsys):
    with pytest.raises(FileNotFoundError):
        main(["--debug", "fit", str(tmp_path / "none.csv"), "-k", "2"])


def test_subprocess_error_is_one_line_without_traceback(tmp_path, csv_file):
    result = subprocess.run(
        [sys.executable, "-m", "biglearn_em.cli", "predict", str(tmp_path / "m.npz"),
         str(csv_file)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"biglearn-em: error: no such model file: {tmp_path / 'm.npz'}\n"
    assert result.stdout == ""


# ------------------------------------------------------------------ device
def test_fit_device_and_dtype_options(tmp_path, csv_file, capsys):
    model, out = fit_model(tmp_path, csv_file, capsys, "--device", "cpu", "--dtype", "float32",
                           "--device-budget", "1000000")
    params = load(model).get_params()
    assert (params["device"], params["dtype"], params["device_budget"]) == ("cpu", "float32",
                                                                           1000000)
    assert "3 components in" in out


def test_a_gpu_request_without_one_is_a_one_line_error(tmp_path, csv_file, capsys):
    code, _, err = run(["fit", csv_file, "-k", 2, "--columns", "u,v", "--device", "cuda",
                        *FAST], capsys)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        assert code == 0  # pragma: no cover - a machine with a GPU
    else:
        assert code == 2 and len(err.strip().splitlines()) == 1
        # without torch: how to install it (the wording is the backend's)
        assert ("torch.cuda.is_available() is False" in err if torch is not None
                else "pip install" in err and "torch" in err)


def test_predict_runs_where_asked_whatever_the_fit_used(tmp_path, csv_file, capsys):
    model, _ = fit_model(tmp_path, csv_file, capsys)
    gmm = load(model)
    gmm.set_params(device="cuda")  # as if fitted on a GPU machine
    gmm.save(model)
    code, out, err = run(["predict", model, csv_file], capsys)  # the host by default
    assert code == 0, err
    code, again, err = run(["predict", model, csv_file, "--device", "cpu"], capsys)
    assert code == 0 and again == out
