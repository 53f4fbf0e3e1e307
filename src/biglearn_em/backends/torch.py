"""The PyTorch backend: the whole fit on a torch device (CPU or CUDA).

Imported only when a fit or a prediction asks for torch (``device=`` or a
torch tensor as input). The kernels evaluate the formulas of the NumPy
backend (:mod:`biglearn_em.backends.kernels`) with batched tensor operations:

- log-densities: one GEMM of the chunk with the K stacked precision factors,
  ``Y @ [U_1 ... U_K]`` (n x K m), whitened rows squared and summed;
- statistics: the K weighted, shifted copies of the chunk (K, n, m) and one
  batched product for the K second moments.

Both build a chunk x K x m array, never N x K x m: the chunk size bounds them
(``WORK_ELEMENTS``). Diagonal covariances (variances (K, m), the diagonal and
spherical covariance types) take two GEMMs per chunk for each step, with the
squared rows and the rows, as the NumPy kernel does. The sufficient statistics
are float64 whatever the compute dtype. Numerical failure is a mask, not an exception
(``cholesky_ex``), and the host is synchronised a few times per EM step (the
log-likelihood, whether a repair is needed), never per chunk.

Data that fit in ``budget`` bytes are copied to the device once; larger host
data stay where they are and are streamed through two pinned host buffers,
one chunk at a time, each pass (the same chunks, so the same result).

The eigenvalue floor: an eigendecomposition on the CPU and for small views;
on a CUDA device, for views above ``EIGH_UP_TO`` dimensions, GEMMs only
(:func:`clip_eigenvalues_gemm`), because batched ``eigh`` of large matrices
runs one matrix at a time there and takes tens of milliseconds each.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import Backend
from .kernels import SuffStats

LOG_2PI = math.log(2.0 * math.pi)
#: Elements of the chunk x K x m work arrays on a CUDA device / on the CPU.
WORK_ELEMENTS = {"cuda": 1 << 27, "cpu": 1 << 22}
#: Largest view on CUDA whose floor uses ``torch.linalg.eigh`` (batched Jacobi there).
EIGH_UP_TO = 32
#: Share of the free device memory the data may take when no budget is given.
BUDGET_SHARE = 0.5
_NUMPY_DTYPES = {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64)}


class TorchBackend(Backend):
    """PyTorch on ``device`` (a ``torch.device`` or its name).

    Parameters
    ----------
    device : str or torch.device
    dtype : {"float64", "float32"}
        Compute dtype of the data chunks and of the products with them.
    budget : int or None
        Bytes of device memory the data may occupy; larger host data are
        streamed. None: half of the free memory of a CUDA device, and no
        limit on the CPU (where the tensor shares the NumPy array's memory).
    """

    name = "torch"

    def __init__(self, device, dtype: str = "float64", budget: int | None = None) -> None:
        self.torch_device = torch.device(device)
        if self.torch_device.type == "cuda" and self.torch_device.index is None:
            self.torch_device = torch.device("cuda", torch.cuda.current_device())
        self.device = str(self.torch_device)
        self.dtype = dtype
        self.cdtype = getattr(torch, dtype)
        self.budget = budget
        self.is_cuda = self.torch_device.type == "cuda"
        self._pinned: dict[tuple, list] = {}

    def __repr__(self) -> str:
        return f"TorchBackend(device={self.device!r}, dtype={self.dtype!r})"

    # ---------------------------------------------------------------- arrays
    def asarray(self, a):
        if isinstance(a, torch.Tensor):
            return a.to(device=self.torch_device, dtype=torch.float64)
        return torch.as_tensor(np.asarray(a, dtype=np.float64), device=self.torch_device)

    def to_numpy(self, a) -> np.ndarray:
        out = a.detach().cpu().numpy()
        # a CPU tensor shares its memory with the array: hand out a copy
        return out.copy() if not self.is_cuda else out

    def index(self, idx):
        return torch.as_tensor(np.asarray(idx), dtype=torch.long, device=self.torch_device)

    def data_array(self, a):
        return a.to(self.cdtype)

    def zeros(self, shape):
        return torch.zeros(shape, dtype=torch.float64, device=self.torch_device)

    def eye(self, m: int):
        return torch.eye(m, dtype=torch.float64, device=self.torch_device)

    def einsum(self, spec, *operands):
        return torch.einsum(spec, *operands)

    def concat(self, arrays):
        return torch.cat(list(arrays))

    def nonzero(self, mask):
        return mask.nonzero().flatten()

    def count(self, mask) -> int:
        return int(mask.sum())

    def copy(self, a):
        return a.clone()

    def exp(self, a):
        return torch.exp(a)

    def log(self, a):
        return torch.log(a)

    def spd_inverse(self, covs):
        lower = torch.linalg.cholesky(covs)
        log_det = 2.0 * torch.log(torch.diagonal(lower, 0, -2, -1)).sum(-1)
        return torch.cholesky_inverse(lower), log_det

    def segment_sums(self, a, starts):
        lengths = np.diff(np.append(starts, a.shape[0]))
        ids = self.index(np.repeat(np.arange(len(starts)), lengths))
        out = torch.zeros((len(starts), *a.shape[1:]), dtype=a.dtype, device=a.device)
        return out.index_add_(0, ids, a)

    def cholesky(self, covs):
        return torch.linalg.cholesky(covs)

    def finite_matrices(self, covs):
        return torch.isfinite(covs).flatten(1).all(1)

    # ------------------------------------------------------------------ data
    def _device_budget(self) -> float:
        if self.budget is not None:
            return float(self.budget)
        if not self.is_cuda:
            return math.inf
        free, _ = torch.cuda.mem_get_info(self.torch_device)
        return BUDGET_SHARE * free

    def _stored_dtype(self, dtype) -> torch.dtype:
        """The dtype data are kept in: float32 when either the input or the
        compute dtype is float32 (halving the memory), else float64."""
        single = dtype in (np.float32, torch.float32) or self.cdtype == torch.float32
        return torch.float32 if single else torch.float64

    def place(self, X):
        if isinstance(X, torch.Tensor):
            if X.device != self.torch_device:
                X = X.to(self.torch_device)
            return X if X.dtype in (torch.float32, torch.float64) else X.to(torch.float64)
        stored = self._stored_dtype(X.dtype)
        nbytes = X.shape[0] * X.shape[1] * (4 if stored == torch.float32 else 8)
        if nbytes > self._device_budget():
            return X  # stays on the host: streamed by raw_chunks
        host = np.ascontiguousarray(X)
        if not self.is_cuda and host.flags.writeable and host.dtype == _NUMPY_DTYPES[stored]:
            return torch.from_numpy(host)  # shares the array's memory
        return torch.tensor(host, dtype=stored, device=self.torch_device)

    def take(self, X, index: np.ndarray):
        if isinstance(X, torch.Tensor):
            return X[self.index(index)]
        return torch.as_tensor(np.asarray(X[index]), device=self.torch_device)

    def raw_chunks(self, X, chunk_size: int):
        if isinstance(X, torch.Tensor):
            for s in range(0, X.shape[0], chunk_size):
                yield X[s : s + chunk_size]
            return
        yield from self._stream(X, chunk_size)

    def _stream(self, X: np.ndarray, chunk_size: int):
        """Host rows to the device one chunk at a time. On CUDA through two
        pinned buffers: the copy of one chunk overlaps the work on the other,
        and a buffer is refilled only after its previous transfer ended."""
        stored = self._stored_dtype(X.dtype)
        if not self.is_cuda:
            for s in range(0, X.shape[0], chunk_size):
                yield torch.tensor(np.asarray(X[s : s + chunk_size]), dtype=stored)
            return
        rows = min(chunk_size, X.shape[0])
        key = (rows, X.shape[1], stored)
        if key not in self._pinned:  # kept for the next pass
            self._pinned = {key: [torch.empty((rows, X.shape[1]), dtype=stored,
                                              pin_memory=True) for _ in range(2)]}
        buffers = self._pinned[key]
        done: list[torch.cuda.Event | None] = [None, None]
        for i, s in enumerate(range(0, X.shape[0], chunk_size)):
            j = i % 2
            previous = done[j]
            if previous is not None:
                previous.synchronize()
            part = X[s : s + chunk_size]
            staged = buffers[j][: len(part)]
            staged.numpy()[...] = part  # a host copy (and cast) into pinned memory
            chunk = staged.to(self.torch_device, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            done[j] = event
            yield chunk

    def default_chunk_size(self, n_features: int, n_components: int) -> int:
        work = WORK_ELEMENTS["cuda" if self.is_cuda else "cpu"]
        return max(256, work // (max(1, n_components) * n_features + n_features))

    def standardize(self, raw, shift, scale: float):
        if shift is None:
            return raw.to(self.cdtype)
        return ((raw - shift) / scale).to(self.cdtype)

    # ------------------------------------------------------------- numerics
    def precision_cholesky(self, covs):
        if covs.ndim < 3:  # variances
            ok = self._positive_variances(covs)
            return covs.rsqrt(), ok
        lower, info = torch.linalg.cholesky_ex(covs)
        ok = (info == 0) & self.finite_matrices(covs)
        eye = torch.eye(covs.shape[-1], dtype=covs.dtype, device=covs.device)
        inv_lower = torch.linalg.solve_triangular(lower, eye.expand_as(lower), upper=False)
        return inv_lower.mT, ok

    def _positive_variances(self, covs):
        v = covs.reshape(len(covs), -1)
        return torch.isfinite(v).all(1) & (v > 0).all(1)

    def positive_definite(self, covs, min_eig: float = 0.0):
        if covs.ndim < 3:
            v = covs.reshape(len(covs), -1)
            ok = self._positive_variances(covs)
            if min_eig > 0:
                ok &= (1.0 / v).sum(1) <= v.shape[1] / min_eig
            return ok
        if min_eig <= 0:
            _, info = torch.linalg.cholesky_ex(covs)
            return (info == 0) & self.finite_matrices(covs)
        prec_chol, ok = self.precision_cholesky(covs)
        trace_of_inverse = (prec_chol * prec_chol).sum((1, 2))
        # NaN factors of rejected matrices compare False
        return ok & (trace_of_inverse <= covs.shape[-1] / min_eig)

    def floor_eigenvalues(self, covs, floor: float):
        if floor <= 0:
            return covs
        if covs.ndim < 3:
            return covs.clamp(min=floor)
        eye = torch.eye(covs.shape[-1], dtype=covs.dtype, device=covs.device)
        ok = self.positive_definite(covs - floor * eye)
        if self.count(~ok) == 0:
            return covs
        bad = self.nonzero(~ok)
        out = covs.clone()
        if self.is_cuda and covs.shape[-1] > EIGH_UP_TO:
            out[bad] = clip_eigenvalues_gemm(covs[bad], floor)
        else:
            vals, vecs = torch.linalg.eigh(covs[bad])
            fixed = (vecs * vals.clamp(min=floor)[:, None, :]) @ vecs.mT
            out[bad] = 0.5 * (fixed + fixed.mT)
        return out

    def whitener(self, weights, means, prec_chol, inference: bool = False):
        if prec_chol.ndim == 2:
            return _DiagWhitener(weights, means, prec_chol, self.cdtype)
        return _Whitener(weights, means, prec_chol, self.cdtype)

    def _log_prob_nk(self, Y, wh):
        """``log pi_k + log N(y_n; mu_k, Sigma_k)`` as (n, K), compute dtype."""
        if isinstance(wh, _DiagWhitener):
            Yc = Y - wh.center
            return wh.const - 0.5 * ((Yc * Yc) @ wh.prec.T - 2.0 * (Yc @ wh.pmu.T))
        n, m = Y.shape
        Z = (Y @ wh.W).view(n, -1, m)
        Z -= wh.b
        maha = Z.square_().sum(-1)
        return wh.const - 0.5 * maha

    def log_prob(self, Y, whitener):
        return self._log_prob_nk(Y, whitener).T.to(torch.float64)

    def log_normalize(self, log_prob):
        norm = torch.logsumexp(log_prob, dim=0)
        lost = ~torch.isfinite(log_prob.max(dim=0).values)
        log_prob -= norm
        # rows no component explains: uniform posteriors, not NaN
        log_prob.masked_fill_(lost[None, :], -math.log(log_prob.shape[0]))
        return norm.masked_fill(lost, -math.inf)

    def new_stats(self, centers, diagonal: bool = False):
        K, m = centers.shape
        z = lambda *shape: torch.zeros(shape, dtype=torch.float64,  # noqa: E731
                                       device=self.torch_device)
        return SuffStats(centers, z(K), z(K, m), z(K, m) if diagonal else z(K, m, m), z(), 0)

    def e_step(self, Y, whitener, stats, w=None) -> None:
        log_resp = self._log_prob_nk(Y, whitener)
        norm = torch.logsumexp(log_resp, dim=1)
        lost = ~torch.isfinite(log_resp.max(dim=1).values)
        norm = norm.masked_fill(lost, -math.inf)
        if w is None:
            stats.ll += norm.sum(dtype=torch.float64)
        else:  # rows of weight 0 add nothing, even where norm is -inf
            stats.ll += (w * torch.where(w > 0, norm.to(torch.float64), 0.0)).sum()
        log_resp -= norm[:, None]  # rows of `lost` are overwritten below
        resp = torch.exp(log_resp).masked_fill_(lost[:, None], 1.0 / log_resp.shape[1])
        self.accumulate(stats, Y, resp.T, w)

    def accumulate(self, stats, Y, resp_t, w=None) -> None:
        n, m = Y.shape
        if w is not None:
            resp_t = resp_t * w
        resp_t = resp_t.to(Y.dtype)
        stats.nk += resp_t.sum(1, dtype=torch.float64)
        stats.n += n if w is None else w.sum()
        if stats.diagonal:
            # moments about the mean of the centres, then moved to each centre
            center = stats.centers.mean(0)
            Yc = Y - center.to(Y.dtype)
            first = (resp_t @ Yc).to(torch.float64)
            second = (resp_t @ (Yc * Yc)).to(torch.float64)
            d = stats.centers - center
            nk = resp_t.sum(1, dtype=torch.float64)[:, None]
            stats.s1 += first - nk * d
            stats.s2 += second - 2.0 * d * first + nk * d * d
            return
        sqrt_r = resp_t.sqrt()
        diff = Y[None, :, :] - stats.centers.to(Y.dtype)[:, None, :]
        diff *= sqrt_r[:, :, None]
        stats.s1 += (sqrt_r[:, None, :] @ diff)[:, 0, :].to(torch.float64)
        stats.s2 += (diff.mT @ diff).to(torch.float64)

    def finish(self, stats) -> None:
        if stats.diagonal:
            return
        # exactly symmetric from the upper triangle, as the NumPy backend does
        upper = stats.s2.triu()
        stats.s2 = upper + upper.triu(1).mT

    def one_hot(self, labels, n_components: int):
        labels = torch.as_tensor(labels, device=self.torch_device)
        return torch.nn.functional.one_hot(labels, n_components).T.to(torch.float64)

    def row_argmin(self, a):
        values, index = a.min(1)
        return index, values

    def minimum(self, a, b):
        return torch.minimum(a, b)


class _Whitener:
    """Components prepared for the chunks: ``W`` (m, K m) stacks the precision
    factors ``U_k`` side by side and ``b`` (K, m) holds ``mu_k U_k``, both in
    the compute dtype; ``const`` (K,) is ``log pi_k + log det U_k - m/2 log 2 pi``."""

    def __init__(self, weights, means, prec_chol, dtype) -> None:
        K, m = means.shape
        self.W = prec_chol.permute(1, 0, 2).reshape(m, K * m).to(dtype)
        self.b = torch.einsum("ki,kij->kj", means, prec_chol).to(dtype)
        log_det = torch.log(torch.diagonal(prec_chol, dim1=-2, dim2=-1)).sum(-1)
        const = torch.log(weights) + log_det - 0.5 * m * LOG_2PI
        self.const = const.to(dtype)


class _DiagWhitener:
    """Diagonal components prepared for the chunks: rows are shifted by
    ``center`` (m,), the mean of the means; ``prec`` (K, m) holds the
    precisions and ``pmu`` (K, m) their products with the shifted means, in
    the compute dtype; ``const`` (K,) everything that does not depend on y
    (see :class:`biglearn_em.backends.kernels.DiagWhitener`)."""

    def __init__(self, weights, means, prec_chol, dtype) -> None:
        m = means.shape[1]
        prec = prec_chol.square()
        center = means.mean(0)
        shifted = means - center
        const = (torch.log(weights) + torch.log(prec_chol).sum(1) - 0.5 * m * LOG_2PI
                 - 0.5 * (prec * shifted.square()).sum(1))
        self.center = center.to(dtype)
        self.prec = prec.to(dtype)
        self.pmu = (prec * shifted).to(dtype)
        self.const = const.to(dtype)


def clip_eigenvalues_gemm(covs, floor: float, resolution: float = 1e-10):
    """Eigenvalues of symmetric matrices (j, m, m) clipped at ``floor``, with
    matrix products only.

    ``clip(S) = floor I + relu(A)`` with ``A = S - floor I`` and
    ``relu(A) = (A + A sign(A)) / 2``. The matrix sign comes from polynomial
    iterations on ``X = A / s`` (``s`` an upper bound of the spectral norm,
    so the eigenvalues of X lie in [-1, 1]): 18 steps of an odd quintic whose
    slope at 0 is 3.4 carry every eigenvalue above ``resolution`` into
    [0.68, 1.2], then Newton-Schulz steps ``X (3 I - X^2) / 2`` converge
    them to 1. Eigenvalues of A below ``resolution * s`` in magnitude may stay
    unconverged; the error they leave in ``relu(A)`` is at most their size.
    """
    m = covs.shape[-1]
    eye = torch.eye(m, dtype=covs.dtype, device=covs.device)
    A = covs - floor * eye
    # both norms bound the spectral norm of a symmetric matrix from above
    bound = torch.minimum(torch.linalg.matrix_norm(A), A.abs().sum(-1).amax(-1))
    X = A / bound.clamp_min(torch.finfo(covs.dtype).tiny)[:, None, None]
    steps = max(1, math.ceil(math.log(0.7 / resolution) / math.log(3.4445)))
    for _ in range(steps):
        X2 = X @ X
        X = X @ (3.4445 * eye - 4.7750 * X2 + 2.0315 * (X2 @ X2))
    for _ in range(8):
        X = 0.5 * X @ (3.0 * eye - X @ X)
    relu = 0.5 * (A + A @ X)
    out = floor * eye + 0.5 * (relu + relu.mT)
    return out
