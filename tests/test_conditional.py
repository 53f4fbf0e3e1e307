"""Marginal and conditional laws of a fitted mixture (``marginal``, ``condition``,
``impute``) against references written here: SciPy's densities and explicit
Schur complements with ``np.linalg.solve``, for every covariance type."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from biglearn_em import BigLearnGaussianMixture, load
from conftest import random_spd

TYPES = ("full", "tied", "diag", "spherical")
K, D = 3, 5
TOL = 1e-10  # the target, absolute


def random_covariances(rng, kind: str) -> np.ndarray:
    """Covariances of ``kind`` in scikit-learn's public shape, well conditioned
    and (full, tied) strongly correlated."""
    if kind == "full":
        return random_spd(rng, K, D, scale=2.0)
    if kind == "tied":
        return random_spd(rng, 1, D, scale=2.0)[0]
    if kind == "diag":
        return rng.uniform(0.3, 2.0, (K, D))
    return rng.uniform(0.3, 2.0, K)


def dense(kind: str, covs: np.ndarray) -> np.ndarray:
    """K full D x D matrices, written out for the reference."""
    if kind == "full":
        return covs
    if kind == "tied":
        return np.repeat(covs[None], K, axis=0)
    if kind == "diag":
        return np.stack([np.diag(c) for c in covs])
    return np.stack([s * np.eye(D) for s in covs])


def fitted_with(kind: str, weights, means, covs, columns=None, dtype=np.float64):
    """An estimator fitted on throwaway data (a DataFrame with ``columns``),
    then given these parameters."""
    model = BigLearnGaussianMixture(K, covariance_type=kind, max_iter=1, restarts=0, moves=0,
                                    random_state=0)
    X = np.random.default_rng(0).normal(size=(40, D)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X if columns is None else pd.DataFrame(X, columns=columns))
    # the precision factors predictions read, in the type's shape: inverse
    # deviations, or U = inv(L).T with S = L L.T (then U U.T = inv(S))
    if kind in ("diag", "spherical"):
        factor = 1 / np.sqrt(covs)
    else:
        upper = np.swapaxes(np.linalg.inv(np.linalg.cholesky(dense(kind, covs))), 1, 2)
        factor = upper if kind == "full" else upper[0]
    for name, value in (("weights_", weights), ("means_", means), ("covariances_", covs),
                        ("precisions_cholesky_", factor)):
        setattr(model, name, np.asarray(value, dtype=dtype))
    return model


@pytest.fixture(params=TYPES)
def case(request, rng):
    kind = request.param
    weights = rng.dirichlet(np.full(K, 2.0))
    means = rng.normal(0, 2.0, (K, D))
    covs = random_covariances(rng, kind)
    return kind, weights, means, covs, fitted_with(kind, weights, means, covs)


# ------------------------------------------------------------------ references
def log_mixture(x, weights, means, covs, cols):
    """log p(x) of the mixture's marginal on ``cols`` at the points x (n, len(cols))."""
    parts = [np.log(w) + multivariate_normal(mu[cols], S[np.ix_(cols, cols)]).logpdf(x)
             for w, mu, S in zip(weights, means, covs)]
    return logsumexp(np.reshape(parts, (len(weights), -1)), axis=0)


def reference_condition(weights, means, covs, given, x_given):
    """Weights (K,), means (K, b) and covariances (K, b, b) of the law of the
    other columns given ``x_given`` at ``given``: Bayes' rule on SciPy's
    densities and the Schur complement with ``np.linalg.solve``."""
    rest = [j for j in range(means.shape[1]) if j not in list(given)]
    log_w, cond_means, cond_covs = [], [], []
    for w, mu, S in zip(weights, means, covs):
        S_gg, S_rg, S_rr = S[np.ix_(given, given)], S[np.ix_(rest, given)], S[np.ix_(rest, rest)]
        log_w.append(np.log(w) + multivariate_normal(mu[given], S_gg).logpdf(x_given))
        cond_means.append(mu[rest] + S_rg @ np.linalg.solve(S_gg, x_given - mu[given]))
        cond_covs.append(S_rr - S_rg @ np.linalg.solve(S_gg, S_rg.T))
    log_w = np.array(log_w)
    return np.exp(log_w - logsumexp(log_w)), np.array(cond_means), np.array(cond_covs)


def mixture_moments(weights, means, covs):
    """Mean and full covariance of a mixture (law of total variance)."""
    mean = weights @ means
    spread = means - mean
    return mean, np.einsum("k,kij->ij", weights, covs) + np.einsum("k,ki,kj->ij", weights,
                                                                  spread, spread)


# -------------------------------------------------------------------- marginal
@pytest.mark.parametrize("cols", [[3], [2, 0], [4, 1, 3], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]])
def test_marginal_is_the_sub_mixture(case, rng, cols):
    kind, weights, means, covs, model = case
    got = model.marginal(cols)
    assert got.covariance_type == kind and got.n_features_in_ == len(cols)
    np.testing.assert_array_equal(got.weights_, weights)
    np.testing.assert_array_equal(got.means_, means[:, cols])
    full = dense(kind, covs)
    got_dense = {"full": lambda c: c, "tied": lambda c: np.repeat(c[None], K, 0),
                 "diag": lambda c: np.stack([np.diag(v) for v in c]),
                 "spherical": lambda c: np.stack([s * np.eye(len(cols)) for s in c])}[kind]
    np.testing.assert_array_equal(got_dense(got.covariances_), full[:, cols][:, :, cols])
    # its density is the marginal density (SciPy on the sub-blocks)
    x = means[rng.integers(K, size=30)][:, cols] + rng.normal(size=(30, len(cols)))
    np.testing.assert_allclose(got.score_samples(x), log_mixture(x, weights, means, full, cols),
                               rtol=0, atol=TOL)


# ------------------------------------------------------------------- condition
@pytest.mark.parametrize("given", [[1], [0, 3], [4, 2, 0], [0, 1, 2, 3]])
def test_condition_matches_bayes_rule_and_schur_complements(case, rng, given):
    kind, weights, means, covs, model = case
    full = dense(kind, covs)
    rest = [j for j in range(D) if j not in given]
    # a point near each component, and one between them: weights far from 0 and 1
    for x in [*(m[given] + 0.5 * rng.normal(size=len(given)) for m in means),
              means[:, given].mean(0)]:
        got = model.condition(given, x)
        w, m, C = reference_condition(weights, means, full, given, x)
        assert got.covariance_type == kind and got.n_features_in_ == len(rest)
        np.testing.assert_allclose(got.weights_, w, rtol=0, atol=TOL)
        np.testing.assert_allclose(got.means_, m, rtol=0, atol=TOL)
        b = len(rest)
        shape = {"full": (K, b, b), "tied": (b, b), "diag": (K, b), "spherical": (K,)}[kind]
        assert got.covariances_.shape == shape
        cov = got.covariances_
        as_dense = {"full": cov, "tied": np.repeat(cov[None], K, 0),
                    "diag": np.stack([np.diag(v) for v in cov]) if kind == "diag" else None,
                    "spherical": (cov[:, None, None] * np.eye(b)) if kind == "spherical"
                    else None}[kind]
        np.testing.assert_allclose(as_dense, C, rtol=0, atol=TOL)
        if kind in ("diag", "spherical"):  # independent blocks: the rest keeps its law
            np.testing.assert_array_equal(got.means_, means[:, rest])
            np.testing.assert_array_equal(cov, covs[:, rest] if kind == "diag" else covs)


@pytest.mark.parametrize("given", [[2], [1, 4], [0, 2, 3]])
def test_condition_density_is_joint_over_marginal(case, rng, given):
    """p(x_B | x_A) = p(x_B, x_A) / p(x_A) at random points, by brute force."""
    kind, weights, means, covs, model = case
    full = dense(kind, covs)
    rest = [j for j in range(D) if j not in given]
    x = means[rng.integers(K, size=20)] + rng.normal(size=(20, D))
    x_given = x[0, given]
    x[:, given] = x_given
    want = (log_mixture(x, weights, means, full, list(range(D)))
            - log_mixture(x_given[None], weights, means, full, given))
    got = model.condition(given, x_given).score_samples(x[:, rest])
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_marginal_times_condition_is_the_joint(case, rng):
    """The round trip: p(x_-j) p(x_j | x_-j) = p(x) for every column j."""
    kind, weights, means, covs, model = case
    x = means[rng.integers(K, size=4)] + rng.normal(size=(4, D))
    want = log_mixture(x, weights, means, dense(kind, covs), list(range(D)))
    for j in range(D):
        others = [i for i in range(D) if i != j]
        head = model.marginal(others).score_samples(x[:, others])
        tail = [model.condition(others, row[others]).score_samples(row[None, [j]])[0]
                for row in x]
        np.testing.assert_allclose(head + tail, want, rtol=0, atol=TOL)


def test_derived_models_are_fitted_estimators(case, rng, tmp_path):
    kind, weights, means, covs, model = case
    for got in (model.marginal([0, 2, 4]), model.condition([1, 3], [0.5, -1.0])):
        x = rng.normal(size=(10, 3))
        np.testing.assert_allclose(got.predict_proba(x).sum(1), 1.0)
        assert got.predict(x).shape == (10,)
        samples, labels = got.sample(7)
        assert samples.shape == (7, 3) and labels.shape == (7,)
        assert np.isnan(got.lower_bound_) and got.converged_ == model.converged_
        assert got.means_init is None and got.get_params()["n_components"] == K
        # a model file of it predicts as it does
        got.save(tmp_path / "derived.npz")
        again = load(tmp_path / "derived.npz")
        np.testing.assert_array_equal(again.score_samples(x), got.score_samples(x))
        # and it can itself be refitted (its parameters describe 3 columns)
        got.set_params(max_iter=5, restarts=0, moves=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            assert got.fit(rng.normal(size=(30, 3))).means_.shape == (K, 3)


def test_float32_models_give_float32_laws(rng):
    weights, means = rng.dirichlet(np.ones(K)), rng.normal(size=(K, D))
    model = fitted_with("full", weights, means, random_spd(rng, K, D), dtype=np.float32)
    assert model.marginal([0, 1]).means_.dtype == np.float32
    assert model.condition([0], [0.0]).covariances_.dtype == np.float32
    X = rng.normal(size=(6, D)).astype(np.float32)
    X[:, 2] = np.nan
    assert model.impute(X).dtype == np.float32


# --------------------------------------------------------------------- names
def test_columns_by_name_or_index(rng):
    names = ["a", "b", "c", "d", "e"]
    weights, means = rng.dirichlet(np.ones(K)), rng.normal(size=(K, D))
    covs = random_spd(rng, K, D)
    model = fitted_with("full", weights, means, covs, columns=names)
    by_name, by_index = model.marginal(["e", "b"]), model.marginal([4, 1])
    np.testing.assert_array_equal(by_name.covariances_, by_index.covariances_)
    assert list(by_name.feature_names_in_) == ["e", "b"] == list(by_index.feature_names_in_)
    cond = model.condition(["c", "a"], [0.3, -0.2])
    np.testing.assert_array_equal(cond.means_, model.condition([2, 0], [0.3, -0.2]).means_)
    assert list(cond.feature_names_in_) == ["b", "d", "e"]
    assert model.marginal("d").n_features_in_ == 1  # one name
    frame = pd.DataFrame(rng.normal(size=(5, 3)), columns=["b", "d", "e"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warning
        by_frame = cond.score_samples(frame)
        missing = pd.DataFrame(rng.normal(size=(4, D)), columns=names)
        missing.iloc[1, 2] = np.nan
        filled = model.impute(missing)
    assert filled.shape == (4, D) and not np.isnan(filled).any()
    np.testing.assert_array_equal(by_frame, cond.score_samples(frame[["b", "d", "e"]]))


# --------------------------------------------------------------------- impute
def test_impute_fills_with_conditional_means(case, rng):
    kind, weights, means, covs, model = case
    full = dense(kind, covs)
    X = means[rng.integers(K, size=60)] + rng.normal(size=(60, D))
    holes = rng.random((60, D)) < 0.4
    holes[np.arange(60), rng.integers(D, size=60)] = False  # each row keeps a value
    holes[:5] = False  # and some rows are complete
    X_missing = np.where(holes, np.nan, X)
    got = model.impute(X_missing)
    assert not np.isnan(X_missing[~holes]).any() and np.isnan(X_missing[holes]).all()  # untouched
    np.testing.assert_array_equal(got[~holes], X[~holes])
    for row, hole in zip(range(60), holes):
        if hole.any():
            given = np.flatnonzero(~hole)
            w, m, _ = reference_condition(weights, means, full, given, X[row, given])
            np.testing.assert_allclose(got[row, hole], w @ m, rtol=0, atol=TOL)


def test_impute_draws_follow_the_conditional_law(case, rng):
    kind, weights, means, covs, model = case
    given, rest = [0, 3], [1, 2, 4]
    x = means[1] + 0.3 * rng.normal(size=D)
    n = 20_000
    X = np.tile(np.where(np.isin(np.arange(D), rest), np.nan, x), (n, 1))
    draws = model.impute(X, random_state=0)
    np.testing.assert_array_equal(draws[:, given], np.tile(x[given], (n, 1)))
    mean, cov = mixture_moments(*reference_condition(weights, means, dense(kind, covs), given,
                                                     x[given]))
    # within 5 standard errors of the mean; variances within 5%
    np.testing.assert_array_less(np.abs(draws[:, rest].mean(0) - mean),
                                 5 * np.sqrt(np.diag(cov) / n))
    np.testing.assert_allclose(np.cov(draws[:, rest].T), cov, rtol=0.05,
                               atol=0.05 * np.diag(cov).max())
    # a seed repeats its draws, another seed does not; a Generator moves on
    some = model.impute(X[:50], random_state=0)
    np.testing.assert_array_equal(model.impute(X[:50], random_state=0), some)
    assert not np.array_equal(model.impute(X[:50], random_state=1), some)
    gen = np.random.default_rng(0)
    first, second = model.impute(X[:50], random_state=gen), model.impute(X[:50], random_state=gen)
    assert not np.array_equal(first, second)
    again = model.impute(X[:50], random_state=np.random.default_rng(0))
    np.testing.assert_array_equal(first, again)


def test_impute_groups_rows_of_many_patterns_consistently(rng):
    """A row is filled the same alone and among rows of other patterns."""
    weights, means = rng.dirichlet(np.ones(K)), rng.normal(size=(K, D))
    covs = random_spd(rng, K, D)
    model = fitted_with("full", weights, means, covs)
    X = rng.normal(size=(40, D))
    X[rng.random((40, D)) < 0.5] = np.nan
    X[np.isnan(X).all(1), 0] = 1.0
    together = model.impute(X)
    alone = np.vstack([model.impute(row[None]) for row in X])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- errors
@pytest.fixture
def named(rng):
    covs = random_spd(rng, K, D)
    return (fitted_with("full", rng.dirichlet(np.ones(K)), rng.normal(size=(K, D)), covs),
            fitted_with("full", rng.dirichlet(np.ones(K)), rng.normal(size=(K, D)), covs,
                        columns=["a", "b", "c", "d", "e"]))


@pytest.mark.parametrize("call, error, message", [
    (lambda m, n: m.marginal([]), ValueError, r"^features is empty"),
    (lambda m, n: m.marginal([1, 3, 1]), ValueError, r"^features names columns \[1\] more than"),
    (lambda m, n: n.marginal(["a", "b", "a"]), ValueError, r"columns \['a'\] more than once"),
    (lambda m, n: m.marginal([0, 5]), ValueError, r"indices \[5\] out of range; .* 5 columns"),
    (lambda m, n: m.marginal([-1]), ValueError, r"indices \[-1\] out of range"),
    (lambda m, n: m.marginal(["a"]), ValueError, r"fitted without column names"),
    (lambda m, n: n.marginal(["a", "z"]), ValueError, r"columns \['z'\] that the model was not"),
    (lambda m, n: n.marginal([0, "b"]), TypeError, r"^features must be column indices"),
    (lambda m, n: m.marginal([True]), TypeError, r"^features must be column indices"),
    (lambda m, n: m.marginal([1.0]), TypeError, r"^features must be column indices"),
    (lambda m, n: m.condition(range(D), np.zeros(D)), ValueError, r"all 5 columns"),
    (lambda m, n: m.condition([0, 1], [1.0]), ValueError,
     r"^values has shape \(1,\); expected \(2,\)"),
    (lambda m, n: m.condition([0], [[1.0]]), ValueError, r"^values has shape \(1, 1\)"),
    (lambda m, n: m.condition([0], [np.nan]), ValueError, r"^values must be finite"),
    (lambda m, n: m.condition([0], [np.inf]), ValueError, r"^values must be finite"),
    (lambda m, n: m.condition([0], ["x"]), TypeError, r"^values must be numbers"),
    (lambda m, n: m.condition([7], [1.0]), ValueError, r"out of range"),
    (lambda m, n: m.impute(np.full((3, D), np.nan)), ValueError,
     r"^X has 3 rows with no observed value \(rows \[0, 1, 2\]\)"),
    (lambda m, n: m.impute([[np.inf, np.nan, 0, 0, 0]]), ValueError, r"X contains infinity"),
    (lambda m, n: m.impute(np.ones((2, 4))), ValueError, r"X has 4 features"),
])
def test_errors_name_the_argument(named, call, error, message):
    with pytest.raises(error, match=message) as info:
        call(*named)
    assert "\n" not in str(info.value)


def test_unfitted_models_refuse():
    model = BigLearnGaussianMixture(2)
    for call in (lambda: model.marginal([0]), lambda: model.condition([0], [1.0]),
                 lambda: model.impute(np.ones((2, 2)))):
        with pytest.raises(NotFittedError):
            call()


def test_a_fitted_model_answers(rng):
    """On a real fit: imputing a column explained by another beats its mean."""
    t = rng.uniform(-3, 3, 600)
    X = np.column_stack([t, np.sin(t) + 0.05 * rng.normal(size=600), rng.normal(size=600)])
    model = BigLearnGaussianMixture(6, random_state=0).fit(X)
    X_missing = X.copy()
    X_missing[::2, 1] = np.nan
    error = model.impute(X_missing)[::2, 1] - X[::2, 1]
    assert np.sqrt(np.mean(error**2)) < 0.2 * X[:, 1].std()
