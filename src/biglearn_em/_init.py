"""Initial parameters, computed in the engine's internal coordinates."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from ._em import Data, Params
from ._gaussian import SuffStats, m_step
from ._views import joint_view

METHODS = ("kmeans", "k-means++", "random", "random_from_data")


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(np.iinfo(np.int32).max))


def _labels_nearest(data: Data, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (K, D) for every row, shape (N,)."""
    sq = np.einsum("kd,kd->k", centers, centers)
    return np.concatenate([np.argmin(sq - 2.0 * Z @ centers.T, axis=1) for Z in data.chunks()])


def _stats_from(data: Data, K: int, resp_chunks) -> SuffStats:
    stats = SuffStats.zeros(np.zeros((K, data.n_features)))
    for Z, resp_t in zip(data.chunks(joint_view(data.n_features)), resp_chunks):
        stats.accumulate(Z, resp_t)
    stats.finish()
    return stats


def _one_hot_chunks(labels: np.ndarray, K: int, chunk_size: int):
    for s in range(0, len(labels), chunk_size):
        lab = labels[s : s + chunk_size]
        resp_t = np.zeros((K, len(lab)))
        resp_t[lab, np.arange(len(lab))] = 1.0
        yield resp_t


def initial_params(
    data: Data,
    n_components: int,
    method: str,
    rng: np.random.Generator,
    reg_covar: float,
    eig_floor: float,
    weights: np.ndarray | None = None,
    means: np.ndarray | None = None,
    covs: np.ndarray | None = None,
) -> Params:
    """Initial weights, means and covariances from ``method``.

    The method gives responsibilities (hard labels for the k-means variants and
    ``random_from_data``, whose centres are data points; uniform random ones
    for ``random``) and one M-step turns them into parameters. Any of
    ``weights`` (K,), ``means`` (K, D), ``covs`` (K, D, D) given (internal
    units) replaces its computed counterpart; with all three given the method
    is not run.
    """
    K = n_components
    if weights is None or means is None or covs is None:
        if method == "random":
            def resp_chunks():
                for Z in data.chunks():
                    r = rng.uniform(size=(K, Z.shape[0]))
                    yield r / r.sum(axis=0)
            stats = _stats_from(data, K, resp_chunks())
        else:
            if method == "kmeans":
                # copy_x=False: k-means may centre our private copy in place
                labels = KMeans(K, n_init=1, copy_x=False, random_state=_seed(rng)).fit(
                    data.standardized()).labels_
            else:
                if method == "k-means++":
                    centers, _ = kmeans_plusplus(data.standardized(), K,
                                                 random_state=_seed(rng))
                else:  # random_from_data
                    idx = np.sort(rng.choice(data.n_samples, size=K, replace=False))
                    centers = (np.asarray(data.X[idx], dtype=float) - data.shift) / data.scale
                labels = _labels_nearest(data, centers)
            stats = _stats_from(data, K, _one_hot_chunks(labels, K, data.chunk_size))
        w0, mu0, cov0 = m_step(stats, reg_covar, eig_floor)
        weights = w0 if weights is None else weights
        means = mu0 if means is None else means
        covs = cov0 if covs is None else covs
    return Params(np.asarray(weights, float), np.asarray(means, float), np.asarray(covs, float))
