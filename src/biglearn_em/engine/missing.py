"""Rows with missing values (NaN): their E-step, exact under values missing
at random, written once for every backend.

A row ``y`` with observed coordinates ``o`` and missing ``u`` is explained by
component k through the marginal of its observed part,
``N(y_o; mu_o, S_oo)``, and contributes to the M-step through the expected
sufficient statistics given ``y_o``: the conditional mean

    ``E[y | y_o, k] = mu + S L_o (y - mu)``  (``L_o``: ``inv(S_oo)`` placed in
    the observed block, zeros elsewhere; the observed coordinates come back as
    they are)

and the conditional covariance ``C = S - S L_o S`` (``S_uu - S_uo inv(S_oo) S_ou``
in the missing block, zeros elsewhere), added to the second moments.

Rows are grouped by their missingness *pattern*: the matrices above are
computed once per (pattern, component), from one batched Cholesky
factorisation of ``S`` with its missing block replaced by the identity (whose
inverse is ``inv(S_oo)`` beside an identity, and whose log-determinant is that
of ``S_oo``). The rows of a pattern are laid out in blocks of ``b`` rows (the
last block of a pattern padded with rows of weight 0), so that every product
is one batched matrix product over blocks: no Python loop over rows or
patterns, and the working memory is O(rows x K x m + patterns x K x m^2),
bounded by processing the patterns of a chunk a group at a time.

Two kernels evaluate the same formulas, chosen by the view size m:

- *moments* (m below :data:`FEATURES_BELOW`): a row's log-density under
  (pattern, component) is a linear function of its features ``phi = [1, y~,
  y~_i y~_j (i <= j)]`` (``y~``: the row with its gaps as 0), so the
  log-densities of a block are one product of its features with the block's
  coefficients, and everything the M-step needs is, per (pattern, component),
  the responsibility-weighted sums of those features (one product per block
  again): the expected statistics follow from them in closed form, per
  pattern. No array of rows x K x m;
- *deviations* (larger views): each row's deviations from every component,
  whitened and regressed by batched products over blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.base import Backend

LOG_2PI = float(np.log(2.0 * np.pi))
#: Elements of the per-(pattern, component) matrices one group of patterns may hold.
WORK_SIZE = 1 << 23
#: View sizes below which the moments kernel is used (its m(m+1)/2 features
#: per row stay few).
FEATURES_BELOW = 32


@dataclass
class Layout:
    """Where the rows of one chunk go in the blocked layout (host arrays).

    ``observed`` (P, m) bool: each pattern's observed coordinates;
    ``slots`` (G * b,): the chunk row in each slot, ``n`` (the chunk's row
    count) for a padding slot; ``block_pattern`` (G,): each block's pattern;
    ``pattern_blocks`` (P + 1,): the first block of each pattern (blocks are
    in pattern order); ``b``: rows per block.
    """

    observed: np.ndarray
    slots: np.ndarray
    block_pattern: np.ndarray
    pattern_blocks: np.ndarray
    b: int

    def groups(self, K: int):
        """Consecutive ranges of patterns (start, stop) whose matrices
        (``K m^2`` elements each) fit in :data:`WORK_SIZE` together with their
        blocks (``K b m`` elements each)."""
        P, m = self.observed.shape
        per_pattern = K * m * m
        per_block = K * self.b * m
        start = 0
        while start < P:
            stop, used = start, 0
            while stop < P:
                cost = per_pattern + per_block * int(self.pattern_blocks[stop + 1]
                                                     - self.pattern_blocks[stop])
                if stop > start and used + cost > WORK_SIZE:
                    break
                used += cost
                stop += 1
            yield start, stop
            start = stop


def _pattern_keys(observed: np.ndarray) -> np.ndarray:
    """One sortable key per row of ``observed`` (n, m) bool: an integer for
    m <= 64, else the rows' packed bytes (compared as rows)."""
    packed = np.packbits(observed, axis=1, bitorder="little")
    if packed.shape[1] <= 8:
        wide = np.zeros((len(packed), 8), dtype=np.uint8)
        wide[:, : packed.shape[1]] = packed
        return wide.view(np.uint64).reshape(-1)
    return packed


def layout(observed: np.ndarray) -> Layout:
    """The blocked layout of rows whose observed coordinates are
    ``observed`` (n, m) bool (host): rows sorted by pattern (one stable sort),
    each pattern's rows in blocks of ``b``."""
    n, m = observed.shape
    keys = _pattern_keys(observed)
    if keys.ndim == 1:
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        new = np.concatenate([[True], sk[1:] != sk[:-1]]) if n else np.zeros(0, bool)
    else:  # many features: sort the packed rows
        order = np.lexsort(keys.T[::-1])
        sk = keys[order]
        new = np.concatenate([[True], (sk[1:] != sk[:-1]).any(1)]) if n else np.zeros(0, bool)
    first = np.flatnonzero(new)
    P = len(first)
    counts = np.diff(np.append(first, n))
    # rows per block: padding costs at most a block per pattern, each block a
    # gather of its pattern's coefficients; about half a pattern's mean row
    # count, and one row per block where every row has its own pattern
    b = int(max(1, min(128, n // (2 * max(P, 1)))))
    blocks = -(-counts // b)
    pattern_blocks = np.concatenate([[0], np.cumsum(blocks)])
    sorted_ids = np.cumsum(new) - 1
    within = np.arange(n) - first[sorted_ids]
    slots = np.full(int(pattern_blocks[-1]) * b, n, dtype=np.int64)
    slots[pattern_blocks[sorted_ids] * b + within] = order
    block_pattern = np.repeat(np.arange(P), blocks)
    return Layout(observed[order[first]], slots, block_pattern, pattern_blocks, b)


def dense(covs, m: int, be: Backend):
    """Covariances as a type stores them in a view ((K, m, m), (1, m, m),
    variances (K, m) or (K,)) as matrices (K', m, m)."""
    if covs.ndim == 3:
        return covs
    eye = be.eye(m)
    if covs.ndim == 2:
        return covs[:, :, None] * eye
    return covs[:, None, None] * eye


@dataclass
class Conditionals:
    """Per (pattern, component) of one group of patterns, arrays of the backend
    (a tied covariance: one component): ``log_det`` (P, K): ``log det S_oo``;
    ``precision`` (P, K, m, m): ``L_o``, ``inv(S_oo)`` in the observed block,
    zeros elsewhere; ``regression`` (P, K, m, m): ``L_o S`` (a row ``d`` of
    deviations, zero where missing, maps to ``E[y | y_o] - mu = d @ regression``);
    ``residual`` (P, K, m, m): the conditional covariance ``S - S L_o S``, or None."""

    log_det: Any
    precision: Any
    regression: Any
    residual: Any


def conditionals(be: Backend, observed: np.ndarray, covs, residual: bool = True,
                 regression: bool = True) -> Conditionals:
    """The :class:`Conditionals` of patterns ``observed`` (P, m) host bool
    under covariance matrices ``covs`` (K, m, m): one batched inverse of ``S``
    with its missing block replaced by the identity (whose inverse is
    ``inv(S_oo)`` beside an identity, whose determinant is ``det S_oo``)."""
    P, m = observed.shape
    K = covs.shape[0]
    obs = be.asarray(observed.astype(np.float64))
    both = obs[:, :, None] * obs[:, None, :]  # (P, m, m): the observed block
    gap = be.eye(m) * (1.0 - obs)[:, None, :]  # the identity on the missing block
    masked = both[:, None] * covs[None] + gap[:, None]  # (P, K, m, m)
    blocks = masked.reshape(P * K, m, m)
    try:
        inv, log_det = be.spd_inverse(blocks)
    except (np.linalg.LinAlgError, RuntimeError):  # torch's LinAlgError is a RuntimeError
        inv, log_det = be.spd_inverse(_conditioned(be, blocks))
    prec = inv.reshape(P, K, m, m) * both[:, None]
    if not regression:  # the moments kernel needs the precisions only
        return Conditionals(log_det.reshape(P, K), prec, None, None)
    reg = prec @ covs[None]
    res = covs[None] - covs[None] @ reg if residual else None
    return Conditionals(log_det.reshape(P, K), prec, reg, res)


def _conditioned(be: Backend, blocks):
    """``blocks`` (B, m, m) with their eigenvalues clipped at 1e-12 of their
    size. A whole covariance can pass the repair test and still have observed
    blocks too ill-conditioned to factorise: without a floor, a component that
    lost its rows came back with entries near 1e16 (eigenvalues 4 to 4e16),
    and one 2 x 2 block of it had a computed eigenvalue of -1e-14."""
    size = be.einsum("bii->b", blocks * blocks) ** 0.5  # the Frobenius norm of the diagonal
    size = size[:, None, None]
    return be.floor_eigenvalues(blocks / size, 1e-12) * size


def empty_rows(n: int) -> ValueError:
    """The error for ``n`` rows of X with nothing observed (a fit's, or a prediction's)."""
    one = n == 1
    return ValueError(f"X has {n} row{'' if one else 's'} with no observed value (all NaN); "
                      f"a row needs at least one observed feature: drop {'it' if one else 'them'}.")


def may_have_gaps(be: Backend, Z) -> bool:
    """False when chunk ``Z`` surely has no NaN: its sum, one cheap reduction,
    is not NaN (a NaN propagates into it; the rare false alarm, infinities of
    both signs, costs an exact test)."""
    total = be.item(Z.sum())
    return total != total


def fill_gaps(be: Backend, Z, gaps=None) -> Any:
    """``Z`` with its NaNs as 0 (a copy when there are any); ``gaps``: the
    mask ``Z != Z`` when the caller has it already."""
    gaps = Z != Z if gaps is None else gaps
    if not bool(gaps.any()):
        return Z
    Z = be.copy(Z)
    Z[gaps] = 0.0
    return Z


def _filled(be: Backend, Y):
    """``Y`` with its NaNs as 0, as a float64 array of the backend, and the
    observed mask (n, m) as a host bool array."""
    gaps = Y != Y
    return be.asarray(fill_gaps(be, Y, gaps)), ~be.to_numpy(gaps)


@dataclass
class Group:
    """The rows of the patterns [start, stop) of one chunk, in blocks
    (arrays of the backend unless said): ``rows`` (G, b, m), gaps and padding
    as 0; ``obs`` (G, m) each block's observed coordinates as 0/1;
    ``weights`` (G, b), 0 on padding; ``valid`` (G, b), 1 on rows and 0 on
    padding; ``slots`` (G b,) host: the chunk row of each slot (n: padding);
    ``bp`` (G,): each block's pattern, counted from ``start``; ``starts``
    (P,) host: the first block of each pattern, counted from the group's first;
    ``phi`` (G, b, f): the rows' features (moments kernel), or None."""

    start: int
    stop: int
    rows: Any
    obs: Any
    weights: Any
    valid: Any
    slots: np.ndarray
    bp: Any
    starts: np.ndarray
    phi: Any = None


@dataclass
class Prepared:
    """A chunk of rows with gaps laid out for its E-steps: everything that does
    not depend on the parameters, so that a fit computes it once per chunk
    (:meth:`biglearn_em.engine.data.Data.prepared`)."""

    layout: Layout
    groups: list
    n_features: int
    nbytes: int


def prepare(be: Backend, Y, w, K: int, features: bool = True) -> Prepared:
    """Lay out chunk ``Y`` (n, m), NaN where missing, with weights ``w`` (n,)
    or None, for E-steps with ``K`` components; ``features``: also the rows'
    features of the moments kernel (the E-step's; log-densities and
    completions do without)."""
    n, m = Y.shape
    Y0, observed = _filled(be, Y)
    lay = layout(observed)
    pad = be.concat([Y0, be.zeros((1, m))])
    w_pad = None if w is None else be.concat([be.asarray(w), be.zeros(1)])
    groups, nbytes = [], 0
    for start, stop in lay.groups(K):
        g0, g1 = int(lay.pattern_blocks[start]), int(lay.pattern_blocks[stop])
        G, b = g1 - g0, lay.b
        slots = lay.slots[g0 * b : g1 * b]
        idx = be.index(slots)
        rows = pad[idx].reshape(G, b, m)
        bp = lay.block_pattern[g0:g1] - start
        obs = be.asarray(lay.observed[start:stop].astype(np.float64))[be.index(bp)]
        valid = be.asarray((slots < n).astype(np.float64)).reshape(G, b)
        weights = valid if w_pad is None else w_pad[idx].reshape(G, b)
        starts = lay.pattern_blocks[start:stop] - lay.pattern_blocks[start]
        phi = _features(be, rows) if features and m < FEATURES_BELOW else None
        group = Group(start, stop, rows, obs, weights, valid, slots, be.index(bp), starts, phi)
        nbytes += 8 * (G * b * (2 * m + 2) + (0 if phi is None else phi.shape[-1] * G * b))
        groups.append(group)
    return Prepared(lay, groups, m, nbytes)


def _feature_columns(index: np.ndarray, m: int) -> np.ndarray:
    """The columns of the features of m coordinates that are the features of
    the coordinates ``index`` (sorted)."""
    i, j = _triu(m)
    position = np.full((m, m), -1)
    position[i, j] = np.arange(len(i))
    vi, vj = _triu(len(index))
    return np.concatenate([[0], 1 + index, 1 + m + position[index[vi], index[vj]]])


def e_step(be: Backend, Y, w, weights, means, covs, stats, log_scale: float,
           diagonal: bool, prepared: Prepared | None = None, index=None) -> None:
    """Add the E-step of chunk ``Y`` (n, m), NaN where missing, to ``stats``
    (shifted by ``stats.centers``): expected sufficient statistics given each
    row's observed part; ``w`` (n,): frequency weights or None. ``stats.ll``
    gains ``sum_n w_n (log p(y_n,o) + (m - |o_n|) log_scale)``, so
    that ``ll / n - m log_scale`` is the mean log-likelihood of the observed
    values in the units of the data whatever each row observes.

    ``prepared``: the chunk laid out already (:func:`prepare`, ``Y`` and ``w``
    are then not read); ``index`` (host, sorted): the coordinates of a marginal
    view of the prepared chunk (None: all of them).
    """
    K = means.shape[0]
    if prepared is None:
        prepared = prepare(be, Y, w, K)
    full_m = prepared.n_features
    if index is None:
        m, cols, feat = full_m, None, None
    else:
        m, cols = len(index), be.index(index)
        feat = be.index(_feature_columns(np.asarray(index), full_m))
    covs = dense(covs, m, be)  # (K, m, m), or (1, m, m) tied: broadcast below
    log_weights = be.log(weights)
    s1 = be.zeros((K, m))
    s2 = be.zeros((K, m, m))
    for grp in prepared.groups:
        observed = prepared.layout.observed[grp.start : grp.stop]
        rows, obs, bp = grp.rows, grp.obs, grp.bp
        if cols is not None:
            observed = observed[:, index]
            rows, obs = rows[:, :, cols], obs[:, cols]
        moments = m < FEATURES_BELOW
        cond = conditionals(be, observed, covs, regression=not moments)
        G, b = grp.weights.shape
        n_obs = obs.sum(-1)[:, None] * grp.valid  # (G, b), 0 on padding
        if moments:
            phi = grp.phi if cols is None or grp.phi is None else grp.phi[:, :, feat]
            if phi is None:
                phi = _features(be, rows)
            theta = _coefficients(be, cond, be.asarray(observed.astype(np.float64)),
                                  log_weights, means)
            log_resp = (phi @ theta[bp]).reshape(G * b, K).T  # (K, G b)
        else:
            d, lp = _log_prob(be, rows, obs, log_weights, means, cond, bp)
            log_resp = lp.swapaxes(0, 1).reshape(K, G * b)
        norm = be.log_normalize(log_resp)
        flat_w = grp.weights.reshape(G * b)
        ll_rows = norm + (m - n_obs.reshape(G * b)) * log_scale
        # rows of weight 0 (padding included) add nothing, even a -inf
        stats.ll += be.item((flat_w * ll_rows)[flat_w > 0].sum())
        stats.n += be.item(flat_w.sum())
        resp = be.exp(log_resp) * flat_w[None]  # (K, G b)
        if moments:
            per_block = resp.reshape(K, G, b).swapaxes(0, 1) @ phi  # (G, K, f)
            sums = be.segment_sums(per_block, grp.starts)  # (P, K, f)
            nk, t1, t2 = _expected(be, sums, cond, means, stats.centers, covs)
            stats.nk += nk
            s1 += t1
            s2 += t2
            continue
        expected = means[None, :, None, :] + d @ cond.regression[bp]  # (G, K, b, m)
        dev = (expected - stats.centers[None, :, None, :]).swapaxes(0, 1).reshape(K, G * b, m)
        stats.nk += resp.sum(1)
        s1 += be.einsum("kn,knm->km", resp, dev)
        s2 += (dev * resp[:, :, None]).swapaxes(1, 2) @ dev
        per_pattern = be.segment_sums(resp.reshape(K, G, b).sum(-1).T, grp.starts)  # (P, K)
        s2 += be.einsum("pk,pkij->kij", per_pattern, _per_component(be, cond.residual, K))
    stats.s1 += s1
    stats.s2 += s2.diagonal(0, -2, -1) if diagonal else s2


def _log_prob(be, rows, obs, log_weights, means, cond: Conditionals, bp):
    """Per block: the deviations ``d`` (G, K, b, m), zero where missing, and
    ``log pi_k + log N(y_o; mu_o, S_oo)`` (G, K, b)."""
    K = means.shape[0]
    d = (rows[:, None] - means[None, :, None, :]) * obs[:, None, None, :]
    quad = ((d @ _per_component(be, cond.precision, K)[bp]) * d).sum(-1)
    n_obs = obs.sum(-1)  # (G,) observed coordinates of each block's pattern
    log_det = _per_component(be, cond.log_det[:, :, None, None], K)[..., 0, 0]
    lp = -0.5 * (quad + n_obs[:, None, None] * LOG_2PI + log_det[bp][:, :, None])
    return d, lp + log_weights[None, :, None]


def _per_component(be: Backend, a, K: int):
    """(P, K', ...) arrays of one tied matrix (K' = 1) repeated for K
    components (by broadcasting: no test of the array's kind)."""
    return a if a.shape[1] == K else a + be.zeros((1, K) + tuple(a.shape[2:]))


def _triu(m: int):
    return np.triu_indices(m)


def _features(be: Backend, rows):
    """``[1, y, y_i y_j (i <= j)]`` of rows (G, b, m) with gaps as 0: (G, b, f)."""
    G, b, m = rows.shape
    i, j = _triu(m)
    phi = be.zeros((G, b, 1 + m + len(i)))
    phi[:, :, 0] = 1.0
    phi[:, :, 1 : m + 1] = rows
    phi[:, :, m + 1 :] = rows[:, :, be.index(i)] * rows[:, :, be.index(j)]
    return phi


def _coefficients(be: Backend, cond: Conditionals, obs, log_weights, means):
    """Per pattern the (f, K) coefficients of the features in
    ``log pi_k + log N(y_o; mu_o, S_oo)`` (P, f, K)."""
    K, m = means.shape
    i, j = _triu(m)
    prec = _per_component(be, cond.precision, K)  # (P, K, m, m), zero outside the observed block
    lin = (prec @ means[None, :, :, None])[..., 0]  # Lambda_o mu (P, K, m)
    log_det = _per_component(be, cond.log_det[:, :, None], K)[..., 0]
    const = log_weights[None] - 0.5 * ((lin * means[None]).sum(-1) + log_det
                                        + obs.sum(-1)[:, None] * LOG_2PI)
    quad = prec[:, :, be.index(i), be.index(j)] * be.asarray(np.where(i == j, -0.5, -1.0))
    P = prec.shape[0]
    theta = be.zeros((P, K, 1 + m + len(i)))
    theta[:, :, 0] = const
    theta[:, :, 1 : m + 1] = lin
    theta[:, :, m + 1 :] = quad
    return theta.swapaxes(1, 2)


def _expected(be: Backend, moments, cond: Conditionals, means, centers, covs):
    """The expected statistics (nk (K,), s1 (K, m), s2 (K, m, m), shifted by
    ``centers``) from the per (pattern, component) responsibility-weighted
    sums of the features (P, K, f), under covariances ``covs`` (K, m, m) or
    (1, m, m).

    With ``L`` a pattern's precision (``inv(S_oo)`` in the observed block) and
    ``y~`` a row with its gaps as 0, the conditional mean is
    ``E[y | y_o] = mu + (y~ - mu) L S`` and the conditional covariance
    ``S - S L S``. Every term carries ``S`` outside the sum over patterns, so
    the sums are taken first and ``S`` applied once per component:
    ``s1 = F + N d`` and ``s2 = S Q S + N S + F.T d + d.T F + N d.T d`` with
    ``d = mu - c``, ``g = M1 L``, ``h = mu L``, ``F = sum_p (g - M0 h) S`` and
    ``Q = sum_p (L M2 L - g.T h - h.T g + M0 h.T h - M0 L)``: per pattern two
    products of m x m matrices, not four."""
    K, m = means.shape
    i, j = _triu(m)
    M0 = moments[..., 0]  # (P, K)
    M1 = moments[..., 1 : m + 1]  # (P, K, m)
    M2 = be.zeros(tuple(M0.shape) + (m, m))
    M2[:, :, be.index(i), be.index(j)] = moments[..., m + 1 :]
    M2[:, :, be.index(j), be.index(i)] = moments[..., m + 1 :]
    L = _per_component(be, cond.precision, K)  # (P, K, m, m)
    P = L.shape[0]
    g = (M1[..., None, :] @ L)[..., 0, :]  # (P, K, m)
    h = (means[None, :, None, :] @ L)[..., 0, :]
    sigma = covs + be.zeros((K, m, m))  # one tied matrix for every component
    N = M0.sum(0)
    d = means - centers
    F = (((g - M0[..., None] * h).sum(0))[:, None, :] @ sigma)[:, 0, :]  # (K, m)
    gk, hk, M0k = g.swapaxes(0, 1), h.swapaxes(0, 1), M0.T  # (K, P, m), (K, P)
    gh = gk.swapaxes(1, 2) @ hk
    Q = ((L @ M2 @ L).sum(0) - gh - gh.swapaxes(1, 2)
         + (hk * M0k[:, :, None]).swapaxes(1, 2) @ hk
         - (M0k[:, None, :] @ L.swapaxes(0, 1).reshape(K, P, m * m)).reshape(K, m, m))
    cross = F[:, :, None] * d[:, None, :]
    s2 = (sigma @ Q @ sigma + N[:, None, None] * sigma + cross + cross.swapaxes(1, 2)
          + N[:, None, None] * (d[:, :, None] * d[:, None, :]))
    return N, F + N[:, None] * d, s2


def _rows_by_blocks(be: Backend, Y, weights, means, covs, want_expected: bool,
                    prepared: Prepared | None = None):
    """For rows ``Y`` (n, m) with NaN (or laid out already: ``prepared``): per
    group of patterns, the host slots, log-probabilities (K, G b) and, with
    ``want_expected``, the conditional means (K, G b, m)."""
    K = means.shape[0]
    if prepared is None:
        prepared = prepare(be, Y, None, K, features=False)
    m = prepared.n_features
    covs = dense(covs, m, be)
    log_weights = be.log(weights)
    for grp in prepared.groups:
        observed = prepared.layout.observed[grp.start : grp.stop]
        cond = conditionals(be, observed, covs, residual=False)
        d, lp = _log_prob(be, grp.rows, grp.obs, log_weights, means, cond, grp.bp)
        G, _, b = lp.shape
        log_prob = lp.swapaxes(0, 1).reshape(K, G * b)
        expected = None
        if want_expected:
            regression = _per_component(be, cond.regression, K)
            expected = means[None, :, None, :] + d @ regression[grp.bp]
            expected = expected.swapaxes(0, 1).reshape(K, G * b, m)
        yield grp.slots, log_prob, expected


def log_prob(be: Backend, Y, weights, means, covs):
    """``log pi_k + log N(y_n,o; mu_o, S_oo)`` of rows ``Y`` (n, m) with NaN
    where missing, component-major (K, n)."""
    n = Y.shape[0]
    out = be.zeros((means.shape[0], n + 1))  # column n: the padding's
    for slots, lp, _ in _rows_by_blocks(be, Y, weights, means, covs, False):
        out[:, be.index(slots)] = lp
    return out[:, :n]


def complete(be: Backend, Y, weights, means, covs, prepared: Prepared | None = None):
    """Rows ``Y`` (n, m) with each NaN replaced by its conditional mean given
    the row's observed values under the mixture: ``sum_k P(k | y_o) E[y | y_o, k]``
    (float64 (n, m)); ``prepared``: ``Y`` laid out already (:func:`prepare`)."""
    n, m = Y.shape
    out = be.zeros((n + 1, m))
    for slots, lp, expected in _rows_by_blocks(be, Y, weights, means, covs, True, prepared):
        be.log_normalize(lp)
        out[be.index(slots)] = be.einsum("kn,knm->nm", be.exp(lp), expected)
    # the observed values exactly as they are (the products return them to rounding)
    filled = be.asarray(be.copy(Y))
    gaps = filled != filled
    filled[gaps] = out[:n][gaps]
    return filled
