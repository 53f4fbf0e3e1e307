"""Numerics against naive reference formulas."""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

from biglearn_em import BigLearnGaussianMixture
from biglearn_em.backends.kernels import (
    SuffStats,
    Whitener,
    e_step_chunk,
    features,
    floor_eigenvalues,
    log_normalize,
    positive_definite,
    posteriors,
    precision_cholesky,
    smooth_weights,
    unnormalized_posteriors,
    uses_features,
    weighted_log_prob_t,
)
from biglearn_em.backends.numpy import NumpyBackend
from biglearn_em.engine.step import ensure_positive_definite
from conftest import random_mixture, random_spd


def naive_log_density(X, weights, means, covs):
    dens = sum(w * multivariate_normal(mu, S).pdf(X) for w, mu, S in zip(weights, means, covs))
    return np.log(dens)


def fitted_with(weights, means, covs) -> BigLearnGaussianMixture:
    """An estimator fitted on throwaway data, then given these parameters."""
    K, D = means.shape
    model = BigLearnGaussianMixture(K, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(np.random.default_rng(0).normal(size=(4 * K + 4, D)))
    model.weights_, model.means_, model.covariances_ = weights, means, covs
    model.precisions_cholesky_ = precision_cholesky(covs)
    return model


@pytest.mark.parametrize("D", [1, 2, 7, 30, 64])
def test_score_samples_matches_scipy(rng, D):
    K = 4
    weights, means, covs = random_mixture(rng, K, D)
    X = means[rng.integers(K, size=50)] + rng.normal(size=(50, D))
    expected = naive_log_density(X, weights, means, covs)
    got = fitted_with(weights, means, covs).score_samples(X)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=0)


@pytest.mark.parametrize("D", [1, 3, 9])
def test_predict_proba_matches_bayes_rule(rng, D):
    weights, means, covs = random_mixture(rng, 3, D)
    X = rng.normal(0, 3, size=(40, D))
    joint = np.column_stack([w * multivariate_normal(mu, S).pdf(X)
                             for w, mu, S in zip(weights, means, covs)])
    model = fitted_with(weights, means, covs)
    np.testing.assert_allclose(model.predict_proba(X), joint / joint.sum(1, keepdims=True),
                               rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(model.predict(X), joint.argmax(1))


@pytest.mark.parametrize("D", [6, 70])
def test_precision_cholesky_inverts_covariance(rng, D):
    covs = random_spd(rng, 5, D)
    U = precision_cholesky(covs)
    eye = np.broadcast_to(np.eye(D), covs.shape)
    np.testing.assert_allclose(U @ np.swapaxes(U, 1, 2) @ covs, eye, atol=1e-10)
    assert np.allclose(np.tril(U, -1), 0)


@pytest.mark.parametrize("D", [5, 60])
@pytest.mark.parametrize("work_size", [1, 37, 1 << 21])
def test_statistics_and_m_step_match_naive_formulas(rng, work_size, D):
    K, n = 4, 300
    weights, means, covs = random_mixture(rng, K, D)
    X = rng.normal(0, 3, (n, D))
    wh = Whitener(weights, means, precision_cholesky(covs))
    log_prob = weighted_log_prob_t(X, wh, work_size=work_size)
    np.testing.assert_allclose(log_prob.T - np.log(weights),
                               np.column_stack([multivariate_normal(m, S).logpdf(X)
                                                for m, S in zip(means, covs)]), rtol=1e-10)
    resp = np.exp(log_prob - np.logaddexp.reduce(log_prob, axis=0))
    stats = SuffStats.zeros(means + 0.3)  # any shift gives the same M-step
    stats.accumulate(X, resp, work_size=work_size)
    stats.finish()
    w, mu, S = NumpyBackend().m_step(stats, reg_covar=0.0, eig_floor=0.0)
    nk = resp.sum(1)
    ref_mu = resp @ X / nk[:, None]
    ref_S = np.array([(resp[k, :, None] * (X - ref_mu[k])).T @ (X - ref_mu[k]) / nk[k]
                      for k in range(K)])
    np.testing.assert_allclose(w, nk / n, rtol=1e-12)
    np.testing.assert_allclose(mu, ref_mu, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(S, ref_S, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("D", [4, 50])
def test_statistics_add_up_over_chunks(rng, D):
    K = 3
    weights, means, covs = random_mixture(rng, K, D)
    X = rng.normal(0, 2, (101, D))
    wh = Whitener(weights, means, precision_cholesky(covs))
    whole = SuffStats.zeros(means)
    e_step_chunk(X, wh, whole)
    parts = SuffStats.zeros(means)
    for chunk in np.array_split(X, 7):
        part = SuffStats.zeros(means)
        e_step_chunk(chunk, wh, part)
        parts += part
    assert parts.n == whole.n == 101
    np.testing.assert_allclose(parts.ll, whole.ll, rtol=1e-12)
    for a, b in [(parts.nk, whole.nk), (parts.s1, whole.s1), (parts.s2, whole.s2)]:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_log_normalize_is_stable():
    lp = np.array([[-1000.0, 0.0], [-1001.0, -2000.0]])
    norm = log_normalize(lp)
    np.testing.assert_allclose(norm, [np.logaddexp(-1000, -1001), np.logaddexp(0, -2000)])
    np.testing.assert_allclose(np.exp(lp).sum(0), 1.0)


@pytest.mark.parametrize("D", [5, 60])
def test_floor_eigenvalues(rng, D):
    covs = random_spd(rng, 4, D)
    spectrum = np.arange(D, dtype=float)
    spectrum[0] = 1e-9
    Q = np.linalg.qr(rng.normal(size=(D, D)))[0]
    covs[1] = (Q * spectrum) @ Q.T
    floored = floor_eigenvalues(covs, 1e-3)
    assert np.linalg.eigvalsh(floored).min() >= 1e-3 * (1 - 1e-9)
    np.testing.assert_array_equal(floored[[0, 2, 3]], covs[[0, 2, 3]])  # already above
    np.testing.assert_allclose(np.linalg.eigvalsh(floored[1]),
                               np.maximum(spectrum, 1e-3), atol=1e-9)
    assert floor_eigenvalues(covs, 0.0) is covs


def test_smooth_weights():
    np.testing.assert_allclose(smooth_weights(np.array([1.0, 0.0]), 0.5), [0.75, 0.25])
    w = np.array([0.2, 0.8])
    assert smooth_weights(w, 0.0) is w


def _with_eigenvalues(rng, values):
    Q, _ = np.linalg.qr(rng.standard_normal((len(values), len(values))))
    cov = (Q * np.asarray(values)) @ Q.T
    return 0.5 * (cov + cov.T)


@pytest.mark.parametrize("D", [3, 60])  # the batched and the per-component LAPACK path
def test_positive_definite_with_min_eig_bounds_the_smallest_eigenvalue(rng, D):
    low = np.ones(D)
    low[0] = 1e-10  # at the bound: kept
    lower = np.ones(D)
    lower[0] = 1e-10 / (2 * D)  # below the bound / D: rejected, although it factorises
    covs = np.stack([_with_eigenvalues(rng, low), _with_eigenvalues(rng, lower)])
    assert positive_definite(covs).all()
    assert positive_definite(covs, 1e-10).tolist() == [True, False]
    # accepted means lambda_min >= min_eig / D; rejected means lambda_min < min_eig
    for cov, ok in zip(covs, positive_definite(covs, 1e-10)):
        lam = np.linalg.eigvalsh(cov)[0]
        assert (lam >= 1e-10 / D) if ok else (lam < 1e-10)


def test_numerically_singular_covariance_is_repaired(rng):
    # a rank-one component of duplicated rows: eigenvalues 1e-19 and 3e-17 beside 1.6
    cov = _with_eigenvalues(rng, [1.6e-19, 2.8e-17, 1.64])
    fixed, n = ensure_positive_definite(NumpyBackend(), cov[None], 0.0)
    assert n == 1
    assert np.linalg.eigvalsh(fixed[0])[0] >= 0.99e-10
    np.testing.assert_allclose(fixed[0], cov, atol=1e-9)  # only the null space moved
    for scale in (1e-3, 0.93, 1.0, 7.0, 1e3):  # mapped back to the units of X, it factorises
        np.linalg.cholesky(fixed * scale**2)
    # a healthy matrix is left alone
    healthy = random_spd(rng, 2, 3)
    same, n = ensure_positive_definite(NumpyBackend(), healthy, 0.0)
    assert n == 0 and same is healthy


@pytest.mark.parametrize("D,K", [(1, 3), (5, 4), (16, 12), (30, 8)])
@pytest.mark.parametrize("offset", [0.0, 50.0])
def test_feature_kernel_gives_the_whitening_kernels_statistics(rng, D, K, offset):
    weights, means, covs = random_mixture(rng, K, D)
    covs *= 0.05  # tight components: the expansion y'Py - 2y'P mu + mu'P mu cancels most
    means += offset
    X = means[rng.integers(K, size=400)] + rng.normal(0, 0.3, (400, D))
    before = X.copy()
    stats = {}
    for allow in (True, False):
        wh = Whitener(weights, means, precision_cholesky(covs), allow_features=allow)
        assert wh.features == (allow and uses_features(D, K))
        s = SuffStats.zeros(means - 0.1)
        e_step_chunk(X, wh, s)
        s.finish()
        stats[allow] = s
    np.testing.assert_array_equal(X, before)  # the kernels never write into the chunk
    a, b = stats[True], stats[False]
    np.testing.assert_allclose(a.ll, b.ll, rtol=1e-11)
    np.testing.assert_allclose(a.nk, b.nk, rtol=1e-9, atol=1e-9)
    scale = np.abs(b.s2).max()
    np.testing.assert_allclose(a.s1, b.s1, rtol=0, atol=1e-9 * np.abs(b.s1).max() + 1e-12)
    np.testing.assert_allclose(a.s2, b.s2, rtol=0, atol=1e-9 * scale)


def test_features_are_the_upper_triangle_products_the_rows_and_one(rng):
    Y = rng.normal(size=(7, 4))
    center = rng.normal(size=4)
    G = features(Y, center)
    Z = Y - center
    rows, cols = np.triu_indices(4)
    np.testing.assert_array_equal(G[:10], (Z[:, rows] * Z[:, cols]).T)
    np.testing.assert_array_equal(G[10:14], Z.T)
    np.testing.assert_array_equal(G[14], 1.0)


def test_unnormalized_posteriors_scale_to_the_posteriors(rng):
    log_prob = rng.normal(0, 30, (5, 200))
    log_prob[:, 7] = -np.inf  # a row no component explains
    expected = log_prob.copy()
    norm_ref = posteriors(expected)
    got = log_prob.copy()
    norm, scale = unnormalized_posteriors(got)
    np.testing.assert_allclose(got * scale, expected, rtol=1e-14, atol=1e-300)
    np.testing.assert_array_equal(norm, norm_ref)
    assert scale[7] == 1.0 and np.allclose(got[:, 7], 0.2)


def test_posteriors_agree_with_log_normalize(rng):
    log_prob = rng.normal(0, 30, (5, 200))
    log_prob[:, 7] = -np.inf  # a row no component explains
    expected = log_prob.copy()
    norm_ref = log_normalize(expected)
    got = log_prob.copy()
    norm = posteriors(got)
    np.testing.assert_allclose(got, np.exp(expected), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(norm, norm_ref, rtol=1e-13)
    assert norm[7] == -np.inf and np.allclose(got[:, 7], 0.2)


def test_float32_chunks_keep_float64_statistics(rng):
    weights, means, covs = random_mixture(rng, 3, 60)  # the per-component kernel
    X = rng.normal(0, 2, (200, 60))
    stats = {}
    for dtype in (np.float64, np.float32):
        wh = Whitener(weights, means, precision_cholesky(covs), np.dtype(dtype))
        s = SuffStats.zeros(means)
        e_step_chunk(X.astype(dtype), wh, s)
        s.finish()
        assert s.s2.dtype == s.s1.dtype == s.nk.dtype == np.float64
        stats[dtype] = s
    scale = np.abs(stats[np.float64].s2).max()
    np.testing.assert_allclose(stats[np.float32].s2, stats[np.float64].s2, rtol=0,
                               atol=1e-5 * scale)
