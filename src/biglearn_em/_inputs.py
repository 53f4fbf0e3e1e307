"""X read once: what kind of array it is, its validation (and
``n_features_in_``), and how results go back in kind.

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
from sklearn.utils.validation import check_is_fitted, validate_data

from ._kinds import is_dask_array, is_dask_collection, is_foreign_array, is_torch_tensor
from ._validation import check_sizes


def dispatching() -> bool:
    """Whether scikit-learn's ``array_api_dispatch`` is on."""
    return bool(get_config().get("array_api_dispatch", False))


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

            tensor = a if is_torch_tensor(a) else torch.as_tensor(np.asarray(a))
            if dtype is not None:
                tensor = tensor.to(getattr(torch, np.dtype(dtype).name))
            return tensor.to(self.device)
        host = to_host(a)
        host = host if dtype is None else host.astype(dtype, copy=False)
        return self.xp.asarray(host, device=self.device)


# ------------------------------------------------------------------ validation
def validate(model, X, reset: bool):
    """X validated where it lives for ``model`` (the estimator): a torch
    tensor on its device, a dask array lazily (its values are checked by the
    passes that read them), anything else as a host NumPy array. Sets
    (``reset``: a fit) or checks ``n_features_in_``."""
    if is_torch_tensor(X):
        X = _check_tensor(X, reset)
    elif is_dask_array(X):
        X = _check_dask_array(X, reset)
    elif is_dask_collection(X):
        raise TypeError(f"X is a {type(X).__name__}, a Dask collection other than a dask "
                        "array; pass a dask array of known chunk sizes (for a dask "
                        "DataFrame: X.to_dask_array(lengths=True)).")
    else:
        if dispatching() and is_foreign_array(X):
            X = to_host(X)
        # "numeric" rejects string arrays with a clear message (a float dtype would
        # parse "1.5"); other numbers (int, bool, float16) are then cast to float64
        # NaN marks a missing value (engine/missing.py); infinity stays an error
        X = validate_data(model, X, dtype="numeric", reset=reset,
                          ensure_min_samples=2 if reset else 1, ensure_all_finite="allow-nan")
        return X if X.dtype in (np.float64, np.float32) else X.astype(np.float64)
    _check_n_features(model, X.shape[1], reset)
    return X


def for_inference(model, X, method: str):
    """X validated for ``model.<method>(X)`` on a fitted model, and how its
    results go back (see :class:`Returns`)."""
    check_is_fitted(model)
    returns = Returns.like(X)
    if dispatching():
        fitted, given = namespace_name(model.means_), namespace_name(X)
        if fitted != given or (given != "numpy" and str(model.means_.device) != str(X.device)):
            where = "" if fitted == "numpy" else f" on {model.means_.device}"
            raise ValueError(
                f"{type(model).__name__}.{method}(): X must use the same namespace and "
                f"device as the arrays the model was fitted on ({fitted}{where}); got "
                f"{given}" + ("" if given == "numpy" else f" on {X.device}") + ".")
    return validate(model, X, reset=False), returns


def validate_weights(sample_weight, X, n_components: int | None = None):
    """``sample_weight`` checked against validated X: None (every row once),
    or the rows' frequency weights (N,): a float64 host array, or for a dask
    X a dask array (in X's row blocks, checked in one pass over the weights).
    Weights that are all 1 are None (the unweighted fit, bit for bit). With
    ``n_components``, at least that many rows must weigh more than 0."""
    if sample_weight is None:
        return None
    N = n_rows(X)
    what = f"The parameter 'sample_weight' must be None, a number or an array of shape ({N},)"
    if is_dask_array(sample_weight):
        w = sample_weight
        if w.ndim != 1 or w.shape[0] != N:
            raise ValueError(f"{what}; got a dask array of shape {w.shape}.")
    else:
        try:
            w = to_host(sample_weight)
        except (TypeError, ValueError, BufferError, RuntimeError):
            w = None
        if w is None or w.dtype.kind not in "biuf":
            raise TypeError(f"{what} of real numbers; got {type(sample_weight).__name__}.")
        if w.ndim == 0:  # one weight for every row, as scikit-learn allows
            w = np.full(N, float(w))
        if w.shape != (N,):
            raise ValueError(f"{what}; got shape {w.shape}.")
        w = w.astype(np.float64)  # a copy: the caller's array is never changed
    finite, smallest, positive = _weight_summary(w)
    if not finite:
        raise ValueError("The parameter 'sample_weight' must be finite; got NaN or infinity.")
    if smallest < 0:
        raise ValueError(f"The parameter 'sample_weight' must be >= 0; got {smallest:g}.")
    if positive == 0:
        raise ValueError("The parameter 'sample_weight' is zero for every row: no row to fit "
                         "or score.")
    if n_components is not None and positive < n_components:
        raise ValueError(f"The parameter 'sample_weight' gives only {positive} rows a weight "
                         f"> 0; n_components = {n_components} needs at least {n_components}.")
    if not is_dask_array(w) and bool((w == 1.0).all()):
        return None
    return w


def total_weight(X, sample_weight) -> float:
    """What the rows of X count for: N, or the sum of their weights."""
    w = validate_weights(sample_weight, X)
    if w is None:
        return n_rows(X)
    return float(w.sum().compute() if is_dask_array(w) else w.sum())


def weighted_mean(values, w, dtype) -> float:
    """The mean of per-row ``values`` (N,) of any backend (a lazy dask array
    included) in ``dtype``, weighted by validated weights ``w`` (None: plain);
    a row of weight 0 adds nothing, even where its value is -inf."""
    if is_dask_array(values):
        values = values.astype(dtype)
        if w is None:
            return float(values.mean().compute())
        import dask.array as da

        if not is_dask_array(w):
            w = da.from_array(w, chunks=(values.chunks[0],))
        return float(((da.where(w > 0, values, 0.0) * w).sum() / w.sum()).compute())
    values = to_host(values).astype(dtype, copy=False)
    if w is None:
        return float(values.mean())
    return float(np.average(np.where(w > 0, values, 0.0), weights=w))


def _weight_summary(w) -> tuple[bool, float, int]:
    """Whether all weights are finite, the smallest and how many are > 0."""
    if is_dask_array(w):
        import dask

        finite, smallest, positive = dask.compute(_isfinite_all(w), w.min(), (w > 0).sum())
        return bool(finite), float(smallest), int(positive)
    return bool(np.isfinite(w).all()), float(w.min()), int(np.count_nonzero(w > 0))


def _isfinite_all(w):
    import dask.array as da

    return da.isfinite(w).all()


#: What validating X for a fit sets on the estimator.
FEATURE_ATTRIBUTES = ("n_features_in_", "feature_names_in_")


def feature_attributes(model) -> dict[str, Any]:
    """The estimator's :data:`FEATURE_ATTRIBUTES` (those it has), to put back
    with :func:`restore_feature_attributes` when a fit is interrupted."""
    return {name: model.__dict__[name] for name in FEATURE_ATTRIBUTES if name in model.__dict__}


def restore_feature_attributes(model, saved: dict[str, Any]) -> None:
    for name in FEATURE_ATTRIBUTES:
        model.__dict__.pop(name, None)
    model.__dict__.update(saved)


def n_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def numpy_dtype(a) -> np.dtype:
    """The NumPy dtype of an array of any supported namespace."""
    try:
        return np.dtype(a.dtype)
    except TypeError:  # torch.float32, array_api_strict.float64, ...
        return np.dtype(str(a.dtype).rsplit(".", 1)[-1])


def _check_tensor(X, reset: bool):
    """A torch tensor checked on its device (one host synchronisation for
    the finiteness test); integer, boolean and half-precision tensors
    become float64."""
    import torch

    if X.layout != torch.strided:
        raise TypeError("A sparse torch tensor was passed, but dense data is required; "
                        "use X.to_dense().")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-dimensional tensor (n_samples, n_features); got "
                         f"shape {tuple(X.shape)}.")
    if X.is_complex():
        raise ValueError("Complex data not supported.")
    if X.dtype not in (torch.float32, torch.float64):
        X = X.to(torch.float64)
    check_sizes(tuple(X.shape), reset)
    if bool(torch.isinf(X).any()):  # NaN marks a missing value
        raise ValueError("Input X contains infinity or a value too large for "
                         "dtype('float64').")
    return X


def _check_dask_array(X, reset: bool):
    """A Dask array checked without computing it (finiteness is checked in
    the fit's first pass, and by each block of a prediction).

    Returns X, as float64 unless it is float32 or float64 already.
    """
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-dimensional dask array (n_samples, n_features); got "
                         f"shape {X.shape}.")
    if any(np.isnan(n) for n in X.shape):
        raise ValueError("X is a dask array with unknown chunk sizes; compute them first "
                         "(X.compute_chunk_sizes(), or to_dask_array(lengths=True) on a "
                         "dask DataFrame).")
    kind = np.dtype(X.dtype).kind
    if kind == "c":
        raise ValueError("Complex data not supported.")
    if kind not in "biuf":
        raise ValueError(f"dtype='numeric' is not compatible with arrays of dtype {X.dtype}: "
                         "X must hold numbers.")
    check_sizes(X.shape, reset)
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


def _check_n_features(model, D: int, reset: bool) -> None:
    """Set ``n_features_in_`` (a fit of an array without column names), or
    check D against it (what ``validate_data`` does for NumPy input)."""
    if reset:
        model.n_features_in_ = D
        model.__dict__.pop("feature_names_in_", None)
    elif D != model.n_features_in_:
        raise ValueError(f"X has {D} features, but {type(model).__name__} is expecting "
                         f"{model.n_features_in_} features as input.")
