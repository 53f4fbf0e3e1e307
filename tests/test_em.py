"""The EM template: plain EM equals scikit-learn's, BigLearn-EM is reproducible
and scale-free, and the data passes stay chunked."""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from biglearn_em import BigLearnGaussianMixture
from conftest import blobs

PLAIN = {"view_probs": (1, 0, 0), "weight_smoothing": 0, "n_inner": 1, "eig_floor": 0}


def _init(rng, X, K):
    D = X.shape[1]
    return {
        "weights_init": np.full(K, 1 / K),
        "means_init": X[rng.choice(len(X), K, replace=False)],
        "precisions_init": np.broadcast_to(np.eye(D) / X.var(0).mean(), (K, D, D)).copy(),
    }


@pytest.mark.parametrize("K,D", [(3, 1), (4, 2), (5, 6), (3, 12)])
def test_plain_em_follows_scikit_learn(rng, K, D):
    X, _ = blobs(rng, K, D, 150, spread=2.0)  # overlapping: EM moves for many iterations
    init = _init(rng, X, K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(K, max_iter=50, tol=0, reg_covar=1e-6, **init).fit(X)
        ours = BigLearnGaussianMixture(K, max_iter=50, tol=0, reg_covar=1e-6, **PLAIN,
                                       **init).fit(X)
    assert ours.n_iter_ == ref.n_iter_ == 50
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-8)
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-8)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        got, want = getattr(ours, name), getattr(ref, name)
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * np.abs(want).max())
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def test_plain_em_stops_on_tol_like_scikit_learn(rng):
    X, _ = blobs(rng, 3, 4, 100, spread=2.0)
    init = _init(rng, X, 3)
    ref = GaussianMixture(3, tol=1e-4, reg_covar=1e-6, **init).fit(X)
    ours = BigLearnGaussianMixture(3, tol=1e-4, reg_covar=1e-6, **PLAIN, **init).fit(X)
    assert ours.converged_ and ref.converged_
    assert ours.n_iter_ == ref.n_iter_


def test_plain_em_never_decreases_the_likelihood(rng):
    X, _ = blobs(rng, 6, 3, 80, spread=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BigLearnGaussianMixture(6, max_iter=200, tol=0, reg_covar=1e-6, **PLAIN,
                                        init_params="random", random_state=0).fit(X)
    trace = np.array(model.lower_bounds_)
    assert len(trace) == 200
    assert np.all(np.diff(trace) >= -1e-12 * np.abs(trace[1:]))


def test_same_seed_same_result(rng):
    X, _ = blobs(rng, 4, 5, 60)
    a = BigLearnGaussianMixture(4, max_iter=60, random_state=7).fit(X)
    b = BigLearnGaussianMixture(4, max_iter=60, random_state=7).fit(X)
    c = BigLearnGaussianMixture(4, max_iter=60, random_state=8).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.history_ == b.history_
    assert a.history_ != c.history_


@pytest.mark.parametrize("c", [1e-3, 1e3])
@pytest.mark.parametrize("update", ["block", "conditional"])
def test_scaling_the_data_keeps_the_labels(rng, c, update):
    X, _ = blobs(rng, 5, 4, 80, spread=3.0)
    base = BigLearnGaussianMixture(5, max_iter=80, update=update, random_state=3)
    labels = base.fit_predict(X)
    scaled = BigLearnGaussianMixture(5, max_iter=80, update=update, random_state=3)
    np.testing.assert_array_equal(scaled.fit_predict(c * X), labels)
    np.testing.assert_allclose(scaled.means_, c * base.means_, rtol=1e-6, atol=1e-9 * c)


def test_chunk_size_does_not_change_the_fit(rng):
    X, _ = blobs(rng, 3, 5, 100)
    a = BigLearnGaussianMixture(3, max_iter=30, random_state=1).fit(X)
    b = BigLearnGaussianMixture(3, max_iter=30, random_state=1, chunk_size=17).fit(X)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-8, atol=1e-10)


def test_history_records_views_and_polish(rng):
    X, _ = blobs(rng, 3, 6, 50)
    # restarts=0: the views start from the fit's start, as in the paper
    model = BigLearnGaussianMixture(3, max_iter=40, patience=None, random_state=0,
                                    restarts=0).fit(X)
    outer = [r for r in model.history_ if r["kind"] != "polish"]
    assert [r["iteration"] for r in outer] == list(range(1, 41))
    assert {r["kind"] for r in outer} == {"joint", "marginal", "rotated"}
    for r in outer:
        assert (r["log_likelihood"] is None) == (r["kind"] != "joint" or r["m"] == 0)
        assert r["m"] == 6 if r["kind"] == "joint" else 0 <= r["m"] <= 6
    polish = [r for r in model.history_ if r["kind"] == "polish"]
    assert polish and model.converged_
    # n_iter_ counts what max_iter bounds (the views); n_em_steps_ every step
    assert model.n_iter_ == 40
    assert model.n_em_steps_ == sum(5 for r in outer if r["m"] > 0) + len(polish)
    # polish is plain EM from the best snapshot: it only climbs, and ends above every joint view
    polish_ll = [r["log_likelihood"] for r in polish]
    assert np.all(np.diff(polish_ll) >= -1e-10)
    assert polish_ll[0] >= max(r["log_likelihood"] or -np.inf for r in outer) - 1e-12
    # the polish's last M-step is scored: lower_bound_ is the returned model's likelihood
    assert model.lower_bound_ == pytest.approx(model.score(X), abs=1e-10)


def test_patience_stops_early(rng):
    X, _ = blobs(rng, 2, 2, 100, spread=10)
    model = BigLearnGaussianMixture(2, max_iter=1000, patience=10, random_state=0).fit(X)
    outer = [r for r in model.history_ if r["kind"] != "polish"]
    assert len(outer) < 100


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_n_init_keeps_the_best(rng, capsys):
    X, _ = blobs(rng, 6, 2, 40, spread=3)
    multi = BigLearnGaussianMixture(6, max_iter=20, init_params="random", n_init=4,
                                    random_state=0, verbose=1, **PLAIN).fit(X)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Initialization")]
    per_init = [float(ln.split("log-likelihood ")[1].split(",")[0]) for ln in lines]
    assert len(per_init) == 4 and len(set(per_init)) > 1
    assert multi.lower_bound_ == pytest.approx(max(per_init), rel=1e-5)
    assert multi.score(X) == pytest.approx(max(per_init), abs=0.05)


def test_warm_start_continues(rng):
    X, _ = blobs(rng, 3, 3, 80, spread=2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BigLearnGaussianMixture(3, max_iter=5, tol=0, warm_start=True, random_state=0,
                                        **PLAIN)
        model.fit(X)
        first = model.lower_bounds_[-1]
        model.fit(X)
        once = BigLearnGaussianMixture(3, max_iter=10, tol=0, random_state=0, **PLAIN).fit(X)
    assert model.lower_bounds_[0] >= first
    np.testing.assert_allclose(model.means_, once.means_, rtol=1e-8)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_init_method_fits(rng, init_params):
    X, y = blobs(rng, 3, 4, 100, spread=8)
    # "random" starts every component near the global mean: a saddle that the
    # random views leave slowly, so it gets a longer budget
    max_iter = 1000 if init_params == "random" else 50
    model = BigLearnGaussianMixture(3, max_iter=max_iter, patience=None,
                                    init_params=init_params, random_state=0)
    labels = model.fit_predict(X)
    assert adjusted_rand_score(y, labels) > 0.95
    assert np.all(np.isfinite(model.covariances_))


@pytest.mark.slow
def test_no_n_by_k_by_d_array(rng):
    # N x K x D float64 would be 48 MB; a chunked pass needs a small fraction of it
    N, D, K = 30000, 10, 20
    X = rng.normal(size=(N, D))
    model = BigLearnGaussianMixture(K, max_iter=3, patience=None, init_params="random",
                                    random_state=0, chunk_size=2000)
    # a first small fit imports what the fit uses (k-means++ for the restarts
    # imports much of scikit-learn), so that the trace counts arrays only
    clone(model).set_params(n_components=2).fit(X[:200])
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < N * K * D * 8 / 4
