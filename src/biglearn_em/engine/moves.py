"""Split-and-merge proposals (after Ueda, Nakano, Ghahramani & Hinton, "SMEM
algorithm for mixture models", 2000): the moves that repair what EM leaves
behind on grids and unequal weights, two components sharing one cluster
while another covers two.

A proposal merges a pair (i, j) that costs little to merge (its two
components model what one Gaussian models about as well) and splits a
component k whose rows look like two clusters, giving k's second
half the slot freed by the merge. Whether rows look like two is measured
directly: the rows each component owns are cut in two by a few 2-means
iterations started along its principal axis, and the gain is the rise of the
Gaussian log-likelihood of those rows when they are modelled by the two
halves (weights included). The loop (:mod:`biglearn_em.engine.loop`) runs plain EM from each
proposal and keeps it only if the training log-likelihood rises.

One pass over the data gives the owner of every row (kept, N integers); the
cuts are passes over the rows chunk by chunk on the host, so their memory is
a chunk, one flag per row and a few (2K, D, D) arrays, never a copy of the
data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from .data import Data, Params
from .step import safe_precision_cholesky
from .views import joint_view

if TYPE_CHECKING:
    from .covariance import CovarianceType

#: Rows a component needs (times D + 1) before a split of it is considered.
MIN_ROWS_PER_DIM = 2


@dataclass
class Split:
    """Component ``k`` cut into two halves: weights (2,) as fractions of k's,
    means (2, D) and covariances (2, D, D); ``gain`` is the rise of the
    log-likelihood of k's rows."""

    k: int
    gain: float
    fractions: np.ndarray
    means: np.ndarray
    covs: np.ndarray


def owners(data: Data, params: Params, covariance: CovarianceType) -> np.ndarray:
    """The most probable component of every row (N,), from one pass over ``data``."""
    be = data.backend
    _, prec_chol, _ = safe_precision_cholesky(be, params.covs, 0.0)
    K, D = params.means.shape
    wh = be.whitener(params.weights, params.means, covariance.factors(be, prec_chol, K, D))
    return np.concatenate([be.to_numpy(be.log_prob(Y, wh).argmax(0))
                           for Y in data.chunks(joint_view(data.n_features))])


def splits(chunks: Callable[[], Iterator[np.ndarray]], owners: np.ndarray, K: int,
           floor: float, iterations: int = 10, weights: np.ndarray | None = None
           ) -> list[Split]:
    """The best 2-way cut of the rows of every component, ordered by gain.

    Each component's rows are cut along their principal axis, through their
    mean, then by up to ``iterations`` 2-means (Lloyd) iterations; a component
    is cut only with at least ``2 MIN_ROWS_PER_DIM (D + 1)`` rows, and a cut
    whose smaller half has fewer than half that many gains ``-inf``. Every
    step is a pass over the rows chunk by chunk (memory: a chunk and
    ``2 K D^2`` numbers, plus the owners and one side flag per row).

    Parameters
    ----------
    chunks : callable
        Returns an iterator over the rows (internal coordinates) in chunks,
        each of shape (n, D), the same rows in the same order at every call.
    owners : ndarray of shape (N,)
        The most probable component of each row.
    K : int
    floor : float
        Eigenvalue floor of the halves' covariances.
    weights : ndarray of shape (N,) or None
        The rows' frequency weights: a row counts as that many copies of
        itself in every count, sum and scatter (None: once).
    """
    D = next(chunks()).shape[1]
    # pass 1 and 2: each component's mean and covariance, hence its principal axis
    counts, sums = _group_sums(chunks, owners, K, D, weights)
    means = sums / _nonzero(counts)[:, None]
    covs = _group_scatter(chunks, owners, means, weights) / _nonzero(counts)[:, None, None]
    # enough rows to estimate a covariance: rows, not weights (which may be on any scale)
    counted = owners if weights is None else owners[weights > 0]
    wanted = np.bincount(counted, minlength=K) >= 2 * MIN_ROWS_PER_DIM * (D + 1)
    axes = np.linalg.eigh(covs)[1][:, :, -1]
    # the side of every row: True for the first half (group 2k), False for the second (2k + 1)
    side = np.zeros(len(owners), dtype=bool)

    def groups() -> np.ndarray:
        return 2 * owners + (~side).astype(owners.dtype)

    _assign(chunks, owners, side, lambda Z, own, old: ((Z - means[own]) * axes[own]).sum(1) > 0)
    for _ in range(iterations):
        n2, s2 = _group_sums(chunks, groups(), 2 * K, D, weights)
        frozen = (n2.reshape(K, 2) == 0).any(1)  # one side is empty: nothing to iterate
        centres = (s2 / _nonzero(n2)[:, None]).reshape(K, 2, D)

        def nearest(Z, own, old, centres=centres, frozen=frozen):
            c = centres[own]
            closer = ((Z - c[:, 0]) ** 2).sum(1) < ((Z - c[:, 1]) ** 2).sum(1)
            return np.where(frozen[own], old, closer)

        if not _assign(chunks, owners, side, nearest):
            break
    n2, s2 = _group_sums(chunks, groups(), 2 * K, D, weights)
    half_means = s2 / _nonzero(n2)[:, None]
    half_covs = (_group_scatter(chunks, groups(), half_means, weights)
                 / _nonzero(n2)[:, None, None])
    half_rows = np.bincount(groups() if weights is None else groups()[weights > 0],
                            minlength=2 * K).reshape(K, 2)
    n2, half_means = n2.reshape(K, 2), half_means.reshape(K, 2, D)
    half_covs = half_covs.reshape(K, 2, D, D)
    out = []
    for k in np.flatnonzero(wanted):
        n = counts[k]
        if half_rows[k].min() < MIN_ROWS_PER_DIM * (D + 1):
            out.append(Split(int(k), -np.inf, np.array([0.5, 0.5]),
                             np.stack([means[k], means[k]]), np.stack([covs[k], covs[k]])))
            continue
        # Gaussian log-likelihood of the rows: -n/2 (log det S + D log 2 pi e) per model
        whole = -0.5 * n * _log_det(covs[k], floor)
        parts = sum(-0.5 * c * _log_det(S, floor) + c * np.log(c / n)
                    for c, S in zip(n2[k], half_covs[k]))
        out.append(Split(int(k), float(parts - whole), n2[k] / n, half_means[k].copy(),
                         half_covs[k].copy()))
    out.sort(key=lambda s: -s.gain)
    return out


def _nonzero(counts: np.ndarray) -> np.ndarray:
    """The counts, 1 where a group is empty (its sums are 0: a 0 centre, not 0 / 0)."""
    return np.where(counts > 0, counts, 1)


def _group_sums(chunks, groups: np.ndarray, G: int, D: int, weights: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Rows per group (G,) and their sums (G, D), in one pass (weighted
    counts and sums with ``weights``)."""
    if weights is None:
        counts = np.bincount(groups, minlength=G).astype(float)
    else:
        counts = np.bincount(groups, weights=weights, minlength=G)
    sums = np.zeros((G, D))
    start = 0
    for Z in chunks():
        g = groups[start:start + len(Z)]
        w = np.ones(len(Z)) if weights is None else weights[start:start + len(Z)]
        start += len(Z)
        sums += sparse.csr_matrix((w, (g, np.arange(len(Z)))), shape=(G, len(Z))) @ Z
    return counts, sums


def _group_scatter(chunks, groups: np.ndarray, centres: np.ndarray,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Sum over each group's rows of (z - c)(z - c)^T about its centre, (G, D, D),
    in one pass (each row times its weight with ``weights``)."""
    G, D = centres.shape
    scatter = np.zeros((G, D, D))
    start = 0
    for Z in chunks():
        g = groups[start:start + len(Z)]
        start += len(Z)
        order = np.argsort(g, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(g, minlength=G))])
        for k in np.flatnonzero(np.diff(bounds)):
            rows = order[bounds[k]:bounds[k + 1]]
            C = Z[rows] - centres[k]
            if weights is None:
                scatter[k] += C.T @ C
            else:
                scatter[k] += C.T @ (C * weights[start - len(Z) + rows][:, None])
    return scatter


def _assign(chunks, owners: np.ndarray, side: np.ndarray, rule) -> bool:
    """Set ``side`` (N,) in place to ``rule(Z, owners, side)`` of each chunk's
    rows; return whether any row changed side."""
    changed, start = False, 0
    for Z in chunks():
        rows = slice(start, start + len(Z))
        start += len(Z)
        new = rule(Z, owners[rows], side[rows])
        changed = changed or not np.array_equal(new, side[rows])
        side[rows] = new
    return changed


def _log_det(cov: np.ndarray, floor: float) -> float:
    values = np.linalg.eigvalsh(cov)
    return float(np.log(np.maximum(values, max(floor, 1e-300))).sum())


def merge_costs(weights: np.ndarray, means: np.ndarray, covs: np.ndarray, n_rows: float,
                floor: float) -> np.ndarray:
    """What merging each pair would cost, in nats: the Gaussian log-likelihood of
    the pair's share of ``n_rows`` rows under the two components (with their
    relative weights) less that under one Gaussian with the pair's first two
    moments; shape (K, K), ``inf`` on the diagonal. Two components that share
    one cluster cost little; two that model different clusters cost much."""
    K = len(weights)
    log_dets = np.array([_log_det(S, floor) for S in covs])
    counts = weights * n_rows
    cost = np.full((K, K), np.inf)
    for i in range(K):
        for j in range(i + 1, K):
            total = counts[i] + counts[j]
            if total <= 0:
                continue
            fi, fj = counts[i] / total, counts[j] / total
            m = fi * means[i] + fj * means[j]
            di, dj = means[i] - m, means[j] - m
            S = fi * (covs[i] + np.outer(di, di)) + fj * (covs[j] + np.outer(dj, dj))
            separate = sum(c * (np.log(max(f, 1e-300)) - 0.5 * ld) for c, f, ld in
                           ((counts[i], fi, log_dets[i]), (counts[j], fj, log_dets[j])))
            cost[i, j] = cost[j, i] = separate + 0.5 * total * _log_det(S, floor)
    return cost


def proposals(costs: np.ndarray, cuts: list[Split], n_proposals: int
              ) -> list[tuple[int, int, int]]:
    """The ``n_proposals`` most promising (i, j, k): merge i and j, split k.

    Pairs are ranked by their merge cost (:func:`merge_costs`, cheapest
    first), splits by gain; the proposals interleave the best pairs with the
    best splits (pair 1 with split 1, pair 1 with split 2, pair 2 with split 1,
    ...), skipping those whose k is i or j.
    """
    K = costs.shape[0]
    useful = [c for c in cuts if c.gain > 0]
    if K < 3 or not useful:
        return []
    pairs = sorted(((costs[i, j], i, j) for i in range(K) for j in range(i + 1, K)),
                   key=lambda p: p[0])
    ranked = []
    for rank in range(2 * n_proposals):
        for p in range(rank + 1):
            s = rank - p
            if p < len(pairs) and s < len(useful):
                ranked.append((pairs[p][1], pairs[p][2], useful[s].k))
    out = []
    for i, j, k in ranked:
        if k not in (i, j) and (i, j, k) not in out:
            out.append((i, j, k))
        if len(out) == n_proposals:
            break
    return out


def apply(weights: np.ndarray, means: np.ndarray, covs: np.ndarray,
          move: tuple[int, int, int], cut: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The parameters after merging i and j into slot i (the first two moments
    of the pair) and splitting k into slots k and j (``cut``'s halves); host
    arrays, shapes as given."""
    i, j, k = move
    w, mu, S = weights.copy(), means.copy(), covs.copy()
    wi, wj = w[i], w[j]
    total = wi + wj
    m = (wi * mu[i] + wj * mu[j]) / total
    di, dj = mu[i] - m, mu[j] - m
    S[i] = (wi * (covs[i] + np.outer(di, di)) + wj * (covs[j] + np.outer(dj, dj))) / total
    w[i], mu[i] = total, m
    place_halves(w, mu, S, k, j, cut, weights[k])
    return w, mu, S


def place_halves(weights: np.ndarray, means: np.ndarray, covs: np.ndarray, k: int, slot: int,
                 cut: Split, weight: float) -> None:
    """Put ``cut``'s halves of a component of ``weight`` into slots ``k`` and
    ``slot`` of the host arrays (in place): a move's split, and the nested
    model search's growth of K - 1 components into K."""
    weights[k], weights[slot] = weight * cut.fractions
    means[k], means[slot] = cut.means
    covs[k], covs[slot] = cut.covs
