"""k-means++ seeding and Lloyd's k-means, written once over the backend
interface, so that a seed starts a fit at the same place on NumPy, on torch
(any device) and on Dask (whose start is computed on rows gathered here).

The algorithm is scikit-learn's, so that host fits start where they started
when the host used scikit-learn's ``KMeans``: greedy k-means++ (each new
centre the best of ``2 + floor(log K)`` candidates drawn in proportion to the
squared distance to the nearest centre), then Lloyd's iterations until the
labels stop changing or the centres move by at most ``1e-4`` times the mean
feature variance in total, an empty cluster taking the rows farthest from
their centres. Every random draw comes from one ``RandomState`` on the host,
seeded from the fit's generator, in scikit-learn's order; the distances are
computed on the data's backend, chunk by chunk, in float64 (whatever the
compute dtype: a float32 cumulative sum would skew the draws of large data),
and only what a draw needs comes to the host: the N distances to the nearest
centre and the candidates' potentials, once per centre.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .data import Data

#: Lloyd's iterations at most, and the total squared shift of the centres,
#: relative to the mean feature variance, below which they stop (scikit-learn's).
MAX_ITER = 300
TOL = 1e-4


def random_state(rng: np.random.Generator) -> np.random.RandomState:
    """The legacy generator of one k-means run, seeded from the fit's generator
    (one draw, whatever the backend)."""
    return np.random.RandomState(int(rng.integers(np.iinfo(np.int32).max)))


def sq_distances(Z, centers) -> Any:
    """Squared distances (n, c) of chunk rows (n, D) to ``centers`` (c, D) of
    the same backend, in the chunk's dtype, clipped at 0 (rounding can make a
    row's distance to itself slightly negative)."""
    z2 = (Z * Z).sum(1)
    c2 = (centers * centers).sum(1)
    d = z2[:, None] - 2.0 * (Z @ centers.T) + c2[None, :]
    d[d < 0] = 0
    return d


def plusplus(data: Data, n_components: int, rs: np.random.RandomState) -> Any:
    """k-means++ centres (K, D), float64 arrays of the data's backend, in
    internal coordinates."""
    be = data.backend
    N, K = data.n_samples, n_components
    trials = 2 + int(np.log(K))
    # weighted rows count as their copies: drawn, and weigh in the potential, that often
    w = data.host_weights()
    on = None if w is None else be.asarray(w)
    first = rs.choice(N, p=np.ones(N) / N if w is None else w / w.sum())
    centers = [data.rows(np.array([first]))]
    closest = _distances(data, centers[0])[:, 0]
    host = be.to_numpy(closest if on is None else closest * on)
    potential = host.sum()
    for _ in range(1, K):
        draws = rs.uniform(size=trials) * potential
        picks = np.searchsorted(np.cumsum(host), draws)
        np.clip(picks, None, N - 1, out=picks)
        candidates = data.rows(picks)
        dist = be.minimum(closest[:, None], _distances(data, candidates))
        potentials = be.to_numpy((dist if on is None else dist * on[:, None]).sum(0))
        best = int(np.argmin(potentials))
        potential, closest = potentials[best], dist[:, best]
        host = be.to_numpy(closest if on is None else closest * on)
        centers.append(candidates[best : best + 1])
    return be.asarray(be.concat(centers))


def labels(data: Data, n_components: int, rng: np.random.Generator) -> Any:
    """Labels (N,) of Lloyd's k-means from k-means++ centres, an integer array
    of the data's backend."""
    rs = random_state(rng)
    centers = plusplus(data, n_components, rs)
    return _lloyd(data, centers, TOL * _mean_variance(data))


def _distances(data: Data, centers) -> Any:
    """Squared distances (N, c) of every row to ``centers``, float64 on the backend."""
    be = data.backend
    c = be.data_array(centers)
    return be.asarray(be.concat([sq_distances(Z, c) for Z in data.chunks()]))


def _mean_variance(data: Data) -> float:
    """The mean over the features of the rows' variance (internal units)."""
    be = data.backend
    sums, squares = be.zeros(data.n_features), be.zeros(data.n_features)
    for Z, w in zip(data.chunks(), data.weight_chunks()):
        Z = be.asarray(Z)
        if w is None:
            sums += Z.sum(0)
            squares += (Z * Z).sum(0)
        else:
            sums += w @ Z
            squares += w @ (Z * Z)
    N = data.total_weight()
    mean = be.to_numpy(sums) / N
    return float(np.mean(np.maximum(be.to_numpy(squares) / N - mean**2, 0.0)))


def _assign(data: Data, centers, sums=None, counts=None) -> tuple[Any, Any]:
    """The nearest centre (N,) of every row and the squared distance (N,) to
    it; with ``sums`` (K, D) and ``counts`` (K,), also each centre's sum and
    count of rows added to them, in the same pass over the chunks."""
    be = data.backend
    c = be.data_array(centers)
    nearest, dist = [], []
    for Z, w in zip(data.chunks(), data.weight_chunks()):
        labels_, d = be.row_argmin(sq_distances(Z, c))
        nearest.append(labels_)
        dist.append(d)
        if sums is not None:
            resp_t = be.one_hot(labels_, c.shape[0])
            if w is not None:  # counts and sums of the rows' copies
                resp_t = resp_t * w
            sums += resp_t @ be.asarray(Z)
            counts += resp_t.sum(1)
    return be.concat(nearest), be.concat(dist)


def _lloyd(data: Data, centers, tol: float) -> Any:
    """Lloyd's iterations from ``centers`` (K, D); returns the labels of the
    final centres."""
    be = data.backend
    K = centers.shape[0]
    previous = None
    for _ in range(MAX_ITER):
        sums, counts = be.zeros(centers.shape), be.zeros(K)
        assigned, dist = _assign(data, centers, sums, counts)
        host_counts = be.to_numpy(counts)
        empty = np.flatnonzero(host_counts == 0)
        if len(empty):
            sums, counts = _relocate(data, assigned, dist, empty, sums, counts)
        # a cluster that gave its only row to an empty one keeps its (zero) sum
        # as its centre, as scikit-learn's does, rather than 0 / 0
        new = sums / (counts + (counts == 0))[:, None]
        shift = float(be.to_numpy(((new - centers) ** 2).sum()))
        centers = new
        if previous is not None and bool((assigned == previous).all()):
            return assigned  # the labels of these centres: nothing moved
        if shift <= tol:
            break
        previous = assigned
    return _assign(data, centers)[0]


def _relocate(data: Data, assigned, dist, empty: np.ndarray, sums, counts):
    """Empty clusters take the rows farthest from their centres, one each,
    which leave the clusters they were in."""
    be = data.backend
    w = data.host_weights()
    host = be.to_numpy(dist)
    if w is not None:  # a row that counts for nothing cannot be a cluster
        host = np.where(w > 0, host, -np.inf)
    far = np.argsort(-host, kind="stable")[: len(empty)]
    owners = be.to_numpy(assigned)[far]
    rows = be.asarray(data.rows(far))
    weight = np.ones(len(far)) if w is None else w[far]
    sums, counts = be.copy(sums), be.copy(counts)
    for i, (k, j) in enumerate(zip(empty, owners, strict=True)):
        # a weighted row moves with its weight (1 when unweighted: the same numbers)
        sums[int(j)] -= rows[i] * weight[i] if w is not None else rows[i]
        counts[int(j)] -= float(weight[i])
        sums[int(k)] = rows[i] * weight[i] if w is not None else rows[i]
        counts[int(k)] = float(weight[i])
    return sums, counts
