import csv

import numpy as np
import pytest

from biglearn_em.cli import main
from biglearn_em.datasets import load_uci, minmax_scale, stratified_split
from biglearn_em.engine import COVARIANCE_TYPES
from biglearn_em.experiments import clustering, equal_start


def test_reproduce_clustering_quick(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reproduce", "clustering", "--dataset", "glass", "--quick",
                 "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    report = (out / "report.md").read_text()
    for text in (stdout, report):
        for method in clustering.METHODS:
            assert method in text
        for title in ("NMI", "ARI", "accuracy (Hungarian)", "mean test log-likelihood"):
            assert title in text
        assert "glass" in text
    assert "wall time" in stdout.lower() and "Wall time" in report
    assert "| glass | 6 | 0.01 |" in report  # the settings table
    for metric in (*clustering.METRICS, "seconds"):
        png = out / f"{metric}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({metric}.png)" in report
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * len(clustering.METHODS)  # header, 2 seeds x methods
    # without --covariance-types: no equal-start section, no file of it
    assert clustering.TYPES_TITLE not in report
    assert not (out / "covariance_types.csv").exists()


def test_covariance_types_share_one_start(tmp_path, capsys):
    out = tmp_path / "out"
    types = COVARIANCE_TYPES
    assert main(["reproduce", "clustering", "--dataset", "iris", "--quick", "--seeds", "1",
                 "--covariance-types", ",".join(types), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    report = (out / "report.md").read_text()
    assert f"## {clustering.TYPES_TITLE}" in report and clustering.TYPES_TITLE in stdout
    assert "--covariance-types full,tied,diag,spherical" in report  # the command
    section = report.split(f"## {clustering.TYPES_TITLE}")[1].split("\n## ")[0]
    for t in types:
        for method in clustering.FROM_START:
            assert section.count(f"| iris | {t} | {method} |") == 1
    with (out / "covariance_types.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(types) * len(clustering.FROM_START)
    starts = {}
    for r in rows:
        starts.setdefault(r["covariance_type"], {})[r["method"]] = float(r["start_ll"])
        assert r["dataset"] == "iris" and r["seed"] == "42"
        assert np.isfinite([float(r[m]) for m in ("nmi", "ari", "test_ll")]).all()
    assert list(starts) == list(types)
    for by_method in starts.values():
        # each method scored its own start: the same parameters, the same likelihood
        ours, theirs = (by_method[m] for m in clustering.FROM_START)
        assert abs(ours - theirs) < 1e-9 * abs(ours)
    # and each type has its own start (the same labels, other covariances)
    assert len({by_method["BigLearn-EM"] for by_method in starts.values()}) == len(types)


def test_each_method_gets_the_start_and_the_type():
    split = clustering.load_split("iris", seed=0)
    setting = clustering.settings_for("iris", quick=True)
    for t in COVARIANCE_TYPES:
        start = equal_start.shared_start(setting.K, t, split.X_train, 0, setting.eps)
        models = [make(setting, 0).set_params(**start.params())
                  for make in clustering.FROM_START.values()]
        for model in models:
            equal_start.timed_fit(model, split.X_train)
            assert model.covariance_type == t and model.covariances_.shape == start.precisions.shape
            assert model.n_init == 1
        lls = [equal_start.start_log_likelihood(m, split.X_train) for m in models]
        np.testing.assert_allclose(lls[0], lls[1], rtol=1e-12)


def test_bad_covariance_type_names_the_allowed_ones(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "clustering", "--dataset", "iris", "--covariance-types", "full,cubic"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown covariance type 'cubic'" in err and "full, tied, diag, spherical" in err


def test_bad_arguments_are_one_line_errors(capsys):
    assert main(["reproduce", "clustering", "--dataset", "mnist"]) == 2
    assert "unknown data set 'mnist'" in capsys.readouterr().err
    assert main(["reproduce", "clustering", "--dataset", "iris", "--seeds", "9"]) == 2
    assert "--seeds must be between 1 and 5" in capsys.readouterr().err


def test_minmax_uses_training_statistics_only():
    X_train = np.array([[0.0, 5.0, 1.0], [10.0, 5.0, 3.0]])
    X_test = np.array([[20.0, 7.0, 2.0], [-5.0, 5.0, 1.0]])
    train, test = minmax_scale(X_train, X_test)
    assert train.min() == 0.0 and train.max() == 1.0
    # outside the training range stays outside [0, 1]; a constant column maps to 0
    np.testing.assert_allclose(test, [[2.0, 0.0, 0.5], [-0.5, 0.0, 0.0]])
    assert np.all(np.isfinite(test))


def test_stratified_split_keeps_class_proportions():
    X, y = load_uci("vehicle")[:2]
    X_train, y_train, X_test, y_test = stratified_split(X, y, 0.2, seed=3)
    assert len(y_test) == np.ceil(0.2 * len(y)) and len(y_train) + len(y_test) == len(y)
    for c in np.unique(y):
        assert abs((y_test == c).sum() - 0.2 * (y == c).sum()) <= 1
    # same seed, same split; another seed, another split
    np.testing.assert_array_equal(stratified_split(X, y, 0.2, seed=3)[3], y_test)
    assert not np.array_equal(stratified_split(X, y, 0.2, seed=4)[2], X_test)


def test_splits_are_scaled_with_train_statistics():
    split = clustering.load_split("pendigits", seed=0)
    assert split.X_train.min() == 0.0 and split.X_train.max() == 1.0
    X_train, _, X_test, y_test = load_uci("pendigits")
    assert len(split.y_test) == len(y_test)  # the official split, not a random one
    low, span = X_train.min(0), X_train.max(0) - X_train.min(0)
    np.testing.assert_allclose(split.X_test, (X_test - low) / span)


def test_kmeans_log_likelihood_is_finite():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(200, 3))
    model = clustering.kmeans(clustering.Setting(4, 1e-2, 1, 1, 1, 1), 0).fit(X[:150])
    ll = clustering.kmeans_log_likelihood(model, X[:150], X[150:], 1e-2)
    assert np.isfinite(ll)


@pytest.mark.parametrize("name", clustering.DATASETS)
def test_every_dataset_loads(name):
    split = clustering.load_split(name, seed=0)
    assert split.X_train.shape[1] == split.X_test.shape[1]
    assert len(np.unique(split.y_train)) <= clustering.SETTINGS[name].K
