"""Pure numerics of a Gaussian mixture on NumPy and SciPy:
the kernels of the NumPy backend (:class:`biglearn_em.backends.numpy.NumpyBackend`).

Parameters are float64 NumPy arrays in the engine's internal (centred and
scaled) coordinates; data chunks are float64 or, with ``dtype="float32"``,
float32, and the sufficient statistics are float64 either way. Shapes use
``n`` for the rows of a chunk, ``K`` for components and ``m`` for the
dimension of the current view.

The E-step never builds an ``n x K x m`` array: the whitening matrices of all
components are stacked into one ``m x (K m)`` matrix whose column blocks are
multiplied with the chunk a few components at a time, so the working memory of
one chunk is bounded by ``work_size`` elements whatever ``K`` is.

Three kernels evaluate the same formulas, chosen by the view size m and the
number of components K:

- *quadratic features* (small m, enough components: :func:`uses_features`):
  the features of a chunk, ``G`` (m(m+1)/2 + m + 1, n): the products
  ``y_i y_j`` (i <= j), the coordinates ``y`` and 1, are built once per chunk
  and serve both steps: the log-densities of all components are one product
  ``C G`` (``C`` holds the precisions' upper triangles, their products with
  the means and the constants), and all three statistics (counts, first and
  second moments) one product ``E (G / t).T`` with the unnormalised
  responsibilities ``E`` and the rows' totals ``t``. No K x m x n array and
  no other pass over a (K, n) array than the exponentials' own; the rows are
  shifted by the mean of the component means first, so the expansion
  ``y'Py - 2 y'P mu + mu'P mu`` loses little to cancellation;
- *batched whitening* (other views below ``TRIANGULAR_FROM`` dimensions): the
  whitening matrices of all components stacked into one GEMM, a group of
  components at a time;
- *per component* (from ``TRIANGULAR_FROM`` on): the BLAS/LAPACK routines
  that exploit the triangular and symmetric structure (``trmm``, ``syrk``,
  ``potrf``, ``trtri``), which halves the flops where they dominate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.linalg import lapack
from scipy.linalg.blas import get_blas_funcs

LOG_2PI = np.log(2.0 * np.pi)
#: Elements of scratch memory one chunk may use for the stacked whitening product.
WORK_SIZE = 1 << 21
#: View size from which the per-component triangular/symmetric kernels are used.
TRIANGULAR_FROM = 48
#: An array of a backend, as :class:`SuffStats` holds them: a NumPy array (the
#: NumPy and Dask backends) or a torch tensor (the torch backend).
BackendArray = Any


@lru_cache(maxsize=64)
def triangle(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Of an m x m matrix: the rows and columns of its upper triangle (i <= j,
    ``np.triu_indices(m)``) and the masks of the upper triangle with and
    without the diagonal (m, m), read-only and computed once per m (building
    them costs more than a small view step's arithmetic on them)."""
    rows, cols = np.triu_indices(m)
    upper = np.triu(np.ones((m, m), dtype=bool))
    strict = np.triu(np.ones((m, m), dtype=bool), 1)
    for a in (rows, cols, upper, strict):
        a.flags.writeable = False
    return rows, cols, upper, strict


def uses_features(m: int, K: int) -> bool:
    """Whether the quadratic-feature kernel evaluates a view of m dimensions
    with K components: its m(m+1)/2 features per row must not outnumber the
    K m whitened coordinates of the batched kernel by much (measured on
    2 cores: faster from (m + 1) / 2 <= 2 K on)."""
    return m < TRIANGULAR_FROM and (m + 1) <= 4 * K


def n_features(m: int) -> int:
    """Rows of the features of an m-dimensional chunk (:func:`features`)."""
    return m * (m + 1) // 2 + m + 1


def features(Y: np.ndarray, center: np.ndarray) -> np.ndarray:
    """The features of the rows of ``Y`` (n, m) less ``center`` (m,), in the
    dtype of ``Y``: (m(m+1)/2 + m + 1, n), the products ``y_i y_j`` (i <= j,
    row by row of the upper triangle), then the coordinates ``y``, then 1."""
    n, m = Y.shape
    f = m * (m + 1) // 2
    G = np.empty((f + m + 1, n), dtype=Y.dtype)
    Yt = G[f : f + m]
    np.subtract(Y.T, center.astype(Y.dtype)[:, None], out=Yt)
    row = 0
    for i in range(m):
        np.multiply(Yt[i], Yt[i:], out=G[row : row + m - i])
        row += m - i
    G[-1] = 1.0
    return G


@lru_cache(maxsize=64)
def _half_triangle(m: int) -> np.ndarray:
    """-1/2 on the diagonal, -1 off it, in the order of :func:`triangle`: the
    weights that turn the upper triangle of a precision into the coefficients
    of the quadratic features in ``-0.5 y'Py``."""
    rows, cols = triangle(m)[:2]
    out = np.where(rows == cols, -0.5, -1.0)
    out.flags.writeable = False
    return out


def default_chunk_size(n_features: int) -> int:
    """Rows per chunk so that one chunk of float64 data is about 8 MiB."""
    return max(256, (1 << 20) // max(1, n_features))


def precision_cholesky(covariances: np.ndarray) -> np.ndarray:
    """Upper-triangular factors ``U`` with ``U @ U.T = inv(Sigma)``.

    Parameters
    ----------
    covariances : ndarray of shape (K, m, m), or variances (K, m) or (K,)
        Symmetric positive definite matrices, or the positive variances of
        diagonal (or spherical) covariances.

    Returns
    -------
    prec_chol : ndarray of the shape of ``covariances``
        ``U_k = inv(L_k).T`` where ``L_k`` is the lower Cholesky factor of
        ``Sigma_k`` (scikit-learn's ``precisions_cholesky_`` convention);
        ``1 / sqrt(variance)`` for variances.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a matrix is not positive definite.
    """
    if covariances.ndim < 3:  # variances (K, m) or (K,): the factor is 1 / sqrt
        if not (np.isfinite(covariances).all() and (covariances > 0).all()):
            raise np.linalg.LinAlgError("a variance is not positive")
        return 1.0 / np.sqrt(covariances)
    m = covariances.shape[-1]
    if m < TRIANGULAR_FROM:
        lower = np.linalg.cholesky(covariances)
        # one batched LAPACK call; the inverse of a triangular factor is
        # triangular (np.tril's values, without building its mask each call)
        return np.where(triangle(m)[2], np.swapaxes(np.linalg.inv(lower), -1, -2), 0.0)
    out = np.empty_like(covariances, dtype=float)
    for k, cov in enumerate(covariances):
        # a C-ordered symmetric matrix is its own F-ordered transpose: the
        # upper factor of cov read as F is U with cov = U.T U, i.e. L = U.T
        upper, info = lapack.dpotrf(cov, lower=0, clean=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"component {k} is not positive definite")
        inv_upper, info = lapack.dtrtri(upper, lower=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"component {k} has a singular Cholesky factor")
        out[k] = inv_upper  # inv(L).T = inv(L.T) = inv(upper)
    return out


def spd_inverse(covs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses (B, m, m) and log-determinants (B,) of many symmetric positive
    definite matrices (B, m, m). Below ``TRIANGULAR_FROM`` dimensions the
    Cholesky factorisation and the inverse of the factor run column by column
    over the whole batch at once (each step one vectorised operation on B
    numbers): for thousands of small matrices (the patterns of missing values
    times the components) that is about twice as fast as LAPACK called once
    per matrix; larger ones take LAPACK."""
    B, m, _ = covs.shape
    if m >= TRIANGULAR_FROM:
        lower = np.linalg.cholesky(covs)
        log_det = 2.0 * np.log(np.diagonal(lower, 0, -2, -1)).sum(-1)
        inv_lower = np.linalg.inv(lower)
        return np.swapaxes(inv_lower, -1, -2) @ inv_lower, log_det
    T = np.ascontiguousarray(np.moveaxis(covs, 0, -1))  # (m, m, B): each entry one batch row
    L = np.zeros_like(T)
    for j in range(m):
        v = T[j:, j] - np.einsum("ikb,kb->ib", L[j:, :j], L[j, :j]) if j else T[j:, j].copy()
        if not (v[0] > 0).all():
            raise np.linalg.LinAlgError("a matrix is not positive definite")
        d = np.sqrt(v[0])
        L[j, j] = d
        L[j + 1 :, j] = v[1:] / d
    inv = np.zeros_like(T)  # inv(L), lower triangular, by forward substitution
    for i in range(m):
        inv[i, i] = 1.0 / L[i, i]
        if i:
            inv[i, :i] = -np.einsum("kb,kjb->jb", L[i, :i], inv[:i, :i]) * inv[i, i]
    log_det = 2.0 * np.log(np.diagonal(L, 0, 0, 1)).sum(-1)
    inv = np.ascontiguousarray(np.moveaxis(inv, -1, 0))
    return np.swapaxes(inv, -1, -2) @ inv, log_det


def precisions_from_cholesky(prec_chol: np.ndarray) -> np.ndarray:
    """The precisions ``U @ U.T`` of :func:`precision_cholesky`'s factors
    (K, m, m), or ``U ** 2`` of variances' factors (K, m) or (K,): symmetric
    and positive definite by construction, where ``inv`` of a nearly singular
    covariance need not be (the fitted ``precisions_``, the derived
    estimators', the model search's starts)."""
    return prec_chol**2 if prec_chol.ndim < 3 else prec_chol @ np.swapaxes(prec_chol, -1, -2)


def log_det_precision_cholesky(prec_chol: np.ndarray) -> np.ndarray:
    """``log det U_k`` (half the log-determinant of the precision), shape (K,)."""
    return np.log(np.diagonal(prec_chol, axis1=-2, axis2=-1)).sum(axis=-1)


@dataclass
class Whitener:
    """Components prepared for many log-density evaluations.

    ``weights`` (K,), ``means`` (K, m) and ``prec_chol`` (K, m, m) describe the
    mixture (float64). ``Wt`` (m, K, m) holds ``U_k.T`` as ``Wt[:, k, :]`` and
    ``b`` (m, K, 1) holds ``U_k.T @ mu_k``, so that ``Wt @ y - b`` whitens
    ``y`` for all components at once; both, and ``prec_chol_c``, are in
    ``dtype``, the dtype of the chunks they multiply. ``const`` (K, 1) is
    float64. For the quadratic-feature kernel (``features``): ``center`` (m,)
    the mean of the means and ``coef`` (K, m(m+1)/2 + m + 1), in ``dtype``,
    the coefficients of the features (:func:`features`) in
    ``log pi_k + log N(y; mu_k, Sigma_k)``: minus half the upper triangle of
    the precision ``P_k`` (off-diagonal entries counted twice), then
    ``P_k (mu_k - center)``, then ``const`` less half
    ``(mu_k - center)' P_k (mu_k - center)``.
    """

    weights: np.ndarray
    means: np.ndarray
    prec_chol: np.ndarray
    dtype: np.dtype = np.dtype(np.float64)
    #: Whether the quadratic-feature kernel may be used (the fit); inference
    #: whitens, as scikit-learn does, so that predictions tie-break alike.
    allow_features: bool = True
    Wt: np.ndarray = field(init=False)
    b: np.ndarray = field(init=False)
    const: np.ndarray = field(init=False)
    prec_chol_c: np.ndarray = field(init=False)
    features: bool = field(init=False)

    def __post_init__(self) -> None:
        K, m = self.means.shape
        with np.errstate(divide="ignore"):  # a weight of 0: log 0 = -inf, no warning
            log_w = np.log(self.weights)
        self.const = (log_w + log_det_precision_cholesky(self.prec_chol) - 0.5 * m * LOG_2PI)[
            :, None
        ]
        self.features = self.allow_features and uses_features(m, K)
        if self.features:
            prec = self.prec_chol @ np.swapaxes(self.prec_chol, 1, 2)
            rows, cols = triangle(m)[:2]
            self.center = self.means.mean(axis=0)
            shifted = self.means - self.center
            f = len(rows)
            coef = np.empty((K, f + m + 1))
            np.multiply(prec[:, rows, cols], _half_triangle(m), out=coef[:, :f])
            np.einsum("kij,kj->ki", prec, shifted, out=coef[:, f : f + m])
            coef[:, -1] = self.const[:, 0] - 0.5 * np.einsum("ki,kij,kj->k", shifted, prec,
                                                             shifted)
            self.coef = coef.astype(self.dtype, copy=False)
            return
        self.Wt = np.ascontiguousarray(self.prec_chol.transpose(2, 0, 1), dtype=self.dtype)
        b = np.einsum("ki,kij->jk", self.means, self.prec_chol)[:, :, None]
        self.b = b.astype(self.dtype, copy=False)
        self.prec_chol_c = self.prec_chol.astype(self.dtype, copy=False)

    def log_prob_features(self, G: np.ndarray) -> np.ndarray:
        """``log pi_k + log N(y_n; mu_k, Sigma_k)``, (K, n) float64, from the
        features ``G`` of a chunk (:func:`features` about ``center``)."""
        return np.asarray(self.coef @ G, dtype=np.float64)


@dataclass
class DiagWhitener:
    """Components with diagonal covariances prepared for many log-density
    evaluations (the diagonal and spherical covariance types, and their
    marginal views).

    ``weights`` (K,), ``means`` (K, m) and ``prec_chol`` (K, m), the inverse
    standard deviations, are float64. The rows are shifted by ``center``
    (m,), the mean of the means, so that the expansion
    ``sum_i p_ki (y_i - mu_ki)^2 = p_k . y^2 - 2 (p_k mu_k) . y + p_k . mu_k^2``
    loses little to cancellation: ``prec`` (K, m) holds the precisions and
    ``pmu`` (K, m) their products with the shifted means, both in ``dtype``;
    ``const`` (K, 1) float64 holds everything that does not depend on y.
    Two products per chunk, O(n K m): no n x K x m array.
    """

    weights: np.ndarray
    means: np.ndarray
    prec_chol: np.ndarray
    dtype: np.dtype = np.dtype(np.float64)
    center: np.ndarray = field(init=False)
    prec: np.ndarray = field(init=False)
    pmu: np.ndarray = field(init=False)
    const: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        m = self.means.shape[1]
        prec = self.prec_chol**2
        self.center = self.means.mean(axis=0)
        shifted = self.means - self.center
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)
        self.const = (log_w + np.log(self.prec_chol).sum(axis=1) - 0.5 * m * LOG_2PI
                      - 0.5 * (prec * shifted**2).sum(axis=1))[:, None]
        self.prec = prec.astype(self.dtype)
        self.pmu = (prec * shifted).astype(self.dtype)

    def shifted(self, Y: np.ndarray) -> np.ndarray:
        """The chunk (n, m) less ``center``: a new array in the chunk's dtype
        (row-major like the chunk; the products below take it transposed
        for free, where a transposed copy would cost a third of the step)."""
        return Y - self.center.astype(Y.dtype)

    def log_prob_t(self, Yc: np.ndarray, squares: np.ndarray | None = None) -> np.ndarray:
        """``log pi_k + log N(y_n; mu_k, diag(1 / prec_k))``, (K, n) float64,
        from the shifted chunk ``Yc`` (n, m) and its ``squares`` (``Yc * Yc``,
        computed when not given)."""
        maha = self.prec @ (Yc * Yc if squares is None else squares).T
        maha -= 2.0 * (self.pmu @ Yc.T)
        out = np.asarray(maha, dtype=np.float64)
        out *= -0.5
        out += self.const
        return out


def weighted_log_prob_t(Y: np.ndarray, wh: Whitener, work_size: int = WORK_SIZE) -> np.ndarray:
    """``log pi_k + log N(y_n; mu_k, Sigma_k)`` for one chunk, component-major.

    Parameters
    ----------
    Y : ndarray of shape (n, m)
        float64, or float32 with a float32 ``wh``.
    wh : Whitener or DiagWhitener
        Prepared mixture with K components in m dimensions.
    work_size : int
        Scratch elements allowed for the ``m x g x n`` block of whitened rows.

    Returns
    -------
    ndarray of shape (K, n), float64
        Component-major, so that reductions over components run along
        contiguous rows.
    """
    if isinstance(wh, DiagWhitener):
        return wh.log_prob_t(wh.shifted(Y))
    n, m = Y.shape
    K = wh.means.shape[0]
    if wh.features:
        return np.concatenate([wh.log_prob_features(G)
                               for _, G in _feature_blocks(Y, wh, work_size)], axis=1)
    out = np.empty((K, n))
    if m >= TRIANGULAR_FROM:
        (trmm,) = get_blas_funcs(("trmm",), (Y,))
        for k in range(K):
            # Z = Y @ U_k in place on a copy (Y.T is F-ordered: no further copy)
            Z = Y.copy()
            trmm(1.0, wh.prec_chol_c[k].T, Z.T, side=0, lower=1, overwrite_b=1)
            Z -= wh.b[:, k, 0]
            np.einsum("ij,ij->i", Z, Z, out=out[k])
    else:
        group = max(1, min(K, work_size // max(1, n * m)))
        for k0 in range(0, K, group):
            k1 = min(K, k0 + group)
            Z = (wh.Wt[:, k0:k1, :].reshape(m * (k1 - k0), m) @ Y.T).reshape(m, k1 - k0, n)
            Z -= wh.b[:, k0:k1]
            np.square(Z, out=Z)
            np.sum(Z, axis=0, out=out[k0:k1])
    out *= -0.5
    out += wh.const
    return out


def weighted_log_prob(Y: np.ndarray, wh: Whitener) -> np.ndarray:
    """``log pi_k + log N(y_n; mu_k, Sigma_k)``, shape (n, K), for Y (n, m)."""
    return weighted_log_prob_t(Y, wh).T


@dataclass
class SuffStats:
    """Additive sufficient statistics of one view, shifted by ``centers``.

    ``nk`` (K,) = sum_n r_nk; ``s1`` (K, m) = sum_n r_nk (y_n - c_k);
    ``s2`` (K, m, m) = sum_n r_nk (y_n - c_k)(y_n - c_k)^T, or only its
    diagonal (K, m) for diagonal covariances (``diagonal``); ``ll`` = sum_n log p(y_n);
    ``n`` = rows seen (the sum of their weights for weighted rows). Two
    ``SuffStats`` with the same centres add up, which is what a chunk loop, a
    Dask reduction or a GPU reduction needs. The arrays are those of the
    backend that accumulates them (NumPy arrays, or torch tensors, ``ll`` and
    ``n`` then 0-dimensional ones).
    """

    centers: BackendArray
    nk: BackendArray
    s1: BackendArray
    s2: BackendArray
    ll: BackendArray | float = 0.0
    n: BackendArray | float = 0

    @classmethod
    def zeros(cls, centers: np.ndarray, diagonal: bool = False) -> SuffStats:
        K, m = centers.shape
        return cls(centers, np.zeros(K), np.zeros((K, m)),
                   np.zeros((K, m) if diagonal else (K, m, m)))

    @property
    def diagonal(self) -> bool:
        """Whether ``s2`` holds only the diagonals of the second moments."""
        return self.s2.ndim == 2

    #: The fields that are sums over rows: what a reduction adds up (the
    #: centres are shared by every part and travel unchanged).
    ADDITIVE = ("nk", "s1", "s2", "ll", "n")

    def __iadd__(self, other: SuffStats) -> SuffStats:
        for name in self.ADDITIVE:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def __add__(self, other: SuffStats) -> SuffStats:
        """The statistics of both parts' rows (a new object; the tree
        reduction of a Dask pass adds its parts' statistics pairwise)."""
        return replace(self, **{name: getattr(self, name) + getattr(other, name)
                                for name in self.ADDITIVE})

    def accumulate(self, Y: np.ndarray, resp_t: np.ndarray, work_size: int = WORK_SIZE,
                   count: float | None = None) -> None:
        """Add a chunk ``Y`` (n, m) with responsibilities ``resp_t`` (K, n);
        ``count``: what the chunk adds to ``n`` (its rows, or the sum of their
        weights when ``resp_t`` is weighted).

        Components are processed in groups whose weighted, shifted copies of
        the chunk (g, m, n) fit in ``work_size`` elements; the long axis n is
        innermost for the elementwise work. The products run in the dtype of
        ``Y`` (float64 or float32) and are added to the float64 statistics.
        """
        if self.diagonal:
            center = self.centers.mean(axis=0)
            self.add_diagonal(resp_t, Y - center.astype(Y.dtype), center, count=count)
            return
        n, m = Y.shape
        K = self.centers.shape[0]
        self.nk += resp_t.sum(axis=1)
        self.n += n if count is None else count
        sqrt_r = np.sqrt(resp_t).astype(Y.dtype, copy=False)
        centers = self.centers.astype(Y.dtype, copy=False)
        if m >= TRIANGULAR_FROM:
            (syrk,) = get_blas_funcs(("syrk",), (Y,))
            single = Y.dtype != np.float64
            for k in range(K):
                diff = Y - centers[k]
                diff *= sqrt_r[k][:, None]
                self.s1[k] += sqrt_r[k] @ diff
                # upper triangle of s2[k] += diff.T @ diff, in place (F-ordered
                # views); float32 products go through a float32 block first
                if single:
                    self.s2[k] += syrk(1.0, diff.T, trans=0, lower=1).T
                else:
                    syrk(1.0, diff.T, beta=1.0, c=self.s2[k].T, trans=0, lower=1, overwrite_c=1)
            return
        Yt = np.ascontiguousarray(Y.T)
        group = max(1, min(K, work_size // max(1, n * m)))
        for k0 in range(0, K, group):
            k1 = min(K, k0 + group)
            diff = Yt[None, :, :] - centers[k0:k1, :, None]
            diff *= sqrt_r[k0:k1, None, :]
            self.s1[k0:k1] += (diff @ sqrt_r[k0:k1, :, None])[:, :, 0]
            self.s2[k0:k1] += diff @ np.swapaxes(diff, 1, 2)

    def add_features(self, exps: np.ndarray, G: np.ndarray, center: np.ndarray,
                     scale: np.ndarray, count: float) -> None:
        """Add a chunk from the features ``G`` of its rows (:func:`features`
        about ``center``) and its responsibilities ``exps * scale``: ``exps``
        (K, n) up to a factor per row, ``scale`` (n,), those factors (times
        the rows' weights). One product gives the counts and the moments about
        ``center`` (only the upper triangle of ``s2`` is kept up to date), which
        are then moved to ``centers``; ``count``: what the chunk adds to ``n``."""
        m = center.shape[0]
        f = m * (m + 1) // 2
        rows, cols = triangle(m)[:2]
        r = exps.astype(G.dtype, copy=False)
        scale_c = scale.astype(G.dtype, copy=False)
        if len(G) < len(r):  # scale whichever of the two has fewer rows
            moments = r @ (G * scale_c).T
        else:
            moments = (r * scale_c) @ G.T
        moments = np.asarray(moments, dtype=np.float64)
        # in float32 the counts are summed in float64 (as the statistics are)
        nk = moments[:, -1] if G.dtype == np.float64 else exps @ scale
        first = moments[:, f : f + m]                              # sum r (y - center)
        second = np.zeros((len(nk), m, m))
        second[:, rows, cols] = moments[:, :f]                     # sum r (y - c)(y - c)'
        d = self.centers - center
        second -= d[:, :, None] * first[:, None, :] + first[:, :, None] * d[:, None, :]
        second += nk[:, None, None] * d[:, :, None] * d[:, None, :]
        self.nk += nk
        self.n += count
        self.s1 += first - nk[:, None] * d
        self.s2 += second

    def add_diagonal(self, resp_t: np.ndarray, Yc: np.ndarray, center: np.ndarray,
                     squares: np.ndarray | None = None, count: float | None = None) -> None:
        """Add a chunk to diagonal statistics from its rows less ``center``,
        ``Yc`` (n, m), their ``squares`` (``Yc * Yc``, computed when not given)
        and the responsibilities ``resp_t`` (K, n): the moments about
        ``center`` are two products, then moved to ``centers``."""
        nk = resp_t.sum(axis=1)
        r = resp_t.astype(Yc.dtype, copy=False)
        first = np.asarray(r @ Yc, dtype=np.float64)               # sum r (y - center)
        squares = Yc * Yc if squares is None else squares
        second = np.asarray(r @ squares, dtype=np.float64)         # sum r (y - center)^2
        d = self.centers - center
        self.nk += nk
        self.n += Yc.shape[0] if count is None else count
        self.s1 += first - nk[:, None] * d
        self.s2 += second - 2.0 * d * first + nk[:, None] * d * d

    def finish(self) -> None:
        """Make ``s2`` exactly symmetric from its upper triangle (the only one
        the large-view and feature kernels fill)."""
        if self.diagonal:
            return
        # np.triu is np.where with a mask it builds anew each call: the same
        # values, with the masks built once per m
        _, _, on_upper, above = triangle(self.s2.shape[-1])
        upper = np.where(on_upper, self.s2, 0.0)
        self.s2 = upper + np.swapaxes(np.where(above, upper, 0.0), -1, -2)


def _feature_blocks(Y: np.ndarray, wh: Whitener, work_size: int):
    """The chunk in row blocks whose features fit in ``work_size`` elements:
    each block's rows (a slice) and its features about ``wh.center``
    (:func:`features`)."""
    rows = max(1, work_size // n_features(Y.shape[1]))
    for s in range(0, Y.shape[0], rows):
        yield slice(s, s + rows), features(Y[s : s + rows], wh.center)


def weighted_total(norm: np.ndarray, w: np.ndarray) -> float:
    """``sum_n w_n norm_n``, with rows of weight 0 adding nothing even where
    ``norm`` is ``-inf`` (a row no component explains)."""
    return float(w @ np.where(w > 0, norm, 0.0))


def e_step_chunk(Y: np.ndarray, wh: Whitener, stats: SuffStats, w: np.ndarray | None = None,
                 work_size: int = WORK_SIZE) -> None:
    """E-step of one chunk ``Y`` (n, m): adds its statistics and LL to
    ``stats``; ``w`` (n,): the rows' frequency weights (None: 1 each)."""
    if isinstance(wh, DiagWhitener):
        Yc = wh.shifted(Y)
        squares = Yc * Yc  # once for both steps
        resp = wh.log_prob_t(Yc, squares)
        if w is None:
            stats.ll += float(posteriors(resp).sum())
            stats.add_diagonal(resp, Yc, wh.center, squares)
            return
        stats.ll += weighted_total(posteriors(resp), w)
        resp *= w
        stats.add_diagonal(resp, Yc, wh.center, squares, count=float(w.sum()))
        return
    if wh.features:
        for rows, G in _feature_blocks(Y, wh, work_size):
            exps = wh.log_prob_features(G)
            norm, scale = unnormalized_posteriors(exps)
            if w is None:
                stats.ll += float(norm.sum())
                stats.add_features(exps, G, wh.center, scale, G.shape[1])
                continue
            stats.ll += weighted_total(norm, w[rows])
            scale *= w[rows]
            stats.add_features(exps, G, wh.center, scale, float(w[rows].sum()))
        return
    log_resp = weighted_log_prob_t(Y, wh)
    if w is None:
        stats.ll += float(log_normalize(log_resp).sum())
        stats.accumulate(Y, np.exp(log_resp, out=log_resp))
        return
    stats.ll += weighted_total(log_normalize(log_resp), w)
    resp = np.exp(log_resp, out=log_resp)
    resp *= w
    stats.accumulate(Y, resp, count=float(w.sum()))


def _shifted_exp(log_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Turn ``log_prob`` (K, n) in place into ``exp(log_prob - top)`` with
    ``top`` each row's largest term (0 where no term is finite), the shared
    start of :func:`posteriors` and :func:`unnormalized_posteriors`. Returns
    ``top`` (n,), the rows no component explains (None when there are none)
    and the row totals (n,)."""
    top = log_prob.max(axis=0)
    lost = ~np.isfinite(top)
    if lost.any():
        top[lost] = 0.0
    else:
        lost = None
    log_prob -= top
    np.exp(log_prob, out=log_prob)
    return top, lost, log_prob.sum(axis=0)


def posteriors(log_prob: np.ndarray) -> np.ndarray:
    """Turn ``log_prob`` (K, n) into posterior probabilities in place, with one
    exponential per entry; return the log-normalisers (n,). Rows no
    component explains get uniform posteriors and ``-inf``."""
    top, lost, total = _shifted_exp(log_prob)
    if lost is None:
        # every row's largest term is exp(0) = 1: its total is at least 1
        log_prob /= total
        norm = np.log(total)
        norm += top
        return norm
    with np.errstate(divide="ignore", invalid="ignore"):
        log_prob /= total
        norm = np.log(total)
    norm += top
    log_prob[:, lost] = 1.0 / log_prob.shape[0]
    norm[lost] = -np.inf
    return norm


def unnormalized_posteriors(log_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`posteriors` up to a factor per row: turn ``log_prob`` (K, n) in
    place into ``exp(log_prob - max_k log_prob)`` and return the
    log-normalisers (n,) and the factors (n,) that make those posteriors, the
    inverse row totals. A product of the posteriors with features then scales
    the features (a few rows) instead of the (K, n) array. Rows no component
    explains get uniform posteriors (factor 1) and ``-inf``."""
    top, lost, total = _shifted_exp(log_prob)
    if lost is not None:
        total[lost] = 1.0
        log_prob[:, lost] = 1.0 / log_prob.shape[0]
    norm = np.log(total)
    norm += top
    if lost is not None:
        norm[lost] = -np.inf
    return norm, np.divide(1.0, total, out=total)


def log_normalize(log_prob: np.ndarray) -> np.ndarray:
    """Normalise ``log_prob`` (K, n) over components, in place, into
    log-posteriors; return the log-normalisers (n,)."""
    top = log_prob.max(axis=0)
    lost = ~np.isfinite(top)
    top[lost] = 0.0
    log_prob -= top
    with np.errstate(divide="ignore", invalid="ignore"):  # lost rows are mended below
        norm = np.log(np.exp(log_prob).sum(axis=0))
        log_prob -= norm
    norm += top
    if lost.any():
        # no component gives such a row any density: spread it evenly rather
        # than let -inf - (-inf) turn into NaN
        log_prob[:, lost] = -np.log(log_prob.shape[0])
        norm[lost] = -np.inf
    return norm


def positive_definite(covs: np.ndarray, min_eig: float = 0.0) -> np.ndarray:
    """Which of the symmetric matrices ``covs`` (K, m, m) are finite and admit
    a Cholesky factorisation, shape (K,) bool.

    It uses the factorisation :func:`precision_cholesky` uses: on nearly
    singular matrices the lower and upper variants can disagree.

    Parameters
    ----------
    covs : ndarray of shape (K, m, m), or variances (K, m) or (K,)
    min_eig : float, default=0.0
        When positive, a matrix must also have ``tr(inv(Sigma)) <= m / min_eig``.
        Since ``tr(inv(Sigma)) = sum_i 1 / lambda_i`` lies between
        ``1 / lambda_min`` and ``m / lambda_min``, a matrix is rejected only if
        its smallest eigenvalue is below ``min_eig``, and accepted only if it
        is at least ``min_eig / m``. A factorisation alone also accepts
        numerically singular matrices (eigenvalues of 1e-17 beside 1), whose
        factorisation fails again after any rescaling.

    Returns
    -------
    ndarray of shape (K,), bool
    """
    return positive_definite_factors(covs, min_eig)[0]


def positive_definite_factors(covs: np.ndarray, min_eig: float = 0.0
                              ) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`positive_definite`, and the precision factors of ``covs`` (of
    :func:`precision_cholesky`) when the test computed them on the way: when
    ``min_eig`` is positive, every matrix is finite and factorises, and m is
    below ``TRIANGULAR_FROM`` (else None)."""
    if covs.ndim < 3:  # variances: the diagonal of a diagonal matrix is its spectrum
        v = covs.reshape(len(covs), -1)
        ok = np.isfinite(v).all(axis=1) & (v > 0).all(axis=1)
        if min_eig > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                ok &= (1.0 / v).sum(axis=1) <= v.shape[1] / min_eig
        return ok, None
    ok = np.isfinite(covs).all(axis=(1, 2))
    if min_eig > 0 and covs.shape[-1] < TRIANGULAR_FROM and ok.all():
        # the common case: the factors that the trace test needs are the proof
        # that every matrix factorises (one factorisation, not two)
        try:
            prec_chol = precision_cholesky(covs)
        except np.linalg.LinAlgError:
            pass
        else:
            trace_of_inverse = np.einsum("kij,kij->k", prec_chol, prec_chol)
            return trace_of_inverse <= covs.shape[-1] / min_eig, prec_chol
    if covs.shape[-1] >= TRIANGULAR_FROM:
        ok &= np.array([lapack.dpotrf(c, lower=0, clean=0)[1] == 0 for c in covs], dtype=bool)
    elif ok.all() and _factorises(covs):
        pass
    else:
        for k in np.flatnonzero(ok):
            ok[k] = _factorises(covs[k])
    if min_eig > 0 and ok.any():
        factorised = np.flatnonzero(ok)
        prec_chol = precision_cholesky(covs[factorised])
        trace_of_inverse = np.einsum("kij,kij->k", prec_chol, prec_chol)
        ok[factorised] = trace_of_inverse <= covs.shape[-1] / min_eig
    return ok, None


def _factorises(covs: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(covs)
        return True
    except np.linalg.LinAlgError:
        return False


def floor_eigenvalues(covs: np.ndarray, floor: float) -> np.ndarray:
    """Clip the eigenvalues of each symmetric matrix at ``floor``.

    A Cholesky factorisation of ``Sigma - floor I`` (a third of the cost of an
    eigendecomposition) proves most matrices already satisfy the floor; only
    the others are decomposed. With ``floor <= 0`` the input is returned.

    Parameters
    ----------
    covs : ndarray of shape (K, m, m), or variances (K, m) or (K,)
    floor : float

    Returns
    -------
    ndarray of the shape of ``covs``
    """
    if floor <= 0:
        return covs
    if covs.ndim < 3:  # variances
        return np.maximum(covs, floor)
    ok = positive_definite(covs - floor * np.eye(covs.shape[-1]))
    if ok.all():
        return covs
    out = covs.copy()
    for k in np.flatnonzero(~ok):
        vals, vecs = np.linalg.eigh(covs[k])
        fixed = (vecs * np.maximum(vals, floor)) @ vecs.T
        out[k] = 0.5 * (fixed + fixed.T)
    return out


def smooth_weights(weights: np.ndarray, a: float) -> np.ndarray:
    """MAP smoothing ``(pi + a) / sum(pi + a)``, shape (K,)."""
    if a == 0:
        return weights
    w = weights + a
    return w / w.sum()
