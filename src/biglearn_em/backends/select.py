"""Choosing a backend: the one place that decides where a fit or a
prediction runs (NumPy on the host, torch on a device, Dask's workers), from
the ``device`` parameter and the kind of X. Kept apart from :mod:`biglearn_em.backends.base`,
the interface, because it imports the backends that implement it."""

from __future__ import annotations

from typing import Any

from .._kinds import is_dask_array, is_torch_tensor
from .base import Backend
from .dask import DaskBackend
from .numpy import NumpyBackend

#: ``device="auto"`` runs on a GPU from this much work per EM step
#: (``N K D^2``); smaller problems are bound by kernel launches there. On one
#: H200 against 16 host cores (``benchmarks/gpu.py``) the joint step's
#: crossover lies between 7.7e6 (host 3.3 ms, device 4.3 ms) and 6.1e7 (host
#: 17.4 ms, device 2.8 ms).
AUTO_GPU_MIN_WORK = 2e7

#: The error a torch device or tensor meets when PyTorch is not installed: how to install it.
TORCH_MISSING = ("PyTorch is not installed; install it with pip install torch (the CPU "
                 "build, without gigabytes of CUDA libraries: pip install torch --index-url "
                 "https://download.pytorch.org/whl/cpu; from a biglearn-em clone: "
                 "pip install -e '.[torch]')")


def import_torch(device) -> Any:
    """The torch module, or an ImportError that says how to get it."""
    try:
        import torch
    except ImportError:
        raise ImportError(f"device={device!r} needs PyTorch: {TORCH_MISSING}") from None
    return torch


def _cuda_usable() -> bool:
    """A CUDA device PyTorch can use (False without torch; never imports it twice)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def select_backend(device, X, dtype: str = "float64", budget: int | None = None,
                   n_components: int = 1) -> Backend:
    """The backend a fit or a prediction on X runs on.

    Parameters
    ----------
    device : None, "auto", str or torch.device
        None: where X lives (NumPy on the host, a torch tensor on its device).
        "auto": a CUDA device when PyTorch sees one and the work per step
        (``N K D^2``) reaches :data:`AUTO_GPU_MIN_WORK`, else as None. "cpu":
        the host (NumPy, or torch for a torch tensor). Any other name
        ("cuda", "cuda:1") or a ``torch.device``: torch on that device.
    X : array (N, D)
        Validated data: a NumPy array, a torch tensor or a dask array (whose
        blocks Dask's workers compute with NumPy, whatever ``device`` says
        about the host).
    dtype, budget
        The compute dtype and the device-memory budget of the data (torch).
    n_components : int
    """
    if is_dask_array(X):
        if device not in (None, "cpu", "auto"):
            raise ValueError(
                f"device={str(device)!r} was requested for a dask array: Dask's workers "
                "compute with NumPy on their CPUs; use device=None (or 'cpu', 'auto')")
        return DaskBackend(dtype)
    tensor = is_torch_tensor(X)
    if device is None:
        return _torch_backend(X.device, dtype, budget) if tensor else NumpyBackend(dtype)
    if device == "cpu":
        return _torch_backend("cpu", dtype, budget) if tensor else NumpyBackend(dtype)
    if device == "auto":
        if tensor:
            return _torch_backend(X.device, dtype, budget)
        N, D = X.shape
        if N * n_components * D * D >= AUTO_GPU_MIN_WORK and _cuda_usable():
            return _torch_backend("cuda", dtype, budget)
        return NumpyBackend(dtype)
    torch = import_torch(device)
    target = torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested, but PyTorch {torch.__version__} sees no "
            "CUDA device (torch.cuda.is_available() is False"
            + ("" if torch.version.cuda else "; this build of PyTorch has no CUDA support")
            + "); use device='cpu' or 'auto'")
    if target.type == "cuda" and target.index is not None \
            and target.index >= torch.cuda.device_count():
        raise ValueError(f"device={str(device)!r} was requested, but PyTorch sees "
                         f"{torch.cuda.device_count()} CUDA device(s)")
    return _torch_backend(target, dtype, budget)


def _torch_backend(device, dtype: str, budget: int | None) -> Backend:
    import_torch(device)
    from .torch import TorchBackend

    return TorchBackend(device, dtype, budget)
