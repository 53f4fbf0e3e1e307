"""Quality measures for fitted mixtures."""

from __future__ import annotations

import numpy as np

from ._gaussian import Whitener, log_normalize, precision_cholesky, weighted_log_prob_t


def gmm_log_density(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, covs: np.ndarray
) -> np.ndarray:
    """Log-density of a full-covariance mixture at each row of X (N, D), shape (N,)."""
    wh = Whitener(np.asarray(weights, float), np.asarray(means, float), precision_cholesky(covs))
    return log_normalize(weighted_log_prob_t(np.asarray(X, float), wh))


def test_kl(X_test: np.ndarray, true_params, model) -> float:
    """Monte-Carlo ``KL(q || p)``: mean over samples of q (the true mixture,
    given as ``(weights, means, covariances)``) of ``log q(x) - log p(x)``,
    where p is a fitted model with ``score_samples``."""
    return float(np.mean(gmm_log_density(X_test, *true_params) - model.score_samples(X_test)))
