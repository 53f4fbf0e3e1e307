"""Initial parameters, computed in the engine's internal coordinates on the
data's backend.

Every method gives responsibilities (hard labels for the k-means variants and
``random_from_data``, whose centres are data points; uniform random ones for
``random``) and one M-step turns them into parameters. The random draws of
``random`` and ``random_from_data`` come from the fit's NumPy generator; the
k-means variants are :mod:`biglearn_em.engine.kmeans`, one algorithm over the backend interface
(so that a seed starts the same on every backend).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends.kernels import SuffStats
from . import kmeans
from .covariance import CovarianceType
from .data import Data, Params, Settings
from .views import joint_view

#: The initialisations, as ``init_params`` names them.
METHODS = ("kmeans", "k-means++", "random", "random_from_data")

#: A sample of max(SAMPLE_ROWS_MIN, SAMPLE_ROWS_PER_KD * K * D) rows (about
#: 50 D rows per component, so that every component's covariance is well
#: estimated there) is where the search of large data runs
#: (``search_rows="auto"``) and where the start of data on Dask's workers is
#: computed. On 200,000 x 16 blobs (K = 16) a default fit took 52 s with a
#: 100,000-row search and 10 s with 20,000, reaching the same likelihood.
SAMPLE_ROWS_MIN = 20_000
SAMPLE_ROWS_PER_KD = 50


def sample_rows(n_components: int, n_features: int) -> int:
    """Rows of the sample that stands for large data (see ``SAMPLE_ROWS_MIN``)."""
    return max(SAMPLE_ROWS_MIN, SAMPLE_ROWS_PER_KD * n_components * n_features)


def labels_nearest(data: Data, centers) -> Any:
    """Index of the nearest centre (K, D) for every row, shape (N,)."""
    be = data.backend
    centers = be.data_array(centers)
    sq = be.einsum("kd,kd->k", centers, centers)
    return be.concat([(sq - 2.0 * Z @ centers.T).argmin(1) for Z in data.chunks()])


def _stats_from(data: Data, K: int, resp_chunks, covariance: CovarianceType) -> SuffStats:
    be = data.backend
    view = joint_view(data.n_features)
    stats = be.new_stats(be.zeros((K, data.n_features)), covariance.diagonal(view))
    for Z, resp_t, w in zip(data.chunks(view), resp_chunks, data.weight_chunks()):
        be.accumulate(stats, Z, resp_t, w)
    be.finish(stats)
    return stats


def _one_hot_chunks(data: Data, labels, K: int):
    for s in range(0, len(labels), data.chunk_size):
        yield data.backend.one_hot(labels[s : s + data.chunk_size], K)


def initial_params(
    data: Data,
    n_components: int,
    method: str,
    rng: np.random.Generator,
    settings: Settings,
    weights: np.ndarray | None = None,
    means: np.ndarray | None = None,
    covs: np.ndarray | None = None,
) -> Params:
    """Initial weights, means and covariances from ``method``.

    Any of ``weights`` (K,), ``means`` (K, D), ``covs`` (stored as
    ``settings.covariance_type`` stores them) given (host arrays, internal
    units) replaces its computed counterpart; with all three given the method
    is not run. The covariances are the M-step of the covariance type
    (``settings``' floor and ``reg_covar``) from the method's responsibilities.
    """
    K = n_components
    be = data.backend
    if not be.in_process and (weights is None or means is None or covs is None):
        # data on Dask's workers: the method runs here, on a sample gathered
        # from them (all rows when there are no more, so that small data start
        # exactly as in memory), rather than k-means|| on the workers, whose
        # passes over all rows would each be a round trip; the EM that follows
        # uses every row
        rows = sample_rows(K, data.n_features)
        index = data.sample_counted(rows, rng)
        return initial_params(data.subset(index), n_components, method, rng, settings,
                              weights, means, covs)
    if weights is None or means is None or covs is None:
        if method == "random":
            def resp_chunks():
                for Z in data.chunks():
                    r = rng.uniform(size=(K, Z.shape[0]))
                    yield be.asarray(r / r.sum(axis=0))
            stats = _stats_from(data, K, resp_chunks(), settings.covariance)
        else:
            if K == 1:  # one cluster whatever the method: nothing to draw
                labels = np.zeros(data.n_samples, dtype=np.int64)
            elif method == "kmeans":
                labels = kmeans.labels(data, K, rng)
            else:
                if method == "k-means++":
                    centers = kmeans.plusplus(data, K, kmeans.random_state(rng))
                else:  # random_from_data: rows drawn as often as they count
                    w = data.host_weights()
                    centers = data.rows(np.sort(rng.choice(
                        data.n_samples, size=K, replace=False,
                        p=None if w is None else w / w.sum())))
                labels = labels_nearest(data, centers)
            stats = _stats_from(data, K, _one_hot_chunks(data, labels, K),
                                settings.covariance)
        w0, mu0, cov0 = settings.covariance.m_step(be, stats, settings.reg_covar,
                                                   settings.eig_floor)
        weights = w0 if weights is None else be.asarray(weights)
        means = mu0 if means is None else be.asarray(means)
        covs = cov0 if covs is None else be.asarray(covs)
    else:
        weights, means, covs = be.asarray(weights), be.asarray(means), be.asarray(covs)
    return Params(weights, means, covs)
