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
missing value (unless ``missing=True``: then it is NaN), an infinity and a
weight that is negative or not a number are found when their block is read,
and named by file and row.
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
    _cell_problem,
    _check_numeric_column,
    _check_observed,
    _column_text,
    _label_index,
    _parquet_floats,
    _pick,
    _pyarrow_parquet,
    find_index_column,
    install_hint,
)

#: Target size of one block of a ``.npy`` file (float64 rows).
BLOCK_BYTES = 64 << 20

#: Formats a fit can stream as lazy dask arrays, block by block, instead of reading them whole.
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
              index_column: str | int | None = "auto", return_index: bool = False,
              missing: bool = False, weight_column: str | int | None = None):
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
    missing : bool, default=False
        Read a missing value (NaN, a Parquet null) as NaN, for the fit to
        handle; without it, reading one is an error naming its row.
    weight_column : str or int, default=None
        A column (name or 0-based index) of frequency weights >= 0, left out
        of the features and returned last, as a 1-D lazy array in the row
        blocks of X (what ``fit(X, sample_weight=...)`` takes for a dask X).
    """
    X, names, index, weights = _open_lazy(Path(path), fmt, label_column, columns,
                                          index_column, missing, weight_column)
    found = (X, names, index) if return_index else (X, names)
    return found if weight_column is None else (*found, weights)


def _open_lazy(path: Path, fmt: str, label_column, columns, index_column, missing,
               weight_column):
    if not path.exists():
        raise FileNotFoundError(f"no such data file or folder: {path}")
    da = _dask_array()
    if fmt == "zarr":
        try:
            Z = da.from_zarr(str(path))
        except Exception as exc:  # zarr raises several types for what is not an array
            raise ValueError(f"{path} is not a readable Zarr array ({exc})") from None
        _check_shape(path, Z.shape, Z.dtype)
        idx, index, weight_j = _feature_columns(path, None, Z.shape[1], label_column, columns,
                                                index_column, weight_column)
        # dask's own blocks, whole rows (a row's check needs all its features and
        # a block's columns must be the file's idx): checked as they are read,
        # with their first row's number
        X = _columns(Z, idx).rechunk({1: -1}).map_blocks(_checked_block, str(path), None,
                                                         missing, idx, dtype=np.float64)
        weights = None
        if weight_j is not None:
            weights = Z[:, weight_j].map_blocks(_checked_weights, str(path), weight_j,
                                                dtype=np.float64)
        return X, None, index, weights
    if fmt == "npy":
        mm = _open_npy(path)
        _check_shape(path, mm.shape, mm.dtype)
        idx, index, weight_j = _feature_columns(path, None, mm.shape[1], label_column, columns,
                                                index_column, weight_column)
        rows = max(1, BLOCK_BYTES // (8 * mm.shape[1]))
        starts = range(0, len(mm), rows)
        blocks = [da.from_delayed(_delayed(_npy_rows)(str(path), s, min(s + rows, len(mm)), idx,
                                                      missing),
                                  shape=(min(s + rows, len(mm)) - s, len(idx)), dtype=np.float64)
                  for s in starts]
        weights = None
        if weight_j is not None:  # the same row blocks as X's
            weights = da.concatenate([
                da.from_delayed(_delayed(_npy_weights)(str(path), s, min(s + rows, len(mm)),
                                                       weight_j),
                                shape=(min(s + rows, len(mm)) - s,), dtype=np.float64)
                for s in starts])
        return da.concatenate(blocks), None, index, weights
    if fmt == "parquet":
        return _open_parquet(path, label_column, columns, index_column, missing, weight_column)
    raise ValueError(f"format {fmt!r} cannot be streamed; use one of {', '.join(LAZY_FORMATS)}")


def _feature_columns(path: Path, names: list[str] | None, width: int, label_column, columns,
                     index_column, weight_column):
    """The feature columns, the index column and the weight column (or None):
    the weight column, like the label column, is never a feature."""
    label_j = _label_index(path, label_column, names, width)
    weight_j = _label_index(path, weight_column, names, width)
    if weight_j is not None and weight_j == label_j:
        raise ValueError(f"{path}: {_column_text(weight_j, names)} is both the weight column "
                         "and the label column")
    index = find_index_column(path, index_column, names, width, label_j, columns, None)
    if index is not None and index.position == weight_j:
        if index.why == "given":
            raise ValueError(f"{path}: {_column_text(weight_j, names)} is both the weight "
                             "column and the index column")
        index = None  # found by its name only: the user has said what the column is
    idx = _pick(path, label_j, columns, names, width, index)
    if weight_j is not None:
        if columns is not None and weight_j in idx:
            raise ValueError(f"{path}: {_column_text(weight_j, names)} is both the weight "
                             "column and a feature column")
        idx = [j for j in idx if j != weight_j]
        if not idx:
            raise ValueError(f"{path}: no feature columns besides the weight column")
    return idx, index, weight_j


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


def _npy_rows(path: str, start: int, stop: int, idx: list[int],
              missing: bool = False) -> np.ndarray:
    """Rows [start, stop) and columns ``idx`` of a ``.npy`` file, as float64,
    checked (on a worker)."""
    block = np.asarray(np.load(path, mmap_mode="r")[start:stop], dtype=np.float64)
    return _check_rows(np.ascontiguousarray(block[:, idx]), path, start, missing, idx)


def _npy_weights(path: str, start: int, stop: int, j: int) -> np.ndarray:
    """Rows [start, stop) of column ``j`` of a ``.npy`` file: weights, checked (on a worker)."""
    w = np.array(np.load(path, mmap_mode="r")[start:stop, j], dtype=np.float64)
    return _check_weights(w, path, start, j, None)


def _checked_block(block: np.ndarray, path: str, names, missing: bool, idx: list[int],
                   block_info=None) -> np.ndarray:
    """A block of a Zarr array's feature columns, as float64, checked (on a worker)."""
    start = block_info[0]["array-location"][0][0] if block_info else 0
    return _check_rows(np.asarray(block, dtype=np.float64), path, start, missing, idx, names)


def _checked_weights(block: np.ndarray, path: str, j: int, block_info=None) -> np.ndarray:
    """A block of a Zarr array's weight column, as float64, checked (on a worker)."""
    start = block_info[0]["array-location"][0][0] if block_info else 0
    return _check_weights(np.asarray(block, dtype=np.float64), path, start, j, None)


def _check_rows(block: np.ndarray, path: str, start: int, missing: bool, idx: list[int],
                names: list[str] | None = None, where: str | None = None) -> np.ndarray:
    """``block`` (rows from data row ``start``, 0-based, columns ``idx`` of the
    file) as it is, unless it holds an infinity, a NaN without ``missing``, or
    with ``missing`` a row with nothing observed: then a ValueError naming the
    row. The fit would refuse them too, but only by the array's row number."""
    bad = np.isinf(block) if missing else ~np.isfinite(block)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        row = where or f"data row {start + r + 1}"
        raise ValueError(f"{path}: {row.format(r + 1)}, "
                         f"{_cell_problem(block[r, c], idx[c], names)}")
    if missing:
        _check_observed(block, lambda r: f"{path}: "
                        + (where or f"data row {start + r + 1}").format(r + 1))
    return block


def _check_weights(w: np.ndarray, path: str, start: int, j: int, names: list[str] | None,
                   where: str | None = None) -> np.ndarray:
    """Weights as they are, unless one is negative or not a finite number
    (a NaN, a null): then a ValueError naming the row and the column."""
    bad = np.flatnonzero(~((w >= 0) & np.isfinite(w)))
    if len(bad):
        r = int(bad[0])
        row = where or f"data row {start + r + 1}"
        raise ValueError(f"{path}: {row.format(r + 1)}, {_column_text(j, names)} (the weights):"
                         f" expected a number >= 0; got {w[r]:g}")
    return w


def _open_parquet(path: Path, label_column, columns, index_column, missing=False,
                  weight_column=None):
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
    idx, index, weight_j = _feature_columns(path, names, len(names), label_column, columns,
                                            index_column, weight_column)
    for j in idx + ([] if weight_j is None else [weight_j]):
        _check_numeric_column(path, j, names, schema.field(j).type)
    picked = [names[j] for j in idx]
    blocks, weights = [], []
    for f, meta in zip(files, metas):
        if list(pq.read_schema(f).names) != names:
            raise ValueError(f"{f}: its columns differ from those of {files[0]}")
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if n:
                blocks.append(da.from_delayed(
                    _delayed(_parquet_rows)(str(f), g, names, idx, missing),
                    shape=(n, len(picked)), dtype=np.float64))
                if weight_j is not None:  # the same blocks: a row group each
                    weights.append(da.from_delayed(
                        _delayed(_parquet_weights)(str(f), g, names, weight_j),
                        shape=(n,), dtype=np.float64))
    if not blocks:
        raise ValueError(f"{path}: no data rows")
    return (da.concatenate(blocks), picked, index,
            None if weight_j is None else da.concatenate(weights))


def _parquet_rows(path: str, group: int, names: list[str], idx: list[int],
                  missing: bool = False) -> np.ndarray:
    """Row group ``group`` of a Parquet file of columns ``names``, the columns
    ``idx``, as float64 (a null as NaN with ``missing``), checked (on a worker)."""
    import pyarrow.parquet as pq

    columns = [names[j] for j in idx]
    table = pq.ParquetFile(path).read_row_group(group, columns=columns)
    out = np.empty((table.num_rows, len(columns)))
    for j, name in enumerate(columns):
        col = table.column(name)
        if col.null_count and not missing:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"{path}: row {row + 1} of row group {group}, column {name!r} "
                             f"is missing (null); {MISSING_HINT}")
        out[:, j] = _parquet_floats(col)
    return _check_rows(out, path, 0, missing, idx, names,
                       where=f"row {{}} of row group {group}")


def _parquet_weights(path: str, group: int, names: list[str], j: int) -> np.ndarray:
    """Row group ``group`` of the weight column ``j``: weights, checked (on a worker)."""
    import pyarrow.parquet as pq

    col = pq.ParquetFile(path).read_row_group(group, columns=[names[j]]).column(names[j])
    return _check_weights(_parquet_floats(col), path, 0, j, names,
                          where=f"row {{}} of row group {group}")
