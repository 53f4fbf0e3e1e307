"""What the arrays given to the estimator are, and returning results in kind.

Three kinds of input:

- anything NumPy takes (arrays, lists, DataFrames): host NumPy, as always;
- a torch tensor: used where it lives, on its device, by the torch backend,
  whatever scikit-learn's configuration;
- under ``sklearn.set_config(array_api_dispatch=True)``, any other array of
  the array API standard (array-api-strict, CuPy, ...): read on the host
  through DLPack and computed by the NumPy backend.

Results (fitted arrays, ``predict`` and friends) are NumPy arrays (``predict``
and friends of a dask array: lazy dask arrays), except under
``array_api_dispatch=True``, where they are arrays of the input's namespace on
the input's device, as scikit-learn's own array-API estimators return them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import get_config

from ._backend import is_torch_tensor
from ._dask import is_dask_array


def dispatching() -> bool:
    """Whether scikit-learn's ``array_api_dispatch`` is on."""
    return bool(get_config().get("array_api_dispatch", False))


def is_foreign_array(X) -> bool:
    """An array of the array API standard that is neither NumPy nor torch."""
    return (hasattr(X, "__array_namespace__") and not isinstance(X, np.ndarray)
            and not is_torch_tensor(X))


def namespace_name(a) -> str:
    """``numpy``, ``torch`` or the module name of another array API namespace."""
    if is_torch_tensor(a):
        return "torch"
    if is_foreign_array(a):
        return a.__array_namespace__().__name__
    return "numpy"


def device_of(a) -> Any:
    """The device of an array (``"cpu"`` for NumPy)."""
    return getattr(a, "device", "cpu") if namespace_name(a) != "numpy" else "cpu"


def to_host(a) -> np.ndarray:
    """Any supported array as a host NumPy array (a copy for device data)."""
    if isinstance(a, np.ndarray):
        return a
    if is_torch_tensor(a):
        return a.detach().cpu().numpy()
    if is_foreign_array(a):
        return np.from_dlpack(a)
    return np.asarray(a)


@dataclass(frozen=True)
class Returns:
    """How results go back to the user: as NumPy arrays, or (under
    ``array_api_dispatch``) as arrays of the input's namespace and device."""

    namespace: str = "numpy"
    device: Any = "cpu"
    xp: Any = None

    @classmethod
    def like(cls, X) -> Returns:
        """The returns for input X under the current configuration."""
        if not dispatching():
            return cls()
        name = namespace_name(X)
        if name == "numpy":
            return cls()
        xp = None if name == "torch" else X.__array_namespace__()
        return cls(name, X.device, xp)

    def __call__(self, a, dtype=None):
        """``a`` (a NumPy array or a backend array) as a result, with the NumPy
        ``dtype`` when given."""
        if is_dask_array(a):  # lazy results of a dask array stay lazy
            return a if dtype is None else a.astype(dtype)
        if self.namespace == "numpy":
            out = to_host(a)
            return out if dtype is None else out.astype(dtype, copy=False)
        if self.namespace == "torch":
            import torch

            out = a if is_torch_tensor(a) else torch.as_tensor(np.asarray(a))
            if dtype is not None:
                out = out.to(getattr(torch, np.dtype(dtype).name))
            return out.to(self.device)
        host = to_host(a)
        host = host if dtype is None else host.astype(dtype, copy=False)
        return self.xp.asarray(host, device=self.device)
