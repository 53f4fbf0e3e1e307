"""Errors for invalid parameters and inputs, and the dtypes the estimator keeps."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from biglearn_em import BigLearnGaussianMixture

# short fits: convergence is not what these tests are about
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N, D, K = 40, 3, 2


@pytest.fixture
def X() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(N, D))


def _model(**params) -> BigLearnGaussianMixture:
    params.setdefault("n_components", K)
    params.setdefault("max_iter", 5)
    params.setdefault("random_state", 0)
    return BigLearnGaussianMixture(**params)


# ------------------------------------------------------------ constructor parameters
PD = np.stack([np.eye(D), 2.0 * np.eye(D)])

BAD_PARAMS = [
    # (parameter, value, error)
    ("restarts", -1, ValueError),
    ("restarts", 2.5, TypeError),
    ("restart_iter", 0, ValueError),
    ("smoothing_fade", 0, ValueError),
    ("smoothing_fade", "linear", TypeError),
    ("moves", -2, ValueError),
    ("search_rows", 0, ValueError),
    ("search_rows", "all", ValueError),
    ("max_time", 0.0, ValueError),
    ("max_time", -5, ValueError),
    ("max_time", "1 minute", TypeError),
    ("device", "tpu", ValueError),
    ("device", 0, TypeError),
    ("dtype", "float16", ValueError),
    ("device_budget", 0, ValueError),
    ("n_components", 0, ValueError),
    ("n_components", -1, ValueError),
    ("n_components", 2.0, TypeError),
    ("n_components", "2", TypeError),
    ("max_iter", -1, ValueError),
    ("n_inner", 0, ValueError),
    ("n_inner", 1.5, TypeError),
    ("view_probs", (-0.1, 0.6, 0.5), ValueError),
    ("view_probs", (0.5, 0.6, 0.5), ValueError),
    ("view_probs", (0.2, 0.2, 0.2), ValueError),
    ("view_probs", (0.5, 0.5), ValueError),
    ("view_probs", (0.4, 0.1, 0.4, 0.1), ValueError),
    ("view_probs", (np.nan, 0.5, 0.5), ValueError),
    ("view_probs", "joint", TypeError),
    ("view_probs", 1.0, TypeError),
    ("subset_beta", (0.0, 1.0), ValueError),
    ("subset_beta", (5.0, -1.0), ValueError),
    ("subset_beta", (5.0, np.inf), ValueError),
    ("subset_beta", (5.0,), ValueError),
    ("subset_beta", (5.0, 1.0, 1.0), ValueError),
    ("subset_beta", None, TypeError),
    ("weight_smoothing", -0.1, ValueError),
    ("weight_smoothing", "uniform", ValueError),
    ("weight_smoothing", None, TypeError),
    ("eig_floor", -1e-3, ValueError),
    ("eig_floor", np.inf, ValueError),
    ("eig_floor", "relative", ValueError),
    ("reg_covar", -1e-6, ValueError),
    ("reg_covar", np.nan, ValueError),
    ("reg_covar", np.inf, ValueError),
    ("reg_covar", "auto", TypeError),
    ("update", "joint", ValueError),
    ("update", 1, TypeError),
    ("init_params", "kmeans+++", ValueError),
    ("init_params", None, TypeError),
    ("tol", -1e-3, ValueError),
    ("tol", np.nan, ValueError),
    ("tol", -np.inf, ValueError),
    ("patience", 0, ValueError),
    ("patience", -5, ValueError),
    ("patience", 2.5, TypeError),
    ("n_init", 0, ValueError),
    ("random_state", -1, ValueError),
    ("random_state", 2**32, ValueError),
    ("random_state", "seed", TypeError),
    ("warm_start", "yes", TypeError),
    ("warm_start", 1, TypeError),
    ("verbose", -1, ValueError),
    ("chunk_size", 0, ValueError),
    ("chunk_size", 10.0, TypeError),
    ("weights_init", "uniform", TypeError),
    ("means_init", 0.0, TypeError),
]


@pytest.mark.parametrize(
    ("name", "value", "error"), BAD_PARAMS, ids=[f"{n}={v!r}" for n, v, _ in BAD_PARAMS]
)
def test_bad_parameter(X, name, value, error):
    model = _model(**{name: value})
    with pytest.raises(error, match=f"'{name}'"):
        model.fit(X)


@pytest.mark.parametrize("covariance_type", ["FULL", "diagonal", ""])
def test_covariance_type_names_the_choices(X, covariance_type):
    with pytest.raises(ValueError, match="'covariance_type'.*'full'.*'tied'.*'diag'.*'spherical'"):
        _model(covariance_type=covariance_type).fit(X)


def test_parameters_checked_at_fit_not_init(X):
    """scikit-learn's convention: __init__ stores, fit (and set_params + fit) validates."""
    model = _model(n_components=0)
    model.set_params(n_components=K)
    model.fit(X)
    with pytest.raises(ValueError, match="'n_inner'"):
        model.set_params(n_inner=0).fit(X)


@pytest.mark.parametrize(
    "params",
    [
        {"view_probs": (1, 0, 0), "weight_smoothing": 0, "n_inner": 1},
        {"view_probs": np.array([0.0, 0.0, 1.0]), "update": "conditional"},
        {"subset_beta": [1, 1], "eig_floor": 0, "reg_covar": 1e-6, "tol": 0},
        {"patience": None, "max_iter": 0},
        {"tol": np.inf},
        {"verbose": False, "warm_start": np.bool_(True), "chunk_size": 7},
        {"random_state": np.random.RandomState(0)},
        {"random_state": np.random.default_rng(0), "n_init": 2, "init_params": "random"},
        {"random_state": np.int64(2**32 - 1), "init_params": "random_from_data"},
    ],
)
def test_valid_parameters_accepted(X, params):
    model = _model(**params).fit(X)
    assert model.means_.shape == (K, D)


# ---------------------------------------------------- user-provided initial parameters
BAD_INIT = [
    # (parameter, value, error, message)
    ("weights_init", [1.0], ValueError, "shape"),
    ("weights_init", [0.2, 0.3, 0.5], ValueError, "shape"),
    ("weights_init", [[0.5, 0.5]], ValueError, "shape"),
    ("weights_init", [0.3, 0.3], ValueError, "should be normalized"),
    ("weights_init", [1.5, -0.5], ValueError, r"range \[0, 1\]"),
    ("weights_init", [np.nan, 0.5], ValueError, "finite"),
    ("weights_init", np.array([0.5 + 1j, 0.5]), TypeError, "real"),
    ("weights_init", ["a", "b"], TypeError, "real"),
    ("means_init", np.zeros((K, D - 1)), ValueError, "shape"),
    ("means_init", np.zeros((K + 1, D)), ValueError, "shape"),
    ("means_init", np.zeros(K * D), ValueError, "shape"),
    ("means_init", np.full((K, D), np.inf), ValueError, "finite"),
    ("precisions_init", np.stack([np.eye(D)] * (K + 1)), ValueError, "shape"),
    ("precisions_init", np.eye(D), ValueError, "shape"),
    ("precisions_init", np.zeros((K, D, D - 1)), ValueError, "shape"),
    ("precisions_init", np.stack([np.eye(D), -np.eye(D)]), ValueError, "positive-definite"),
    ("precisions_init", np.stack([np.eye(D), np.zeros((D, D))]), ValueError, "positive-definite"),
    ("precisions_init", PD + np.triu(np.ones((D, D)), 1), ValueError, "symmetric"),
]


@pytest.mark.parametrize(
    ("name", "value", "error", "message"),
    BAD_INIT,
    ids=[f"{n}-{i}" for i, (n, *_) in enumerate(BAD_INIT)],
)
def test_bad_initial_parameters(X, name, value, error, message):
    with pytest.raises(error, match=f"'{name}'.*{message}"):
        _model(**{name: value}).fit(X)


def test_initial_parameters_accepted(X):
    means = np.array([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    model = _model(weights_init=[0.25, 0.75], means_init=means, precisions_init=PD, max_iter=0)
    model.fit(X)
    np.testing.assert_allclose(model.weights_, [0.25, 0.75])
    np.testing.assert_allclose(model.means_, means)
    np.testing.assert_allclose(model.precisions_, PD)


# ------------------------------------------------------------------------ training data
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((1, D)), "1 sample"),
        (np.zeros((0, D)), "0 sample"),
        (np.zeros((N, 0)), "0 feature"),
        (np.arange(float(N)), "Expected 2D array"),
        (np.zeros((N, D, 2)), "dim 3"),
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), "strings"),
        # numbers written as strings are refused too, not parsed
        (np.array([["1", "2"], ["3", "4"], ["5", "7"]]), "strings"),
    ],
    ids=["one-sample", "no-sample", "no-feature", "1d", "3d", "strings", "numeric-strings"],
)
def test_bad_shape_or_type(data, message):
    with pytest.raises(ValueError, match=message):
        _model(n_components=1).fit(data)


def test_fewer_samples_than_components(X):
    with pytest.raises(ValueError, match="n_components"):
        _model(n_components=5).fit(X[:4])


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite(X, value):
    X = X.copy()
    X[3, 1] = value
    with pytest.raises(ValueError, match="infinity"):
        _model().fit(X)


def test_nan_is_missing_but_not_a_whole_row_or_column(X):
    """NaN marks a missing value (tests/test_missing.py); a row without any
    observed value, or a column never observed, is an error naming it."""
    X = X.copy()
    X[3, 1] = np.nan
    assert np.isfinite(_model().fit(X).means_).all()
    X[5, :] = np.nan
    with pytest.raises(ValueError, match="1 row with no observed value"):
        _model().fit(X)
    X = np.array(X[:, :2])
    X[5, :] = 1.0
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] are never observed"):
        _model().fit(X)


def test_complex(X):
    with pytest.raises(ValueError, match="Complex data not supported"):
        _model().fit(X + 1j * X)


def test_sparse(X):
    with pytest.raises(TypeError, match="[Ss]parse"):
        _model().fit(sp.csr_matrix(X))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, bool])
def test_int_and_bool_accepted(X, dtype):
    Xi = (X > 0) if dtype is bool else np.round(4 * X + 10).astype(dtype)
    model = _model().fit(Xi)
    assert model.means_.dtype == np.float64
    assert model.n_features_in_ == D
    reference = _model().fit(Xi.astype(np.float64))
    np.testing.assert_allclose(model.means_, reference.means_)
    np.testing.assert_array_equal(model.predict(Xi), reference.predict(Xi))


def test_list_input(X):
    model = _model().fit(X.tolist())
    np.testing.assert_allclose(model.means_, _model().fit(X).means_)
    assert not hasattr(model, "feature_names_in_")


# ---------------------------------------------------------------------------- dtypes
def test_float32_kept(X):
    X32 = X.astype(np.float32)
    model = _model().fit(X32)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(model, name).dtype == np.float32, name
    assert model.score_samples(X32).dtype == np.float32
    assert model.predict_proba(X32).dtype == np.float32
    assert model.sample(5)[0].dtype == np.float32
    np.testing.assert_allclose(model.means_, _model().fit(X32.astype(np.float64)).means_,
                               rtol=1e-4, atol=1e-5)


def test_float64_kept(X):
    model = _model().fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(model, name).dtype == np.float64, name
    assert model.score_samples(X).dtype == np.float64


# ----------------------------------------------------------------- after fit / before fit
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic", "aic"])
def test_n_features_mismatch(X, method):
    model = _model().fit(X)
    with pytest.raises(ValueError, match=f"X has {D - 1} features.*expecting {D} features"):
        getattr(model, method)(X[:, :-1])


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic", "aic", "sample"])
def test_not_fitted(X, method):
    model = _model()
    args = () if method == "sample" else (X,)
    with pytest.raises(NotFittedError):
        getattr(model, method)(*args)


def test_predict_bad_input(X):
    model = _model().fit(X)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((2, D), np.nan))
    with pytest.raises(ValueError, match="Expected 2D array"):
        model.predict(X[0])
    # a single sample is fine at predict time
    assert model.predict(X[:1]).shape == (1,)


@pytest.mark.parametrize(("n_samples", "error"), [(0, ValueError), (-3, ValueError),
                                                  (2.0, TypeError), (True, TypeError)])
def test_sample_bad_n_samples(X, n_samples, error):
    model = _model().fit(X)
    with pytest.raises(error, match="'n_samples'"):
        model.sample(n_samples)


@pytest.mark.parametrize("random_state", [0, np.random.RandomState(0), np.random.default_rng(0)])
def test_sample_any_random_state(X, random_state):
    samples, labels = _model(random_state=random_state).fit(X).sample(7)
    assert samples.shape == (7, D)
    assert labels.shape == (7,)


@pytest.mark.parametrize("change", [{"n_components": K + 1}, {"features": D - 1}])
def test_warm_start_shape_change(X, change):
    model = _model(warm_start=True).fit(X)
    if "n_components" in change:
        model.set_params(n_components=change["n_components"])
    else:
        X = X[:, : change["features"]]
    with pytest.raises(ValueError, match="warm_start"):
        model.fit(X)


def test_convergence_warning_names_max_iter(X):
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        _model(max_iter=1, patience=None, tol=0.0, n_components=3).fit(X)
