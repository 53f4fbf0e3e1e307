"""Backends: where the data live and which kernels compute on them.

The engine (:mod:`biglearn_em.engine`: the EM loop, the views and their
write-back rules, the initialisations) is written once. It touches arrays only
through operators and methods that NumPy arrays and torch tensors share
(``@``, indexing, arithmetic, ``.swapaxes``, ``.sum``, ``.argmin``) and through
the small interface of :class:`Backend` below; a backend is chosen once per
fit or prediction and travels with the data (``Data.backend``).

Three backends implement it:

- ``NumpyBackend`` (:mod:`.numpy`): NumPy and SciPy on the host, the kernels
  of :mod:`.kernels` (BLAS/LAPACK ``trmm``, ``syrk``, ``potrf``, ``trtri``);
- ``TorchBackend`` (:mod:`.torch`): PyTorch on any device, CPU or CUDA;
- ``DaskBackend`` (:mod:`.dask`): the NumPy kernels on the blocks of a
  dask array, wherever Dask's scheduler runs them; it differs from the NumPy
  backend only in where the data live (:meth:`Backend.reduce`,
  :meth:`Backend.map_rows`, :meth:`Backend.take`).

Parameters (weights, means, covariances) are float64 on every backend. The
*compute dtype* (``dtype=``) is that of the data chunks and of the products
with them; the sufficient statistics are always accumulated in float64.
Numerical failure is a status (a boolean mask per component), never an
exception, so that a device needs no host round trip to report it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .kernels import SuffStats


#: Compute dtypes a backend accepts, by name.
DTYPES = ("float64", "float32")


class Backend:
    """The kernels a backend provides, on arrays of its own kind (its *arrays*).

    Shapes use ``K`` components, ``m`` the dimension of the current view,
    ``n`` the rows of one chunk and ``D`` the features. Boolean results are
    arrays of the backend (masks over components).
    """

    #: Short name for messages and reports ("numpy", "torch").
    name = "abstract"
    #: Where the work runs, for messages ("cpu", "cuda:0").
    device = "cpu"
    #: Compute dtype of data chunks, one of :data:`DTYPES`.
    dtype = "float64"

    # ---------------------------------------------------------------- arrays
    def asarray(self, a) -> Any:
        """Host values as a float64 array of this backend."""
        raise NotImplementedError

    def to_numpy(self, a) -> np.ndarray:
        """An array of this backend as a host NumPy array (same dtype)."""
        raise NotImplementedError

    def index(self, idx: np.ndarray) -> Any:
        """Host integer indices as an index array of this backend."""
        raise NotImplementedError

    def data_array(self, a) -> Any:
        """A float64 array of this backend in the compute dtype (to multiply chunks)."""
        raise NotImplementedError

    def zeros(self, shape: int | tuple[int, ...]) -> Any:
        raise NotImplementedError

    def eye(self, m: int) -> Any:
        raise NotImplementedError

    def einsum(self, spec: str, *operands) -> Any:
        raise NotImplementedError

    def concat(self, arrays) -> Any:
        raise NotImplementedError

    def nonzero(self, mask) -> Any:
        """Indices of the true entries of a 1-D mask."""
        raise NotImplementedError

    def count(self, mask) -> int:
        """Number of true entries (one host synchronisation)."""
        raise NotImplementedError

    def item(self, value) -> float:
        """A 0-dimensional value as a Python float (one host synchronisation)."""
        return float(value)

    def copy(self, a) -> Any:
        raise NotImplementedError

    def exp(self, a) -> Any:
        raise NotImplementedError

    def log(self, a) -> Any:
        raise NotImplementedError

    def spd_inverse(self, covs) -> tuple[Any, Any]:
        """Inverses (B, m, m) of symmetric positive definite matrices
        (B, m, m), and their log-determinants (B,)."""
        raise NotImplementedError

    def segment_sums(self, a, starts: np.ndarray) -> Any:
        """Sums of the consecutive row ranges of ``a`` (G, ...) that begin at
        ``starts`` (host, increasing, each range non-empty): (len(starts), ...)."""
        raise NotImplementedError

    def cholesky(self, covs) -> Any:
        """Lower Cholesky factors (K, m, m) of positive definite matrices."""
        raise NotImplementedError

    def finite_matrices(self, covs) -> Any:
        """Which matrices (K, m, m) (or variances (K, m), (K,)) have only
        finite entries, mask (K,)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ data
    #: Whether the data live in this process (False: on Dask's workers, read
    #: only through :meth:`reduce`, :meth:`map_rows` and small gathers).
    in_process = True

    def reduce(self, data, fn: Callable, args: tuple = (), combine: Callable = operator.add):
        """``fn(part, *args)`` over the parts of ``data`` (a :class:`biglearn_em.engine.data.Data`),
        combined by ``combine`` (a sum by default): one pass over the data.

        A part is the data, or a block of their rows, as :class:`biglearn_em.engine.data.Data`
        on an in-process backend, with the same map into internal
        coordinates; ``fn`` loops over its chunks. In-process backends have
        one part, the data themselves.
        """
        return fn(data, *args)

    def map_rows(self, data, fn: Callable, args: tuple, width: int | None, dtype) -> Any:
        """``fn(part, *args)`` for every part of ``data``, one result row per
        data row, joined in row order: shape (N,) when ``width`` is None,
        else (N, width)."""
        return fn(data, *args)

    def gathered(self) -> Backend:
        """The backend of rows gathered from the data (:meth:`take`): this one
        for in-process backends."""
        return self

    def place(self, X) -> Any:
        """The data as this backend reads them: on its device when they fit
        there, else left where they are and streamed by :meth:`raw_chunks`."""
        raise NotImplementedError

    def raw_chunks(self, X, chunk_size: int):
        """Consecutive row blocks of placed data, as arrays of this backend in
        their stored dtype (float64 or float32)."""
        raise NotImplementedError

    def take(self, X, index: np.ndarray) -> Any:
        """Rows ``index`` (host integers) of placed data, as an array of this backend."""
        raise NotImplementedError

    def place_weights(self, w, X) -> Any:
        """Frequency weights (N,) of the rows of placed data ``X``, where this
        backend reads them beside the rows (:meth:`raw_chunks` gives them in
        the same chunks as the rows): float64, on the device for torch."""
        return self.asarray(w)

    def default_chunk_size(self, n_features: int, n_components: int) -> int:
        """Rows per chunk when the user sets none."""
        raise NotImplementedError

    def standardize(self, raw, shift, scale: float) -> Any:
        """``(raw - shift) / scale`` in the compute dtype, (n, D); ``raw`` as it
        is (in the compute dtype) when ``shift`` is None."""
        raise NotImplementedError

    # ------------------------------------------------------------- numerics
    # Covariances are matrices (K, m, m) or, for diagonal and spherical
    # covariance types, variances (K, m) or (K,): every kernel below accepts
    # both and tells them apart by ndim (see :mod:`biglearn_em.engine.covariance`).
    def precision_cholesky(self, covs) -> tuple[Any, Any]:
        """Upper factors ``U`` (K, m, m) with ``U U.T = inv(Sigma)``, and the mask
        (K,) of the matrices that factorised (the others' factors are garbage)."""
        raise NotImplementedError

    def positive_definite(self, covs, min_eig: float = 0.0) -> Any:
        """Mask (K,) of the finite matrices that factorise and, when ``min_eig``
        is positive, have ``tr(inv(Sigma)) <= m / min_eig`` (see
        :func:`biglearn_em.backends.kernels.positive_definite`)."""
        raise NotImplementedError

    def floor_eigenvalues(self, covs, floor: float) -> Any:
        """Eigenvalues of each matrix (K, m, m) clipped at ``floor``."""
        raise NotImplementedError

    def whitener(self, weights, means, prec_chol, inference: bool = False) -> Any:
        """Components (K,), (K, m), (K, m, m) prepared for many log-densities
        (diagonal ones when ``prec_chol`` is (K, m), inverse standard
        deviations); ``inference``: for predictions rather than a fit's E-steps."""
        raise NotImplementedError

    def log_prob(self, Y, whitener) -> Any:
        """``log pi_k + log N(y_n; mu_k, Sigma_k)``, component-major (K, n)."""
        raise NotImplementedError

    def log_normalize(self, log_prob) -> Any:
        """Turn (K, n) log-probabilities into log-posteriors in place; return
        the log-normalisers (n,) (rows no component explains get uniform
        posteriors and ``-inf``)."""
        raise NotImplementedError

    def new_stats(self, centers, diagonal: bool = False) -> SuffStats:
        """Zero sufficient statistics shifted by ``centers`` (K, m); with
        ``diagonal`` only the diagonals of the second moments (K, m)."""
        raise NotImplementedError

    def e_step(self, Y, whitener, stats: SuffStats, w=None) -> None:
        """Add the E-step of chunk ``Y`` (n, m) to ``stats``; ``w`` (n,), an
        array of this backend: the rows' frequency weights (None: 1 each).
        ``stats.n`` then counts the weights, not the rows."""
        raise NotImplementedError

    def accumulate(self, stats: SuffStats, Y, resp_t, w=None) -> None:
        """Add chunk ``Y`` (n, m) with responsibilities ``resp_t`` (K, n),
        weighted by ``w`` (n,) when given."""
        raise NotImplementedError

    def finish(self, stats: SuffStats) -> None:
        """Complete ``stats`` after the last chunk (symmetric ``s2``)."""
        raise NotImplementedError

    def m_step(self, stats: SuffStats, reg_covar: float, eig_floor: float):
        """Maximum-likelihood weights (K,), means (K, m) and covariances
        (K, m, m) from finished statistics, ``reg_covar`` added to every
        diagonal (scikit-learn's meaning) and the eigenvalues floored at
        ``eig_floor`` (0: none); variances (K, m) from diagonal statistics.

        Written once for every backend: only operators arrays of every backend
        share, and this interface (``eye``, ``floor_eigenvalues``).
        """
        nk = stats.nk + 10 * np.finfo(float).eps
        shift = stats.s1 / nk[:, None]
        means = stats.centers + shift
        if stats.diagonal:
            covs = stats.s2 / nk[:, None] - shift * shift + reg_covar
            return nk / nk.sum(), means, self.floor_eigenvalues(covs, eig_floor)
        covs = stats.s2 / nk[:, None, None] - shift[:, :, None] * shift[:, None, :]
        # adding 0 off the diagonal leaves those entries as they are, bit for bit
        covs = covs + reg_covar * self.eye(means.shape[1])
        return nk / nk.sum(), means, self.floor_eigenvalues(covs, eig_floor)

    def one_hot(self, labels, n_components: int) -> Any:
        """Hard responsibilities (K, n) of integer labels (n,)."""
        raise NotImplementedError

    def row_argmin(self, a) -> tuple[Any, Any]:
        """The column (n,) of each row's smallest entry of ``a`` (n, c), and that entry."""
        raise NotImplementedError

    def minimum(self, a, b) -> Any:
        """The elementwise minimum of two arrays (broadcast)."""
        raise NotImplementedError
