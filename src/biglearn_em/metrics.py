"""Quality measures for fitted mixtures."""

from __future__ import annotations

import numpy as np

from .backends.kernels import Whitener, log_normalize, precision_cholesky, weighted_log_prob_t

__all__ = ["clustering_accuracy", "clustering_scores", "gmm_log_density", "test_kl"]


def gmm_log_density(
    X: np.ndarray, weights: np.ndarray, means: np.ndarray, covs: np.ndarray
) -> np.ndarray:
    """Log-density of a full-covariance mixture at each row of X (N, D), shape (N,)."""
    wh = Whitener(np.asarray(weights, float), np.asarray(means, float), precision_cholesky(covs),
                  allow_features=False)
    return log_normalize(weighted_log_prob_t(np.asarray(X, float), wh))


def test_kl(X_test: np.ndarray, true_params, model) -> float:
    """Monte-Carlo ``KL(q || p)``: mean over samples of q (the true mixture,
    given as ``(weights, means, covariances)``) of ``log q(x) - log p(x)``,
    where p is a fitted model with ``score_samples``."""
    return float(np.mean(gmm_log_density(X_test, *true_params) - model.score_samples(X_test)))


def clustering_accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose cluster maps to their class under the best
    one-to-one matching of clusters to classes (Hungarian algorithm).

    With more clusters than classes the unmatched clusters count as wrong (and
    with fewer, the unmatched classes), so accuracy never rewards splitting.

    Parameters
    ----------
    y_true : array-like of shape (N,)
        Class labels (any hashable values).
    y_pred : array-like of shape (N,)
        Cluster labels.

    Returns
    -------
    float in [0, 1]
    """
    from scipy.optimize import linear_sum_assignment

    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred have different lengths: {len(y_true)} and "
                         f"{len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("clustering_accuracy needs at least one sample")
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, p = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(counts, (p, t), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(y_true))


def clustering_scores(y_true, y_pred) -> dict[str, float]:
    """NMI, ARI and clustering accuracy of cluster labels against classes.

    Parameters
    ----------
    y_true : array-like of shape (N,)
    y_pred : array-like of shape (N,)

    Returns
    -------
    dict with keys ``"nmi"`` (arithmetic normalisation, scikit-learn's default),
    ``"ari"`` and ``"acc"``.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
        "acc": clustering_accuracy(y_true, y_pred),
    }
