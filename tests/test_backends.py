"""The core behaviour on every backend: each test takes the ``backend``
fixture of conftest.py and runs on NumPy, on torch's CPU device and on Dask's
threads, so that a new backend inherits the whole suite as one more fixture
parameter. Fits end at NumPy's model (to the backend's tolerance: the order of
its sums) for both update rules and both kernel sizes, for every strategy,
covariance type and default setting; predictions, samples and dtypes; every
init method and k-means; degenerate data; checkpoints and model files that
move between backends; the same errors for bad input. What only one backend
has (devices, streaming, lazy results, worker processes) is tested in
test_torch.py and test_dask.py."""

import functools
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from biglearn_em import BigLearnGaussianMixture, load
from biglearn_em.backends.select import select_backend
from biglearn_em.engine import kmeans as _kmeans
from biglearn_em.engine.data import Data
from biglearn_em.fitting import fingerprint
from conftest import blobs, fit_quietly, scaled_blobs
from test_covariance_types import _start
from test_reliability import DEGENERATE, assert_valid_model

PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")

#: The paper's algorithm (views from the start, on all rows), plain EM, the
#: default strategy (restarts, moves and views on the search rows, which a
#: dask array's fit gathers), and restarts and moves on all rows (their starts
#: from a gathered sample, the moves' cuts from blocks streamed to the client).
STRATEGIES = {
    "biglearn": {"restarts": 0, "moves": 0, "search_rows": None, "max_iter": 40},
    "plain": {"view_probs": (1.0, 0.0, 0.0), "max_iter": 100},
    "default": {},
    "all_rows": {"search_rows": None, "restarts": 2, "restart_iter": 10, "max_iter": 40},
}




def _mixture(N: int, D: int, seed: int) -> np.ndarray:
    """4 overlapping components of unequal spreads."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, (4, D))
    labels = rng.integers(0, 4, N)
    return centres[labels] + rng.normal(0.0, 1.0 + 0.3 * labels[:, None], (N, D))


def assert_same_model(ref, got, tol, params=PARAMS):
    """``got`` is NumPy's model ``ref``: its arrays (NumPy arrays) to ``tol``,
    its likelihoods, iterations and views (the same, in the same order)."""
    for name in params:
        assert isinstance(getattr(got, name), np.ndarray), name
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=0, atol=tol,
                                   err_msg=name)
    np.testing.assert_allclose(got.lower_bounds_, ref.lower_bounds_, rtol=0, atol=tol)
    assert abs(got.lower_bound_ - ref.lower_bound_) <= tol
    assert got.n_iter_ == ref.n_iter_ and got.n_em_steps_ == ref.n_em_steps_
    assert [(h["kind"], h["m"]) for h in got.history_] == \
        [(h["kind"], h["m"]) for h in ref.history_]


# ---------------------------------------------------------------- the fit
@functools.cache
def _numpy_fit(data: str, **kw) -> BigLearnGaussianMixture:
    """NumPy's model of the data named ``data`` (one fit per module, whatever
    the backends compared with it)."""
    return fit_quietly(DATA[data](), **kw)


def _rules_data(D):
    return scaled_blobs(np.random.default_rng(2), 4, D, 400)[0]


#: The data sets of the comparisons with NumPy, by name.
DATA = {
    "blobs-6": lambda: _rules_data(6),
    "blobs-50": lambda: _rules_data(50),
    "mixture": lambda: _mixture(9000, 4, 0),
    "mixture-float32": lambda: _mixture(3000, 4, 0).astype(np.float32),
}


@pytest.mark.parametrize("D", [6, 50])  # the batched and the per-component NumPy kernels
@pytest.mark.parametrize("rule", ["block", "conditional"])
def test_the_fit_is_numpys_for_both_rules_and_kernels(backend, rule, D):
    # the views are drawn from the same NumPy generator on every backend
    kw = dict(n_components=4, max_iter=20, patience=None, update=rule, random_state=2,
              init_params="random_from_data", restarts=0)
    ref = _numpy_fit(f"blobs-{D}", **kw)
    got = fit_quietly(backend.put(DATA[f"blobs-{D}"]()), **kw)
    assert sum(h["kind"] != "polish" for h in ref.history_) == 20
    assert_same_model(ref, got, backend.tol)


@pytest.mark.parametrize("kind", STRATEGIES)
def test_every_strategy_gives_numpys_model(backend, kind):
    X = DATA["mixture"]()
    ref = _numpy_fit("mixture", n_components=4, random_state=0, **STRATEGIES[kind])
    got = fit_quietly(backend.put(X), n_components=4, random_state=0, **STRATEGIES[kind])
    assert_same_model(ref, got, backend.tol)
    # float64 data, a float64 model
    for name in (*PARAMS, "precisions_"):
        assert getattr(got, name).dtype == np.float64, name
    # its training labels, in the input's kind
    assert isinstance(got.labels_, backend.result_type)
    np.testing.assert_array_equal(backend.get(got.labels_), ref.labels_)


@pytest.mark.parametrize("name", ["full", "tied", "diag", "spherical"])
def test_every_covariance_type_gives_numpys_model(backend, rng, name):
    K, D = 3, 4
    X, _ = blobs(rng, K, D, 150, spread=2.0)
    init = _start(rng, X, K, name)
    kw = dict(n_components=K, covariance_type=name, max_iter=15, restarts=0, moves=0,
              search_rows=None, random_state=3, view_probs=(0.3, 0.3, 0.4), **init)
    ref = fit_quietly(X, **kw)
    got = fit_quietly(backend.put(X), **kw)
    assert got.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-10)
    assert_same_model(ref, got, backend.tol, params=("weights_", "means_", "covariances_"))
    assert got.covariances_.shape == ref.covariances_.shape


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_one_seed_gives_one_model_with_the_default_settings(backend, covariance_type):
    """Restarts from k-means++, refinement, moves, views and polish: the model
    a seed gives does not depend on where the data live."""
    X, _ = blobs(np.random.default_rng(4), 4, 3, 80, spread=3.0)
    ref = BigLearnGaussianMixture(4, covariance_type=covariance_type, random_state=0)
    model = BigLearnGaussianMixture(4, covariance_type=covariance_type, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref_labels = ref.fit_predict(X)
        labels = backend.get(model.fit_predict(backend.put(X)))
    kinds = [h["kind"] for h in model.history_]
    # the same phases on every backend, with as many restarts (they end when
    # converged runs agree, a decision every backend must take alike)
    n_restarts = kinds.count("restart")
    assert n_restarts > 1 and kinds[:n_restarts] == ["restart"] * n_restarts
    assert "refine" in kinds and kinds[-1] == "polish"
    assert kinds == [h["kind"] for h in ref.history_]
    np.testing.assert_array_equal(labels, ref_labels)
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(model, attr), getattr(ref, attr), rtol=1e-8,
                                   atol=max(backend.tol, 1e-10), err_msg=attr)
    assert model.n_em_steps_ == ref.n_em_steps_
    assert model.score(X) == pytest.approx(ref.score(X), abs=1e-9)


# ------------------------------------------------- predictions, samples, dtypes
def test_predictions_of_backend_input_are_numpys(backend):
    X = DATA["mixture"]()
    Xb = backend.put(X)
    model = _numpy_fit("mixture", n_components=4, random_state=0)  # the default strategy
    labels, proba, density = model.predict(Xb), model.predict_proba(Xb), model.score_samples(Xb)
    for out in (labels, proba, density):
        assert isinstance(out, backend.result_type)
    assert backend.get(proba).dtype == backend.get(density).dtype == np.float64
    np.testing.assert_array_equal(backend.get(labels), model.predict(X))
    np.testing.assert_allclose(backend.get(proba), model.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(backend.get(density), model.score_samples(X), rtol=1e-13)
    assert isinstance(model.score(Xb), float)
    assert model.score(Xb) == pytest.approx(model.score(X), rel=1e-13)
    assert model.bic(Xb) == pytest.approx(model.bic(X), rel=1e-12)
    assert model.aic(Xb) == pytest.approx(model.aic(X), rel=1e-12)


def test_a_model_fitted_on_the_backend_samples_as_numpys(backend, rng):
    X, _ = blobs(rng, 3, 4, 50)
    ref = fit_quietly(X, n_components=3, max_iter=5, random_state=7)
    model = fit_quietly(backend.put(X), n_components=3, max_iter=5, random_state=7)
    X_ref, y_ref = ref.sample(500)
    X_got, y_got = model.sample(500)
    assert isinstance(X_got, np.ndarray) and X_got.shape == (500, 4)
    np.testing.assert_array_equal(y_got, y_ref)
    np.testing.assert_allclose(X_got, X_ref, rtol=1e-9, atol=1e-9)


def test_float32_data_give_a_float32_model(backend):
    # (float64: test_every_strategy_gives_numpys_model)
    X = DATA["mixture-float32"]()
    kw = dict(n_components=4, random_state=0, **STRATEGIES["biglearn"])
    ref = _numpy_fit("mixture-float32", **kw)
    model = fit_quietly(backend.put(X), **kw)
    for name in (*PARAMS, "precisions_"):
        assert isinstance(getattr(model, name), np.ndarray)
        assert getattr(model, name).dtype == np.float32, name
    assert_same_model(ref, model, max(backend.tol, 1e-5))
    Xb = backend.put(X[:300])
    labels = model.predict(Xb)
    assert isinstance(labels, backend.result_type) and backend.get(labels).shape == (300,)
    np.testing.assert_array_equal(backend.get(labels), backend.get(model.labels_)[:300])
    assert backend.get(model.predict_proba(Xb)).dtype == np.float32
    assert backend.get(model.score_samples(Xb)).dtype == np.float32


def test_integer_data_become_float64(backend, rng):
    X, _ = scaled_blobs(rng, 3, 4, 100)
    Xi = np.rint(X * 10).astype(np.int64)
    model = fit_quietly(backend.put(Xi), n_components=2, random_state=0, max_iter=10)
    assert model.means_.dtype == np.float64
    ref = fit_quietly(Xi.astype(np.float64), n_components=2, random_state=0, max_iter=10)
    np.testing.assert_allclose(model.means_, ref.means_, rtol=0, atol=backend.tol)


def test_float32_compute_stays_close_with_float64_statistics(backend, rng):
    X, _ = scaled_blobs(rng, 4, 6, 200)
    kw = dict(n_components=4, random_state=2, max_iter=30)
    full = fit_quietly(backend.put(X), **kw)
    single = fit_quietly(backend.put(X), dtype="float32", **kw)
    assert single.means_.dtype == np.float64  # the data's dtype, not the compute dtype
    assert abs(single.lower_bound_ - full.lower_bound_) < 1e-4
    assert adjusted_rand_score(backend.get(full.labels_), backend.get(single.labels_)) == 1.0


# ------------------------------------------------------- starts and k-means
@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_init_method_fits(backend, rng, init):
    X, y = blobs(rng, 3, 4, 80, spread=5.0)
    model = fit_quietly(backend.put(X), n_components=3, init_params=init, random_state=0,
                        max_iter=30)
    assert adjusted_rand_score(y, backend.get(model.labels_)) > 0.9
    ref = fit_quietly(X, n_components=3, init_params=init, random_state=0, max_iter=30)
    np.testing.assert_allclose(model.means_, ref.means_, rtol=0, atol=max(backend.tol, 1e-9))


def _on(backend, X, chunk_size, K, dtype="float64"):
    """X as the engine's data on the backend."""
    Xb = backend.put(X)
    return Data.from_array(Xb, chunk_size, select_backend(None, Xb, dtype), K)


def _mixed(rng, N, K, D):
    centres = rng.normal(0, 3, (K, D))
    return rng.normal(size=(N, D)) + centres[rng.integers(K, size=N)]


@pytest.mark.parametrize("case", range(12))
def test_kmeans_gives_scikit_learns_labels_and_seeds(backend, case):
    """k-means written once over the backend interface (engine/kmeans.py)."""
    rng = np.random.default_rng(case)
    K, D = int(rng.integers(2, 12)), int(rng.integers(1, 7))
    X = _mixed(rng, int(rng.integers(10 * K, 600)), K, D)
    data = _on(backend, X, 97, K)  # several chunks, a short last one
    ours = backend.get(_kmeans.labels(data, K, np.random.default_rng(case)))
    # the same seed through scikit-learn's KMeans (one draw from the fit's generator)
    Z = backend.get(data.standardized())
    seed = int(np.random.default_rng(case).integers(np.iinfo(np.int32).max))
    np.testing.assert_array_equal(ours, KMeans(K, n_init=1, random_state=seed).fit(Z).labels_)
    centres = _kmeans.plusplus(data, K, _kmeans.random_state(np.random.default_rng(case)))
    np.testing.assert_allclose(backend.get(centres),
                               kmeans_plusplus(Z, K, random_state=seed)[0], rtol=1e-12)


def test_kmeans_finds_separated_clusters(backend, rng):
    X, y = blobs(rng, 6, 5, 120, spread=6.0)
    data = _on(backend, X, None, 6)
    labels = backend.get(_kmeans.labels(data, 6, np.random.default_rng(0)))
    assert adjusted_rand_score(y, labels) == 1.0
    centres = backend.get(_kmeans.plusplus(data, 6,
                                           _kmeans.random_state(np.random.default_rng(0))))
    Z = backend.get(data.standardized())
    truth = np.stack([Z[y == k].mean(0) for k in range(6)])
    nearest = np.argmin(((centres[:, None] - truth[None]) ** 2).sum(-1), axis=0)
    assert len(set(nearest)) == 6  # one seed in every cluster
    # the inertia of our k-means is that of scikit-learn's on this easy problem
    ours = sum(((Z[labels == k] - Z[labels == k].mean(0)) ** 2).sum() for k in range(6))
    assert ours <= 1.001 * KMeans(6, n_init=10, random_state=0).fit(Z).inertia_


def test_kmeans_draws_use_float64_distances_whatever_the_compute_dtype(backend):
    X = _mixed(np.random.default_rng(0), 300, 3, 2)
    data = _on(backend, X, None, 3, dtype="float32")
    distances = _kmeans._distances(data, data.rows(np.array([0])))
    assert str(backend.get(distances).dtype) == "float64"


# ---------------------------------------------------------- degenerate data
@pytest.mark.parametrize("case", ["duplicated rows", "constant column", "D > N"])
def test_degenerate_data_fit_finite(backend, case):
    # duplicated rows in Dask's 3 blocks once ended on a kept move's singular
    # half (eigenvalues 0 and -2e-17): every start of a proposal is repaired now
    X = DEGENERATE[case]()
    model = fit_quietly(backend.put(X), n_components=4, max_iter=30, random_state=0, eig_floor=0.0)
    assert_valid_model(model, X)


# -------------------------------------------- checkpoints and model files
class Stop(Exception):
    pass


def test_checkpoints_and_model_files_move_between_backends(backend, rng, tmp_path):
    X, _ = scaled_blobs(rng, 3, 4, 150)
    Xb = backend.put(X)
    assert (fingerprint(Xb, {}) == fingerprint(X, {})) == backend.portable_checkpoints
    kw = dict(n_components=4, max_iter=40, patience=None, random_state=4,
              init_params="random_from_data", restarts=0)
    path = tmp_path / "fit.ckpt"

    def stop(record):
        if record["iteration"] == 15:
            raise Stop

    with pytest.raises(Stop):
        fit_quietly(Xb, checkpoint=path, checkpoint_interval=0, callback=stop, **kw)
    assert path.exists()
    saved = path.read_bytes()
    ref = fit_quietly(X, **kw)
    # resumed where it was written
    assert_same_model(ref, fit_quietly(Xb, checkpoint=path, **kw), backend.tol)
    # resumed on NumPy (on data of the same fingerprint only)
    path.write_bytes(saved)
    if backend.portable_checkpoints:
        assert_same_model(ref, fit_quietly(X, checkpoint=path, **kw), backend.tol)
    else:
        with pytest.raises(ValueError, match="checkpoint"):
            fit_quietly(X, checkpoint=path, **kw)
    # other data (one value changed) do not resume from it
    path.write_bytes(saved)
    changed = X.copy()
    changed[0, 0] = 99.0
    with pytest.raises(ValueError, match="checkpoint"):
        fit_quietly(backend.put(changed), checkpoint=path, **kw)
    # a model fitted here is a NumPy model in its file
    fitted = fit_quietly(Xb, **kw)
    fitted.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(X), backend.get(fitted.predict(Xb)))
    np.testing.assert_allclose(loaded.score_samples(X), ref.score_samples(X), atol=1e-9)
    np.testing.assert_allclose(backend.get(loaded.predict_proba(Xb)), ref.predict_proba(X),
                               atol=1e-9)


# -------------------------------------------------------------- bad input
def test_bad_input_gets_the_same_clear_errors(backend):
    good = np.random.default_rng(0).normal(size=(20, 3))
    bad = good.copy()
    bad[3, :] = np.nan
    model = BigLearnGaussianMixture(2, random_state=0, max_iter=5)
    with pytest.raises(ValueError, match="1 row with no observed value"):
        model.fit(backend.put(bad))
    inf = good.copy()
    inf[5, 0] = -np.inf
    with pytest.raises(ValueError, match="Input X contains (NaN or )?infinity"):
        model.fit(backend.put(inf))
    with pytest.raises(ValueError, match="2D|2-dimensional"):
        model.fit(backend.put(good[:, 0]))
    with pytest.raises(ValueError, match="Complex"):
        model.fit(backend.put(good + 1j))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(backend.put(good))
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match="X has 2 features, but BigLearnGaussianMixture "
                                             "is expecting 3 features"):
            backend.get(getattr(model, method)(backend.put(good[:, :2])))
    # in predictions too (on a dask array, when the block holding the row is computed)
    with pytest.raises(ValueError, match="1 row with no observed value"):
        backend.get(model.predict(backend.put(bad)))
    with pytest.raises(ValueError, match="infinity"):
        backend.get(model.predict(backend.put(inf)))


def test_remembered_factors_are_those_of_the_covariances_as_they_are_now():
    from biglearn_em.backends import NumpyBackend, kernels

    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 4, 4))
    covs = A @ np.swapaxes(A, 1, 2) + np.eye(4)
    be = NumpyBackend()
    assert be.positive_definite(covs, 1e-10).all()  # as a step tests its M-step: remembered
    factors, ok = be.precision_cholesky(covs)
    assert ok.all() and not factors.flags.writeable  # shared: nobody may write to them
    np.testing.assert_array_equal(factors, kernels.precision_cholesky(covs))
    covs[1] *= 4.0  # the same array, other contents: factorised again
    factors, ok = be.precision_cholesky(covs)
    np.testing.assert_array_equal(factors, kernels.precision_cholesky(covs))
    other = covs.copy()  # equal contents, another array: not taken from the memo
    assert be.precision_cholesky(other)[0] is not factors
