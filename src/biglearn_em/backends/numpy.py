"""The NumPy backend: NumPy and SciPy on the host, the kernels of :mod:`.kernels`."""

from __future__ import annotations

import numpy as np

from . import kernels
from .base import Backend


class NumpyBackend(Backend):
    """NumPy and SciPy on the host: the kernels of :mod:`biglearn_em.backends.kernels`."""

    name = "numpy"
    device = "cpu"
    #: Covariances of at most this many entries remember their precision
    #: factors (see :meth:`positive_definite`).
    FACTOR_MEMO_SIZE = 1 << 12
    #: (covariances, a copy of their bytes, their read-only precision factors)
    #: of the last small covariances that :meth:`positive_definite` factorised.
    _factors: tuple | None = None

    def __init__(self, dtype: str = "float64") -> None:
        self.dtype = dtype
        self._np_dtype = np.dtype(dtype)

    def __repr__(self) -> str:
        return f"NumpyBackend(dtype={self.dtype!r})"

    def asarray(self, a) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def index(self, idx: np.ndarray) -> np.ndarray:
        return idx

    def data_array(self, a):
        return a.astype(self._np_dtype, copy=False)

    def zeros(self, shape):
        return np.zeros(shape)

    def eye(self, m: int) -> np.ndarray:
        return np.eye(m)

    def einsum(self, spec, *operands):
        return np.einsum(spec, *operands)

    def concat(self, arrays):
        return np.concatenate(list(arrays))

    def nonzero(self, mask):
        return np.flatnonzero(mask)

    def count(self, mask) -> int:
        return int(np.count_nonzero(mask))

    def copy(self, a):
        return a.copy()

    def exp(self, a):
        return np.exp(a)

    def log(self, a):
        return np.log(a)

    def spd_inverse(self, covs):
        return kernels.spd_inverse(covs)

    def segment_sums(self, a, starts):
        return np.add.reduceat(a, starts, axis=0)

    def cholesky(self, covs):
        return np.linalg.cholesky(covs)

    def finite_matrices(self, covs):
        return np.isfinite(covs).reshape(len(covs), -1).all(axis=1)

    # data
    def place(self, X):
        return X

    def raw_chunks(self, X, chunk_size: int):
        for s in range(0, X.shape[0], chunk_size):
            yield X[s : s + chunk_size]

    def take(self, X, index: np.ndarray):
        return X[index]

    def default_chunk_size(self, n_features: int, n_components: int) -> int:
        return kernels.default_chunk_size(n_features)

    def standardize(self, raw, shift, scale: float):
        if shift is None:
            return np.asarray(raw, dtype=self._np_dtype)
        Z = raw - shift
        Z /= scale  # in place: one temporary fewer, the same values
        return Z if self.dtype == "float64" else Z.astype(self._np_dtype)

    # numerics
    def precision_cholesky(self, covs):
        memo = self._factors
        # the same array with the same contents: the factors are those computed
        # (the contents are compared, in case the array was written to since)
        if memo is not None and memo[0] is covs and memo[1] == covs.tobytes():
            return memo[2], np.ones(len(covs), dtype=bool)
        try:  # the common case costs one factorisation
            return kernels.precision_cholesky(covs), np.ones(len(covs), dtype=bool)
        except np.linalg.LinAlgError:
            pass
        ok = self.positive_definite(covs)
        prec_chol = np.zeros_like(covs)
        if ok.any():
            prec_chol[ok] = kernels.precision_cholesky(covs[ok])
        return prec_chol, ok

    def positive_definite(self, covs, min_eig: float = 0.0):
        ok, prec_chol = kernels.positive_definite_factors(covs, min_eig)
        if prec_chol is not None and covs.size <= self.FACTOR_MEMO_SIZE and ok.all():
            # a step tests its M-step's covariances so (engine.step.ensure_positive_definite)
            # and the next step, on a joint view, factorises the same ones
            # again: on small problems remembering them saves a factorisation
            # (a batched LAPACK call costs more than its arithmetic there)
            prec_chol.flags.writeable = False
            self._factors = (covs, covs.tobytes(), prec_chol)
        return ok

    def floor_eigenvalues(self, covs, floor: float):
        return kernels.floor_eigenvalues(covs, floor)

    def whitener(self, weights, means, prec_chol, inference: bool = False):
        if prec_chol.ndim == 2:
            return kernels.DiagWhitener(weights, means, prec_chol, self._np_dtype)
        return kernels.Whitener(weights, means, prec_chol, self._np_dtype,
                                allow_features=not inference)

    def log_prob(self, Y, whitener):
        return kernels.weighted_log_prob_t(Y, whitener)

    def log_normalize(self, log_prob):
        return kernels.log_normalize(log_prob)

    def new_stats(self, centers, diagonal: bool = False):
        return kernels.SuffStats.zeros(centers, diagonal)

    def e_step(self, Y, whitener, stats, w=None) -> None:
        kernels.e_step_chunk(Y, whitener, stats, w)

    def accumulate(self, stats, Y, resp_t, w=None) -> None:
        if w is None:
            stats.accumulate(Y, resp_t)
        else:
            stats.accumulate(Y, resp_t * w, count=float(w.sum()))

    def finish(self, stats) -> None:
        stats.finish()

    def one_hot(self, labels, n_components: int):
        labels = np.asarray(labels)
        resp_t = np.zeros((n_components, len(labels)))
        resp_t[labels, np.arange(len(labels))] = 1.0
        return resp_t

    def row_argmin(self, a):
        index = a.argmin(1)
        return index, np.take_along_axis(a, index[:, None], 1)[:, 0]

    def minimum(self, a, b):
        return np.minimum(a, b)
