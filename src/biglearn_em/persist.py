"""Model files: a fitted :class:`BigLearnGaussianMixture` as an ``.npz`` archive.

The archive holds plain numeric arrays and JSON text, nothing else, and is
read with ``allow_pickle=False``: loading a file never runs code. Entries:

``weights_``, ``means_``, ``covariances_``, ``precisions_``, ``precisions_cholesky_``
    The fitted parameters, in the model's dtype (float64 or float32).
``lower_bounds_``
    The joint mean log-likelihoods of the fit (float64, 1-D).
``meta``
    One JSON string: ``format`` ("biglearn-em-model"), ``format_version`` (1),
    ``estimator``, ``versions`` (biglearn-em, Python, NumPy, SciPy,
    scikit-learn), ``params`` (``get_params()``), ``params_not_saved``,
    ``n_components``, ``n_features_in_``, ``feature_names_in_`` (or null),
    ``dtype``, ``lower_bound_``, ``n_iter_``, ``n_em_steps_`` (not in files
    written before it existed), ``converged_`` and
    ``memory_order`` (per parameter array, its axes from the slowest to the
    fastest varying in memory: the array is stored in that order and
    transposed back on loading, so that it has its original layout).
``history_``
    One JSON string: the fit's ``history_`` records.

Parameters are stored as JSON: arrays given as ``weights_init``,
``means_init`` or ``precisions_init`` become nested lists (and arrays again
on loading); a ``random_state`` that is a ``RandomState`` or ``Generator``
object cannot be stored, so it is saved as null and named in
``params_not_saved``. ``labels_`` (one label per training sample) is not
saved.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._files import SINGLE_ARRAY, not_an_npz, npz_error, write_npz_atomic
from ._inputs import to_host
from ._kinds import is_torch_device
from ._validation import validate_params
from ._version import __version__
from .engine.covariance import covariance_type

#: A fitted BigLearnGaussianMixture. Not imported: the estimator imports this
#: module to save itself, and hands its class to the readers below.
Estimator = Any

FORMAT = "biglearn-em-model"
FORMAT_VERSION = 1
#: Fitted parameter arrays, each of shape (K,), (K, D) or (K, D, D).
PARAM_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
ENTRIES = (*PARAM_ARRAYS, "lower_bounds_", "meta", "history_")
#: The first bytes of a zip archive, which an .npz file is.
#: What a model file is, for the error that says a file is not one.
NOT_A_MODEL = "expected an .npz archive written by biglearn-em fit --out or model.save"


def save(model: Estimator, path: str | os.PathLike) -> Path:
    """Write a fitted model to ``path`` (an ``.npz`` archive; no suffix is added).

    The file is written to a temporary file in the same directory and then
    renamed over ``path``, so a crash never leaves a half-written model.

    Parameters
    ----------
    model : BigLearnGaussianMixture
        A fitted model.
    path : str or path-like
        Destination file; its directory must exist.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    """
    # what the file records (the validation spec, the fitted covariance type):
    # any other estimator is refused before anything is written
    if not (hasattr(type(model), "_param_spec") and hasattr(model, "_fitted_type")):
        raise TypeError(f"can only save a BigLearnGaussianMixture; got {type(model).__name__}")
    check_is_fitted(model)
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"no such directory: {directory}")
    entries: dict[str, np.ndarray] = {}
    memory_order: dict[str, list[int]] = {}
    for name in PARAM_ARRAYS:
        # stored in its memory order: the same layout on loading gives the same
        # BLAS code paths, hence bit-identical predictions
        arr = to_host(getattr(model, name))
        order = sorted(range(arr.ndim), key=lambda axis: -abs(arr.strides[axis]))
        entries[name] = np.ascontiguousarray(arr.transpose(order))
        memory_order[name] = order
    entries["lower_bounds_"] = np.asarray(getattr(model, "lower_bounds_", []), dtype=np.float64)
    meta = _meta(model)
    meta["memory_order"] = memory_order
    entries["meta"] = np.array(json.dumps(meta, default=_json_scalar))
    entries["history_"] = np.array(json.dumps(getattr(model, "history_", []),
                                              default=_json_scalar))

    return write_npz_atomic(path, entries)


def load_with_meta(path: str | os.PathLike, estimator: type) -> tuple[Estimator, dict[str, Any]]:
    """A model written by :func:`save`, as an instance of ``estimator`` (the
    class :func:`biglearn_em.load` hands in, see there for the errors), and the
    file's ``meta`` record (versions and all)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path}")
    why = not_an_npz(path)
    if why is not None:  # a single array is worth naming; any other file is just not one
        detail = f"{why}; " if why == SINGLE_ARRAY else ""
        raise ValueError(f"{path} is not a biglearn-em model file ({detail}{NOT_A_MODEL})")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # a damaged zip: BadZipFile, OSError, EOFError...
        raise ValueError(f"{path} is not a biglearn-em model file (not a readable .npz "
                         f"archive: {npz_error(exc)})") from None
    with archive:
        files = set(archive.files)
        if "meta" not in files:
            raise ValueError(f"{path} is not a biglearn-em model file (no 'meta' entry; "
                             f"{NOT_A_MODEL})")
        meta = _json_entry(path, archive, "meta")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise ValueError(f"{path} is not a biglearn-em model file (format {found!r})")
        version = meta.get("format_version")
        if not _is_int(version) or version < 1:
            raise ValueError(f"{path}: invalid model format version {version!r}")
        if version > FORMAT_VERSION:
            raise ValueError(f"{path} was written in model format version {version}, newer than "
                             f"this biglearn-em reads ({FORMAT_VERSION}): upgrade biglearn-em")
        missing = sorted(set(ENTRIES) - files)
        extra = sorted(files - set(ENTRIES))
        if missing or extra:
            raise ValueError(f"{path}: damaged model file (missing entries {missing}, "
                             f"unexpected entries {extra})")
        arrays = {name: _array_entry(path, archive, name)
                  for name in (*PARAM_ARRAYS, "lower_bounds_")}
        history = _json_entry(path, archive, "history_")
    return _build(path, meta, arrays, history, estimator), meta


# ---------------------------------------------------------------- writing
def _meta(model: Estimator) -> dict[str, Any]:
    import scipy
    import sklearn

    params, not_saved = {}, []
    for name, value in model.get_params(deep=False).items():
        try:
            params[name] = _to_json(value)
        except TypeError:  # e.g. a RandomState object
            params[name] = None
            not_saved.append(name)
    # the type of the saved arrays, even if covariance_type was set after the fit
    params["covariance_type"] = model._fitted_type()
    names = getattr(model, "feature_names_in_", None)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(model).__name__,
        "versions": {
            "biglearn-em": __version__,
            "python": ".".join(map(str, sys.version_info[:3])),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "params": params,
        "params_not_saved": not_saved,
        "n_components": int(model.means_.shape[0]),
        "n_features_in_": int(model.n_features_in_),
        "feature_names_in_": None if names is None else [str(n) for n in names],
        "dtype": str(model.means_.dtype),
        "lower_bound_": float(model.lower_bound_),
        "n_iter_": int(model.n_iter_),
        "converged_": bool(model.converged_),
    } | ({} if not hasattr(model, "n_em_steps_") else {"n_em_steps_": int(model.n_em_steps_)})


def _to_json(value: Any) -> Any:
    """A parameter value as JSON data; TypeError if it has no JSON form."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike) and isinstance(os.fspath(value), str):
        return os.fspath(value)
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if is_torch_device(value):  # device=torch.device("cuda", 1) is saved as "cuda:1"
        return str(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _json_scalar(value: Any) -> Any:
    """``json.dumps`` hook for NumPy scalars inside history records."""
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    raise TypeError(f"no JSON form for {type(value).__name__}")


# ---------------------------------------------------------------- reading
def _read(path: Path, archive, name: str) -> np.ndarray:
    try:
        return archive[name]
    except Exception as exc:  # bad CRC, truncated data, object arrays refused
        raise ValueError(f"{path}: damaged model file (entry {name!r}: {npz_error(exc)})") from None


def _json_entry(path: Path, archive, name: str) -> Any:
    arr = _read(path, archive, name)
    if arr.dtype.kind != "U" or arr.ndim != 0:
        raise ValueError(f"{path}: damaged model file (entry {name!r} is not a JSON string)")
    try:
        return json.loads(str(arr[()]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: damaged model file (entry {name!r} is not valid JSON: "
                         f"{exc})") from None


def _array_entry(path: Path, archive, name: str) -> np.ndarray:
    arr = _read(path, archive, name)
    if arr.dtype not in (np.float32, np.float64):
        raise ValueError(f"{path}: damaged model file (entry {name!r} has dtype {arr.dtype})")
    return arr


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _build(path: Path, meta: dict, arrays: dict[str, np.ndarray], history: Any,
           estimator: type) -> Estimator:
    """A fitted estimator from checked file contents."""

    def bad(what: str) -> ValueError:
        return ValueError(f"{path}: invalid model file ({what})")

    K, D = meta.get("n_components"), meta.get("n_features_in_")
    if not (_is_int(K) and _is_int(D) and K >= 1 and D >= 1):
        raise bad(f"n_components = {K!r}, n_features_in_ = {D!r}")
    dtype = meta.get("dtype")
    if dtype not in ("float32", "float64"):
        raise bad(f"dtype {dtype!r}")
    orders = meta.get("memory_order")
    if not isinstance(orders, dict):
        raise bad("no memory_order")
    for name in PARAM_ARRAYS:
        order = orders.get(name)
        if not (isinstance(order, list) and all(_is_int(a) for a in order)
                and sorted(order) == list(range(arrays[name].ndim))):
            raise bad(f"memory_order of {name} is {order!r}")
        arrays[name] = arrays[name].transpose(np.argsort(order))
    if arrays["lower_bounds_"].ndim != 1:
        raise bad("lower_bounds_ is not 1-D")
    names = meta.get("feature_names_in_")
    if names is not None and not (isinstance(names, list) and len(names) == D
                                  and all(isinstance(n, str) for n in names)):
        raise bad("feature_names_in_ is not a list of n_features_in_ strings")
    if not (isinstance(history, list) and all(isinstance(r, dict) for r in history)):
        raise bad("history_ is not a list of records")
    lower_bound, n_iter, converged = (meta.get(k) for k in
                                      ("lower_bound_", "n_iter_", "converged_"))
    if not (isinstance(lower_bound, (int, float)) and not isinstance(lower_bound, bool)
            and _is_int(n_iter) and isinstance(converged, bool)):
        raise bad("lower_bound_, n_iter_ or converged_ missing or of the wrong type")
    steps = meta.get("n_em_steps_")
    if steps is not None and not _is_int(steps):
        raise bad("n_em_steps_ is not an integer")

    model = estimator()
    params = meta.get("params")
    if not isinstance(params, dict):
        raise bad("no parameters")
    params = dict(params)  # the caller keeps meta as read
    defaults = model.get_params(deep=False)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise bad(f"parameters {unknown} unknown to this version of biglearn-em")
    for name, value in params.items():
        if isinstance(value, list):
            # tuples become JSON lists; *_init arrays come back as arrays
            value = tuple(value) if isinstance(defaults[name], tuple) else np.asarray(value)
        params[name] = value
    model.set_params(**params)
    try:
        validate_params(type(model).__name__, model.get_params(deep=False),
                        type(model)._param_spec)
    except (TypeError, ValueError) as exc:
        raise bad(str(exc)) from None
    if model.n_components != K:
        raise bad(f"n_components parameter {model.n_components} but {K} components")
    cov = covariance_type(model.covariance_type)
    cov_shape = cov.shape(K, D)
    shapes = {"weights_": (K,), "means_": (K, D), "covariances_": cov_shape,
              "precisions_": cov_shape, "precisions_cholesky_": cov_shape}
    for name, shape in shapes.items():
        arr = arrays[name]
        if arr.shape != shape or arr.dtype != dtype:
            raise bad(f"{name} has shape {arr.shape} and dtype {arr.dtype}; expected {shape} "
                      f"and {dtype}")
        if not np.all(np.isfinite(arr)):
            raise bad(f"{name} has values that are not finite")
    weights = arrays["weights_"]
    if np.any(weights < 0) or abs(float(weights.sum(dtype=np.float64)) - 1.0) > 1e-4:
        raise bad("weights_ are not probabilities")
    chol = cov.stored(arrays["precisions_cholesky_"])
    if chol.ndim == 3:  # matrices: full (K, D, D), tied (1, D, D)
        if np.any(np.tril(chol, -1) != 0) or np.any(np.diagonal(chol, axis1=1, axis2=2) <= 0):
            raise bad("precisions_cholesky_ is not upper triangular with a positive diagonal")
    elif np.any(chol <= 0):
        raise bad("precisions_cholesky_ (inverse standard deviations) is not positive")

    for name in PARAM_ARRAYS:
        setattr(model, name, arrays[name])
    model._covariance_type = model.covariance_type
    model.n_features_in_ = D
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    model.lower_bound_ = float(lower_bound)
    model.lower_bounds_ = [float(v) for v in arrays["lower_bounds_"]]
    model.n_iter_ = n_iter
    if steps is not None:
        model.n_em_steps_ = steps
    model.converged_ = converged
    model.history_ = history
    return model
