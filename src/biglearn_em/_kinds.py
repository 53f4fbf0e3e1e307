"""What kind of array or device a value is: the one set of predicates the
package asks, none of which imports an optional library (PyTorch, Dask) that
the user has not loaded (a value of its kind cannot exist without it)."""

from __future__ import annotations

import sys

import numpy as np


def is_torch_tensor(X) -> bool:
    """Whether X is a torch tensor."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(X, torch.Tensor)


def is_torch_device(value) -> bool:
    """Whether ``value`` is a ``torch.device``."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.device)


def is_dask_array(X) -> bool:
    """Whether X is a ``dask.array.Array``."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(X, da.Array)


def is_dask_collection(X) -> bool:
    """Any Dask collection (array, DataFrame, bag, delayed)."""
    return hasattr(X, "__dask_graph__") and callable(X.__dask_graph__)


def is_foreign_array(X) -> bool:
    """An array of the array API standard that is neither NumPy nor torch
    (array-api-strict, CuPy, ...)."""
    return (hasattr(X, "__array_namespace__") and not isinstance(X, np.ndarray)
            and not is_torch_tensor(X))
