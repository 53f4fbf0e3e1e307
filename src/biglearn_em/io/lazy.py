"""Data too large to read into memory, opened as lazy Dask arrays.

:func:`open_lazy` builds a ``dask.array.Array`` whose blocks are read when
a worker computes them, each by a small reader that opens the file itself
(so that a cluster whose workers share the files reads them in parallel,
and nothing but the path and a row range travels in the graph):

- a directory of Parquet files (or one file): a block per row group;
- a Zarr array (a directory with ``zarr.json`` or ``.zarray``): Dask's own
  reader, one block per chunk of rows;
- a ``.npy`` file: memory-mapped by each reader, blocks of about
  :data:`BLOCK_BYTES`.

Problems found without reading the data (a missing file, a column that is
not numeric, an unknown column) are raised at once as ``ValueError``; a
missing value is found when its block is read, and named by file and row.
An index column is found by its name only (an empty name or pandas'
``__index_level_0__``): its values would cost a pass over the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._files import load_npy
from .tables import (
    MISSING_HINT,
    _check_numeric_column,
    _label_index,
    _pick,
    _pyarrow_parquet,
    find_index_column,
    install_hint,
)

#: Target size of one block of a ``.npy`` file (float64 rows).
BLOCK_BYTES = 64 << 20

LAZY_FORMATS = ("npy", "parquet", "zarr")


def _dask_array():
    try:
        import dask.array as da
    except ImportError:
        raise ValueError("streaming data in chunks needs Dask: "
                         f"{install_hint('dask', 'dask[array] distributed zarr')}") from None
    return da


def lazy_format(path: Path, fmt: str | None) -> str | None:
    """The format of ``path`` when only a lazy reader takes it (a directory:
    Parquet files or a Zarr array), else None."""
    if fmt == "zarr" or path.suffix.lower() == ".zarr":
        return "zarr"
    if path.is_dir():
        if (path / "zarr.json").is_file() or (path / ".zarray").is_file():
            return "zarr"
        if fmt in (None, "parquet") and _parquet_files(path):
            return "parquet"
        raise ValueError(f"{path} is a directory, but neither a Zarr array (zarr.json) nor a "
                         "folder of .parquet files")
    return None


def _parquet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix.lower() in (".parquet", ".pq"))


def open_lazy(path: str | Path, fmt: str, *, label_column: str | int | None = None,
              columns: Sequence[str | int] | None = None,
              index_column: str | int | None = "auto", return_index: bool = False):
    """The feature columns of a large data file or folder as a lazy float
    Dask array (n_samples, n_features), and the column names (or None).

    Parameters
    ----------
    path : str or Path
    fmt : {"npy", "parquet", "zarr"}
    label_column, columns, index_column
        As :func:`biglearn_em.io.read_table`: a column to leave out (labels),
        the feature columns to keep and a column of row names or numbers to
        leave out; "auto" looks at the first column's name only.
    return_index : bool, default=False
        Also return the column left out as an index (an
        :class:`~biglearn_em.io.IndexColumn`, or None).
    """
    X, names, index = _open_lazy(Path(path), fmt, label_column, columns, index_column)
    return (X, names, index) if return_index else (X, names)


def _open_lazy(path: Path, fmt: str, label_column, columns, index_column):
    if not path.exists():
        raise FileNotFoundError(f"no such data file or folder: {path}")
    da = _dask_array()
    if fmt == "zarr":
        try:
            X = da.from_zarr(str(path))
        except Exception as exc:  # zarr raises several types for what is not an array
            raise ValueError(f"{path} is not a readable Zarr array ({exc})") from None
        _check_shape(path, X.shape, X.dtype)
        label_j = _label_index(path, label_column, None, X.shape[1])
        index = find_index_column(path, index_column, None, X.shape[1], label_j, columns, None)
        return _columns(X, _pick(path, label_j, columns, None, X.shape[1], index)), None, index
    if fmt == "npy":
        mm = _open_npy(path)
        _check_shape(path, mm.shape, mm.dtype)
        label_j = _label_index(path, label_column, None, mm.shape[1])
        index = find_index_column(path, index_column, None, mm.shape[1], label_j, columns, None)
        idx = _pick(path, label_j, columns, None, mm.shape[1], index)
        rows = max(1, BLOCK_BYTES // (8 * mm.shape[1]))
        blocks = [da.from_delayed(_delayed(_npy_rows)(str(path), s, min(s + rows, len(mm)), idx),
                                  shape=(min(s + rows, len(mm)) - s, len(idx)), dtype=np.float64)
                  for s in range(0, len(mm), rows)]
        return da.concatenate(blocks), None, index
    if fmt == "parquet":
        return _open_parquet(path, label_column, columns, index_column)
    raise ValueError(f"format {fmt!r} cannot be streamed; use one of {', '.join(LAZY_FORMATS)}")


def _delayed(fn):
    import dask

    return dask.delayed(fn, pure=True)


def _columns(X, idx: list[int]):
    return X if idx == list(range(X.shape[1])) else X[:, idx]


def _check_shape(path: Path, shape, dtype) -> None:
    if np.dtype(dtype).kind not in "biuf":
        raise ValueError(f"{path}: expected an array of numbers; got dtype {dtype}")
    if len(shape) != 2:
        raise ValueError(f"{path}: expected a 2-D array (samples x features); got shape {shape}")
    if shape[0] == 0:
        raise ValueError(f"{path}: no data rows")


def _open_npy(path: Path) -> np.ndarray:
    return load_npy(path, mmap_mode="r")


def _npy_rows(path: str, start: int, stop: int, idx: list[int]) -> np.ndarray:
    """Rows [start, stop) and columns ``idx`` of a ``.npy`` file, as float64 (on a worker)."""
    block = np.asarray(np.load(path, mmap_mode="r")[start:stop], dtype=np.float64)
    return np.ascontiguousarray(block[:, idx])


def _open_parquet(path: Path, label_column, columns, index_column):
    pq = _pyarrow_parquet()
    da = _dask_array()
    files = _parquet_files(path)
    if not files:
        raise ValueError(f"{path}: no .parquet files")
    try:
        metas = [pq.ParquetFile(f).metadata for f in files]
        schema = pq.read_schema(files[0])
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise ValueError(f"{path} is not readable as Parquet ({exc})") from None
    names = list(schema.names)
    label_j = _label_index(path, label_column, names, len(names))
    index = find_index_column(path, index_column, names, len(names), label_j, columns, None)
    idx = _pick(path, label_j, columns, names, len(names), index)
    for j in idx:
        _check_numeric_column(path, j, names, schema.field(j).type)
    picked = [names[j] for j in idx]
    blocks = []
    for f, meta in zip(files, metas):
        if list(pq.read_schema(f).names) != names:
            raise ValueError(f"{f}: its columns differ from those of {files[0]}")
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if n:
                blocks.append(da.from_delayed(_delayed(_parquet_rows)(str(f), g, picked),
                                              shape=(n, len(picked)), dtype=np.float64))
    if not blocks:
        raise ValueError(f"{path}: no data rows")
    return da.concatenate(blocks), picked, index


def _parquet_rows(path: str, group: int, columns: list[str]) -> np.ndarray:
    """Row group ``group`` of a Parquet file, the named columns, as float64 (on a worker)."""
    import pyarrow.parquet as pq


    table = pq.ParquetFile(path).read_row_group(group, columns=columns)
    out = np.empty((table.num_rows, len(columns)))
    for j, name in enumerate(columns):
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"{path}: row {row + 1} of row group {group}, column {name!r} "
                             f"is missing (null); {MISSING_HINT}")
        out[:, j] = col.to_numpy(zero_copy_only=False)
    return out
