"""Atomic writes of ``.npz`` archives (model files and checkpoints), and what
a file that should be one is instead."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np


def write_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` so that readers see the old file or the new
    one, never a part: a temporary file in the same folder, flushed to disk,
    then renamed over ``path``. A replaced file keeps its permission bits."""
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            # the entries by name: none is "allow_pickle" (numpy >= 2.1's flag, which the
            # type stubs would match against an ndarray)
            np.savez(fh, **cast(dict[str, Any], arrays))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: The first bytes of a zip archive (an .npz file) and of an .npy file.
ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"
SINGLE_ARRAY = "it holds a single array"


def not_an_npz(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not an ``.npz`` archive ("a single .npy array", "not an
    .npz archive"), or None when it starts like one. Checked before numpy sees
    a file: numpy reads what is neither an .npz nor an .npy as a pickle, and
    its refusal would suggest unpickling the file."""
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(NPY_MAGIC):
        return SINGLE_ARRAY
    return None if magic.startswith(ZIP_MAGIC) else "not an .npz archive"


def npz_error(exc: BaseException) -> str:
    """What went wrong reading an .npz entry, without numpy's advice to unpickle
    an object array (its message names pickle.load and allow_pickle)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ValueError) and "allow_pickle" in text:
        return "an array of Python objects, which is never read"
    return text


def load_npy(path: str | os.PathLike, mmap_mode: Literal["r+", "r", "w+", "c"] | None = None
             ) -> np.ndarray:
    """A ``.npy`` data file (memory-mapped with ``mmap_mode``), with one-line
    errors that never suggest unpickling it."""
    with open(path, "rb") as fh:
        if fh.read(len(NPY_MAGIC)) != NPY_MAGIC:  # numpy would take it for a pickle
            raise ValueError(f"{path} is not a .npy array file (no NumPy header, as "
                             "numpy.save writes)")
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # an object array: numpy reads it only by unpickling
            raise ValueError(f"{path} holds Python objects (dtype object), which are never "
                             "read: save an array of numbers") from None
        raise ValueError(f"{path} is not a readable .npy array file ({exc})") from None
    except Exception as exc:  # truncated or damaged content: OSError, EOFError...
        raise ValueError(f"{path} is not a readable .npy array file ({exc})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
