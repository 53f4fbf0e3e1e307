"""Sample weights: frequency weights, a row of weight w counting as w copies
of itself, on every backend and covariance type."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from biglearn_em import BigLearnGaussianMixture, select_model
from biglearn_em.engine import Data, moves
from biglearn_em.engine import kmeans as kmeans_
from biglearn_em.fitting import Fit, fingerprint

TYPES = ("full", "tied", "diag", "spherical")
PLAIN = {"view_probs": (1, 0, 0), "weight_smoothing": 0, "n_inner": 1, "tol": 1e-10,
         "max_iter": 500}


def _data(seed: int = 0, D: int = 3, n: int = 60):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c, 1.0, (n, D)) for c in (0.0, 4.0, 8.0)])
    w = rng.integers(0, 4, len(X))
    return X, w


def _start(X, covariance_type: str):
    """A given start (weights, means, precisions) of 3 components: no draw."""
    K, D = 3, X.shape[1]
    means = X[[0, len(X) // 2, len(X) - 1]]
    prec = {"full": np.stack([np.eye(D)] * K), "tied": np.eye(D),
            "diag": np.ones((K, D)), "spherical": np.ones(K)}[covariance_type]
    return {"n_components": K, "covariance_type": covariance_type,
            "weights_init": np.full(K, 1 / K), "means_init": means, "precisions_init": prec}


def _as(kind: str, X, w):
    """X and weights as the input of a backend."""
    if kind == "numpy":
        return X, w
    if kind == "torch":
        torch = pytest.importorskip("torch", reason='pip install "torch==2.13.0+cpu"')
        return torch.from_numpy(X), torch.from_numpy(w.astype(float))
    da = pytest.importorskip("dask.array", reason='pip install "dask[array]" distributed')
    return da.from_array(X, chunks=(37, X.shape[1])), da.from_array(w, chunks=(37,))


def _host(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


@pytest.mark.parametrize("kind", ["numpy", "torch", "dask"])
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("D", [3, 40])
def test_integer_weights_give_the_model_of_the_repeated_rows(kind, covariance_type, D):
    X, w = _data(D=D)
    params = {**PLAIN, **_start(X, covariance_type)}
    repeated = BigLearnGaussianMixture(**params).fit(np.repeat(X, w, axis=0))
    weighted = BigLearnGaussianMixture(**params).fit(*_as(kind, X, w)[:1],
                                                     sample_weight=_as(kind, X, w)[1])
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(_host(getattr(weighted, name)), getattr(repeated, name),
                                   rtol=0, atol=1e-8, err_msg=name)
    assert weighted.n_iter_ == repeated.n_iter_
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, abs=1e-10)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_with_the_defaults_weights_reach_the_likelihood_of_the_repeated_rows(covariance_type):
    X, w = _data(seed=1)
    R = np.repeat(X, w, axis=0)
    kw = {"n_components": 3, "covariance_type": covariance_type, "random_state": 0}
    weighted = BigLearnGaussianMixture(**kw).fit(X, sample_weight=w)
    repeated = BigLearnGaussianMixture(**kw).fit(R)
    assert weighted.score(R) == pytest.approx(repeated.score(R), abs=1e-6)
    # the restarts, moves and views ran on the weighted rows: as many phases as unweighted
    kinds = {r["kind"] for r in weighted.history_}
    assert {"restart", "refine", "polish"} <= kinds


def test_zero_weights_leave_rows_out():
    X, w = _data(seed=2)
    w = np.where(np.arange(len(X)) % 3 == 0, 0, 1)
    params = {**PLAIN, **_start(X, "full")}
    kept = BigLearnGaussianMixture(**params).fit(X[w > 0])
    weighted = BigLearnGaussianMixture(**params).fit(X, sample_weight=w)
    np.testing.assert_allclose(weighted.means_, kept.means_, atol=1e-8)
    np.testing.assert_allclose(weighted.covariances_, kept.covariances_, atol=1e-8)
    assert weighted.labels_.shape == (len(X),)  # every row gets its component


def test_weights_of_one_are_the_unweighted_fit_bit_for_bit():
    X, _ = _data(seed=3)
    kw = {"n_components": 3, "random_state": 0}
    a = BigLearnGaussianMixture(**kw).fit(X)
    b = BigLearnGaussianMixture(**kw).fit(X, sample_weight=np.ones(len(X)))
    c = BigLearnGaussianMixture(**kw).fit(X, sample_weight=1.0)
    for other in (b, c):
        np.testing.assert_array_equal(a.means_, other.means_)
        np.testing.assert_array_equal(a.covariances_, other.covariances_)


def test_fractional_weights_scale_freely():
    """Weights are relative frequencies: multiplying all of them by c changes
    nothing but rounding."""
    X, w = _data(seed=4)
    params = {**PLAIN, **_start(X, "diag")}
    a = BigLearnGaussianMixture(**params).fit(X, sample_weight=w)
    b = BigLearnGaussianMixture(**params).fit(X, sample_weight=w * 0.37)
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-9)


def test_score_bic_and_aic_count_the_weights():
    X, w = _data(seed=5)
    R = np.repeat(X, w, axis=0)
    model = BigLearnGaussianMixture(3, random_state=0).fit(X)
    assert model.score(X, sample_weight=w) == pytest.approx(model.score(R), abs=1e-12)
    assert model.bic(X, sample_weight=w) == pytest.approx(model.bic(R), rel=1e-12)
    assert model.aic(X, sample_weight=w) == pytest.approx(model.aic(R), rel=1e-12)
    da = pytest.importorskip("dask.array", reason='pip install "dask[array]" distributed')
    lazy = da.from_array(X, chunks=(50, 3))
    for weights in (w, da.from_array(w, chunks=(50,))):
        assert model.score(lazy, sample_weight=weights) == pytest.approx(model.score(R),
                                                                        abs=1e-12)


def test_select_model_takes_weights():
    X, w = _data(seed=6)
    R = np.repeat(X, w, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = select_model(X, [2, 3, 4], random_state=0, sample_weight=w, **PLAIN)
        repeated = select_model(R, [2, 3, 4], random_state=0, **PLAIN)
    assert weighted.best_n_components == repeated.best_n_components == 3
    bic_w = [c.bic for c in weighted.candidates]
    assert all(np.isfinite(bic_w))
    assert weighted.best_estimator_.bic(X, sample_weight=w) == pytest.approx(bic_w[1])


@pytest.mark.parametrize("weights, error, match", [
    (np.array([1.0, -1.0] * 90), ValueError, "'sample_weight' must be >= 0"),
    (np.array([1.0, np.nan] * 90), ValueError, "'sample_weight' must be finite"),
    (np.array([1.0, np.inf] * 90), ValueError, "'sample_weight' must be finite"),
    (np.ones(179), ValueError, r"array of shape \(180,\); got shape \(179,\)"),
    (np.ones((180, 1)), ValueError, r"got shape \(180, 1\)"),
    (np.array(["a"] * 180), TypeError, "'sample_weight' must be None, a number or an array"),
    (np.zeros(180), ValueError, "'sample_weight' is zero for every row"),
    (np.eye(1, 180)[0], ValueError, "gives only 1 rows a weight > 0; n_components = 3"),
])
def test_bad_weights_get_one_line_errors(weights, error, match):
    X, _ = _data()
    with pytest.raises(error, match=match) as info:
        BigLearnGaussianMixture(3).fit(X, sample_weight=weights)
    assert "\n" not in str(info.value)


def test_the_weights_are_never_changed_and_enter_the_checkpoint_key(tmp_path):
    X, w = _data(seed=7)
    w = w.astype(float)
    before = w.copy()
    BigLearnGaussianMixture(3, random_state=0, max_iter=5).fit(X, sample_weight=w)
    np.testing.assert_array_equal(w, before)
    assert fingerprint(X, {}) != fingerprint(X, {}, w) != fingerprint(X, {}, w + 1)
    assert fingerprint(X, {}, w) == fingerprint(X, {}, w.copy())


def test_the_search_subsample_keeps_its_rows_weights():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(3000, 2))
    w = rng.integers(1, 5, len(X)).astype(float)
    fit = Fit.prepare(BigLearnGaussianMixture(3, search_rows=500), X, w)
    seed = fit.search_seed()
    search = fit.search(seed).data
    index = np.sort(np.random.default_rng(seed).choice(len(X), 500, replace=False))
    np.testing.assert_array_equal(search.host_weights(), w[index])


def test_splits_and_k_means_count_weighted_rows_as_copies():
    """The moves' cuts and the k-means start on weighted rows are those of the
    repeated rows (in the repeated order)."""
    X, w = _data(seed=9)
    R = np.repeat(X, w, axis=0)
    weighted = Data.from_array(X, 50, weights=w.astype(float))
    repeated = Data.from_array(R, 50)
    owners = np.repeat(np.arange(3), 60)
    cut_w = moves.splits(lambda: weighted.chunks(), owners, 3, 1e-6,
                         weights=weighted.host_weights())
    cut_r = moves.splits(lambda: repeated.chunks(), np.repeat(owners, w), 3, 1e-6)
    assert [c.k for c in cut_w] == [c.k for c in cut_r]
    for a, b in zip(cut_w, cut_r):
        assert a.gain == pytest.approx(b.gain, rel=1e-9)
        np.testing.assert_allclose(a.means, b.means, atol=1e-9)
    rs = np.random.RandomState(0)
    centres_w = kmeans_.plusplus(weighted, 3, np.random.RandomState(0))
    centres_r = kmeans_.plusplus(repeated, 3, rs)
    np.testing.assert_allclose(centres_w, centres_r, atol=1e-12)


def test_the_fit_and_select_commands_read_a_weight_column(tmp_path, capsys):
    from biglearn_em import load
    from biglearn_em.cli import main

    X, w = _data(seed=10, D=2)
    path = tmp_path / "data.csv"
    rows = "\n".join(f"{a},{b},{c}" for (a, b), c in zip(X, w))
    path.write_text("x,y,w\n" + rows + "\n")
    model_file = tmp_path / "m.npz"
    assert main(["fit", str(path), "-k", "3", "--weight-column", "w", "--random-state", "0",
                 "-q", "--out", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert "column 'w': weights" in out
    fitted = load(model_file)
    api = BigLearnGaussianMixture(3, random_state=0).fit(X, sample_weight=w)
    np.testing.assert_allclose(fitted.means_, api.means_, atol=1e-10)
    assert list(fitted.feature_names_in_) == ["x", "y"]
    bic = float(out.split("BIC: ")[1].split()[0])
    assert bic == pytest.approx(api.bic(X, sample_weight=w), rel=1e-5)

    assert main(["select", str(path), "-k", "2:4", "--weight-column", "w", "--seed", "0",
                 "-q"]) == 0
    table = capsys.readouterr().out
    chosen = select_model(X, [2, 3, 4], random_state=0, sample_weight=w)
    assert f"{chosen.candidates[1].bic:.6g}"[:6] in table  # K = 3's weighted BIC
    assert main(["fit", str(path), "-k", "3", "--weight-column", "x", "--label-column", "y"]) != 0
    assert "--weight-column with --label-column needs --columns" in capsys.readouterr().err


def test_samples_of_the_rows_draw_only_rows_that_count():
    """Weights as a mask: few rows of weight > 0 among many. The search
    subsample and the start draw among them (drawing uniformly would find
    none, and k-means++ would divide 0 by 0)."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(30_000, 2))
    X[:40] += 6.0
    w = np.zeros(len(X))
    w[:80] = 1.0
    model = BigLearnGaussianMixture(2, search_rows=1000, random_state=0).fit(X, sample_weight=w)
    alone = BigLearnGaussianMixture(2, random_state=0).fit(X[:80])
    assert model.score(X[:80]) == pytest.approx(alone.score(X[:80]), abs=1e-6)
    fit = Fit.prepare(BigLearnGaussianMixture(2, search_rows=50), X, w)
    assert set(np.flatnonzero(fit.search(fit.search_seed()).data.host_weights() > 0)) \
        == set(range(50))  # 50 rows, each of weight > 0
    da = pytest.importorskip("dask.array", reason='pip install "dask[array]" distributed')
    lazy = BigLearnGaussianMixture(2, random_state=0, init_params="random_from_data").fit(
        da.from_array(X, chunks=(5000, 2)), sample_weight=w)
    assert lazy.score(X[:80]) == pytest.approx(alone.score(X[:80]), abs=0.05)


def test_rows_of_weight_zero_set_nothing():
    """A row of weight 0 far away: it does not set the scale, cannot become a
    k-means cluster, and adds nothing to a score, even where its density is 0."""
    X, w = _data(seed=12)
    far = np.vstack([X, np.full((3, X.shape[1]), 1e200)])
    w_far = np.concatenate([w, np.zeros(3)])
    params = {**PLAIN, **_start(X, "full")}
    a = BigLearnGaussianMixture(**params).fit(far, sample_weight=w_far)
    b = BigLearnGaussianMixture(**params).fit(X, sample_weight=w)
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-8)
    assert np.isfinite(a.score(far, sample_weight=w_far))
    assert a.score(far, sample_weight=w_far) == pytest.approx(b.score(X, sample_weight=w))
    # k-means starts: the outliers would be the farthest rows, the ones an empty cluster takes
    c = BigLearnGaussianMixture(3, random_state=0, init_params="kmeans", max_iter=1,
                                restarts=0, moves=0).fit(far, sample_weight=w_far)
    assert np.all(np.abs(c.means_) < 100)


def test_the_moves_run_whatever_the_scale_of_the_weights():
    """Frequencies on any scale: the rows a split needs are counted in rows,
    so weights that sum to 1 still allow the moves."""
    rng = np.random.default_rng(13)
    centres = np.array([(i, j) for i in range(4) for j in range(4)], dtype=float) * 4
    X = np.vstack([rng.normal(c, 0.5, (60, 2)) for c in centres])
    w = rng.uniform(0.5, 1.5, len(X))
    counts = []
    for scale in (1.0, 1.0 / w.sum()):
        model = BigLearnGaussianMixture(16, random_state=0, max_iter=20).fit(
            X, sample_weight=w * scale)
        counts.append(sum(r["kind"] == "move" for r in model.history_))
    assert counts[0] > 0 and counts[0] == counts[1]


@pytest.mark.parametrize("kind", ["torch", "dask"])
@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_zero_weights_leave_rows_out_on_every_backend(kind, covariance_type):
    X, _ = _data(seed=14, D=50)
    w = (np.arange(len(X)) % 4 != 0).astype(float)
    params = {**PLAIN, **_start(X, covariance_type)}
    kept = BigLearnGaussianMixture(**params).fit(X[w > 0])
    Xk, wk = _as(kind, X, w)
    weighted = BigLearnGaussianMixture(**params).fit(Xk, sample_weight=wk)
    np.testing.assert_allclose(_host(weighted.means_), kept.means_, atol=1e-8)
