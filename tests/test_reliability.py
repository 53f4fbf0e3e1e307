"""Degenerate data never yields NaN or a linear-algebra error; interrupts stop
cleanly; pandas input keeps its column names; property tests over shapes,
scales and seeds."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from biglearn_em import BigLearnGaussianMixture


def _rng():
    return np.random.default_rng(2024)


def _collinear():
    z = _rng().normal(size=(200, 2))
    return np.column_stack([z, 2 * z, z[:, :1] - z[:, 1:]])


DEGENERATE = {
    "constant column": lambda: np.column_stack([_rng().normal(size=(200, 3)), np.ones(200)]),
    "all columns constant": lambda: np.full((50, 3), 7.0),
    "duplicated rows": lambda: np.repeat(_rng().normal(size=(20, 3)), 10, axis=0),
    "more components than distinct points": lambda: np.repeat(_rng().normal(size=(3, 2)), 30, 0),
    "a cluster of one point": lambda: np.vstack([_rng().normal(size=(200, 2)), [[50.0, 50.0]]]),
    "values near 1e150": lambda: _rng().normal(size=(200, 3)) * 1e150,
    "values near 1e-150": lambda: _rng().normal(size=(200, 3)) * 1e-150,
    "large offset": lambda: _rng().normal(size=(200, 3)) + 1e8,
    "D = 1": lambda: _rng().normal(size=(200, 1)),
    "D > N": lambda: _rng().normal(size=(20, 50)),
    "collinear features": _collinear,
    "heavily imbalanced clusters": lambda: np.vstack([_rng().normal(size=(2000, 2)),
                                                      _rng().normal(size=(5, 2)) + 8]),
}
MODES = {
    "BigLearn-EM": {},
    "BigLearn-EM conditional": {"update": "conditional"},
    "BigLearn-EM no floor": {"eig_floor": 0.0},
    "BigLearn-EM conditional no floor": {"eig_floor": 0.0, "update": "conditional"},
    "plain EM no floor": {"eig_floor": 0.0, "view_probs": (1, 0, 0), "weight_smoothing": 0,
                          "n_inner": 1},
}


def assert_valid_model(model, X):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        assert np.all(np.isfinite(getattr(model, name))), name
    np.testing.assert_allclose(model.weights_.sum(), 1.0, rtol=1e-6)
    covs = model.covariances_.astype(float)
    np.testing.assert_allclose(covs, np.swapaxes(covs, 1, 2), rtol=1e-6, atol=0)
    np.linalg.cholesky(covs)  # positive definite
    assert np.isfinite(model.lower_bound_)
    assert all(np.isfinite(v) for v in model.lower_bounds_)
    assert np.all(np.isfinite(model.score_samples(X)))
    proba = model.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_data_fits_finite(case, mode):
    X = DEGENERATE[case]()
    model = BigLearnGaussianMixture(4, max_iter=40, random_state=0, **MODES[mode])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    assert_valid_model(model, X)


@pytest.mark.parametrize("case", ["constant column", "D > N", "collinear features",
                                  "more components than distinct points"])
def test_repairs_are_recorded(case):
    X = DEGENERATE[case]()
    model = BigLearnGaussianMixture(4, max_iter=20, random_state=0, eig_floor=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    # singular covariances without a floor: the engine floored them and said so
    assert sum(rec["repaired"] for rec in model.history_) > 0


def test_no_repair_on_healthy_data():
    rng = _rng()
    X = np.vstack([rng.normal(c, 1.0, (100, 3)) for c in (0, 6, 12)])
    model = BigLearnGaussianMixture(3, max_iter=30, random_state=0).fit(X)
    assert sum(rec["repaired"] for rec in model.history_) == 0


class _InterruptAt:
    """Raises KeyboardInterrupt at an outer iteration, or at the first polish one."""

    def __init__(self, iteration):
        self.iteration = iteration

    def __call__(self, record):
        if record["iteration"] == self.iteration or record["kind"] == self.iteration:
            raise KeyboardInterrupt


def test_interrupt_propagates_and_leaves_the_estimator_unfitted():
    X = _rng().normal(size=(200, 3))
    model = BigLearnGaussianMixture(3, max_iter=100, random_state=0, callback=_InterruptAt(10))
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


def test_interrupt_keeps_the_previous_fit_untouched():
    X = _rng().normal(size=(200, 3))
    model = BigLearnGaussianMixture(3, max_iter=20, random_state=0).fit(X)
    before = model.means_.copy()
    model.set_params(callback=_InterruptAt(5), random_state=1)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X + 5)
    np.testing.assert_array_equal(model.means_, before)


@pytest.mark.parametrize("at", [3, 30, "polish"])
def test_keep_best_on_interrupt(at):
    rng = _rng()
    X = np.vstack([rng.normal(c, 1.0, (150, 2)) for c in (0, 5, 10)])
    model = BigLearnGaussianMixture(3, max_iter=50, patience=None, random_state=0,
                                    keep_best_on_interrupt=True, callback=_InterruptAt(at))
    with pytest.warns(ConvergenceWarning, match="interrupted") as caught:
        model.fit(X)
    assert len(caught) == 1  # not also "did not converge": the interrupt says why
    assert_valid_model(model, X)
    assert model.converged_ is False
    # the kept model is the best restart (at 3), the best joint snapshot
    # (during the views) or the polished one (whose steps may lose the last
    # bits of the refinement's log-likelihood to rounding)
    assert model.lower_bound_ == pytest.approx(max(model.lower_bounds_), rel=0, abs=1e-12)
    assert model.score(X) >= max(model.lower_bounds_) - 1e-9


def test_pandas_keeps_feature_names():
    import pandas as pd  # a test dependency: missing, the test fails rather than skips

    rng = _rng()
    frame = pd.DataFrame(rng.normal(size=(120, 3)), columns=["height", "width", "depth"])
    model = BigLearnGaussianMixture(2, max_iter=20, random_state=0).fit(frame)
    np.testing.assert_array_equal(model.feature_names_in_, ["height", "width", "depth"])
    np.testing.assert_array_equal(model.predict(frame), model.predict(frame.to_numpy()))
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame.rename(columns={"depth": "length"}))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(5, 120),
    d=st.integers(1, 6),
    k=st.integers(1, 5),
    log_scale=st.floats(-100, 100),
    seed=st.integers(0, 2**16),
    update=st.sampled_from(["block", "conditional"]),
    plain=st.booleans(),
)
def test_property_fits_are_always_valid(n, d, k, log_scale, seed, update, plain):
    k = min(k, n)
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (k, d))
    X = (centers[rng.integers(k, size=n)] + rng.normal(size=(n, d))) * 10.0**log_scale
    extra = {"view_probs": (1, 0, 0), "weight_smoothing": 0, "n_inner": 1} if plain else {}
    model = BigLearnGaussianMixture(k, max_iter=15, random_state=seed, update=update, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    assert_valid_model(model, X)


@pytest.mark.parametrize("D", [3, 60])
def test_repair_handles_any_broken_matrix(D):
    from biglearn_em.backends.numpy import NumpyBackend
    from biglearn_em.engine.step import ensure_positive_definite

    covs = np.array([np.eye(D), np.full((D, D), np.nan), -np.eye(D), np.zeros((D, D)),
                     np.full((D, D), np.inf)])
    fixed, repaired = ensure_positive_definite(NumpyBackend(), covs, 1e-4)
    assert repaired == 4
    np.testing.assert_array_equal(fixed[0], np.eye(D))
    assert np.all(np.isfinite(fixed))
    assert np.linalg.eigvalsh(fixed).min() >= 1e-4 * (1 - 1e-9)
