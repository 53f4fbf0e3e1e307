"""Reading users' data files into a float matrix for fitting or prediction.

One entry point, :func:`read_table`, picks the reader from the file's extension
(or an explicit ``fmt``): delimited text (``.csv``, ``.tsv``, ``.txt``, each
also gzip-compressed as ``.csv.gz`` and so on), NumPy
``.npy``, Parquet (needs the optional ``pyarrow``), MATLAB ``.mat`` files of
the paper's layout and LIBSVM / svmlight files. Every problem is raised as a
``ValueError`` (``FileNotFoundError`` for a missing file) whose message names
the file and, where it applies, the row and column.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

#: Extension (lower case, with the dot) -> format name.
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "txt",
    ".npy": "npy",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".mat": "mat",
    ".libsvm": "libsvm",
    ".svm": "libsvm",
}
#: Format names accepted by ``fmt``.
FORMATS = ("csv", "tsv", "txt", "npy", "parquet", "mat", "libsvm")
#: Formats that may also be read gzip-compressed (``.csv.gz`` ...).
TEXT_FORMATS = ("csv", "tsv", "txt")

Table = tuple[np.ndarray, "list[str] | None", "np.ndarray | None"]


def read_table(
    path: str | Path,
    *,
    fmt: str | None = None,
    label_column: str | int | None = None,
    columns: Sequence[str | int] | None = None,
    header: bool | None = None,
    n_features: int | None = None,
) -> Table:
    """Read a data file as a float64 matrix.

    Parameters
    ----------
    path : str or Path
        The data file.
    fmt : {"csv", "tsv", "txt", "npy", "parquet", "mat", "libsvm"}, default=None
        The format; None picks it from the extension (``.pq`` is Parquet,
        ``.svm`` is LIBSVM). Text formats may be gzip-compressed (``.csv.gz``).
    label_column : str or int, default=None
        A column to set aside as labels (not a feature): a header name or a
        0-based index (negative counts from the end). Text, ``.npy`` and
        Parquet only: ``.mat`` and LIBSVM files carry their labels already.
    columns : sequence of str or int, default=None
        The feature columns to keep, in this order, by name or 0-based index;
        None keeps every column but the label column. For ``.mat`` files the
        indices count the features (the label column is not one of them).
    header : bool, default=None
        Whether the first row of a text file holds column names; None decides
        from the row: it is a header when one of its cells is not a number.
    n_features : int, default=None
        LIBSVM only: the number of features (a file that happens not to use
        the last features would otherwise come out narrower).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        Finite values only.
    feature_names : list of str or None
        Names of the columns of X, when the file names them (a text header
        or Parquet).
    labels : ndarray of shape (n_samples,) or None
        The label column, the ``.mat`` labels or the LIBSVM targets; numbers
        where every label is one, strings otherwise.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        If the file cannot be read, a cell is not a finite number, a column
        is unknown, or there are no rows or no feature columns.
    """
    path = Path(path)
    fmt = _format(path, fmt)

    if fmt in ("mat", "libsvm"):
        if label_column is not None:
            raise ValueError(f"{path}: a {fmt} file holds its labels itself; drop the label "
                             "column option")
        if fmt == "mat":
            from .datasets import load_mat

            X, labels = load_mat(path)
        else:
            X, labels = _read_libsvm(path, n_features)
        names = None
        if columns is not None:
            idx = [_column_index(path, c, None, X.shape[1]) for c in columns]
            X = X[:, idx]
    elif fmt == "npy":
        table = _read_npy(path)
        label_j, idx = _pick(path, label_column, columns, None, table.shape[1])
        X, names, labels = table[:, idx], None, None
        if label_j is not None:
            labels = table[:, label_j]
            if np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
                labels = labels.astype(np.int64)
    elif fmt == "parquet":
        X, names, labels = _read_parquet(path, label_column, columns)
    else:
        X, names, labels = _read_text(path, fmt, label_column, columns, header)
    if X.shape[0] == 0:
        raise ValueError(f"{path}: no data rows")
    if X.shape[1] == 0:
        raise ValueError(f"{path}: no feature columns")
    _check_finite(path, X, names)
    return np.ascontiguousarray(X, dtype=np.float64), names, labels


def column_names(path: str | Path, *, fmt: str | None = None,
                 header: bool | None = None) -> list[str] | None:
    """The column names of a data file without reading its data: a text
    file's header (detected as by :func:`read_table`) or a Parquet schema;
    None for files without names.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_table`.
    """
    path = Path(path)
    fmt = _format(path, fmt)
    if fmt == "parquet":
        pq = _pyarrow_parquet()
        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
            raise ValueError(f"{path} is not a readable Parquet file ({exc})") from None
    if fmt not in TEXT_FORMATS or header is False:
        return None
    with _open_text(path) as fh:
        first = next((ln for ln in fh if ln.strip()), None)
    if first is None:
        return None
    delimiter = _delimiter(fmt, first)
    cells = first.split() if delimiter is None else next(
        csv.reader(io.StringIO(first), delimiter=delimiter))
    cells = [c.strip() for c in cells]
    if header is None:
        header = any(c and not _is_number(c) for c in cells)
    return cells if header else None


# ---------------------------------------------------------------- helpers
def data_format(path: str | Path, fmt: str | None = None) -> str:
    """The format of an existing data file: ``fmt`` checked, or from the extension.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_table`.
    """
    return _format(Path(path), fmt)


def _format(path: Path, fmt: str | None) -> str:
    """The format of an existing data file: ``fmt`` checked, or from the extension."""
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    gz = _gzipped(path)
    if fmt is None:
        suffix = Path(path.stem).suffix if gz else path.suffix
        fmt = EXTENSIONS.get(suffix.lower())
        if fmt is None:
            shown = suffix + ".gz" if gz else suffix or "(no extension)"
            raise ValueError(
                f"{path}: unknown data format {shown!r}; use one of "
                f"{', '.join(sorted(EXTENSIONS))} (text also as .gz) or name the format "
                f"({', '.join(FORMATS)})"
            )
    elif fmt not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if gz and fmt not in TEXT_FORMATS:
        raise ValueError(f"{path}: only text files (csv, tsv, txt) can be read gzip-compressed; "
                         f"decompress this {fmt} file first")
    return fmt


def _gzipped(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text handle on ``path`` (a ``.gz`` file decompressed on the fly);
    what goes wrong while reading it is raised as a ``ValueError`` naming the file."""
    try:
        if _gzipped(path):
            fh = gzip.open(path, "rt", newline="", encoding="utf-8-sig")
        else:
            fh = open(path, newline="", encoding="utf-8-sig")
        with fh:
            yield fh
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a UTF-8 text file ({exc.reason} at byte "
                         f"{exc.start})") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise ValueError(f"{path} is not a readable gzip file ({exc})") from None


def _column_index(path: Path, spec: str | int, names: list[str] | None, n_cols: int) -> int:
    """0-based index of a column given by name or (possibly negative) index."""
    if isinstance(spec, str):
        if names is not None and spec in names:
            return names.index(spec)
        try:
            spec = int(spec)
        except ValueError:
            known = "the file has no column names" if names is None else f"columns: {names}"
            raise ValueError(f"{path}: no column named {spec!r} ({known})") from None
    if not -n_cols <= spec < n_cols:
        raise ValueError(f"{path}: column index {spec} is out of range for {n_cols} columns")
    return spec % n_cols


def _pick(path: Path, label_column: str | int | None, columns: Sequence[str | int] | None,
          names: list[str] | None, width: int) -> tuple[int | None, list[int]]:
    """Index of the label column (or None) and indices of the feature columns."""
    label_j = None if label_column is None else _column_index(path, label_column, names, width)
    if columns is None:
        return label_j, [j for j in range(width) if j != label_j]
    idx = [_column_index(path, c, names, width) for c in columns]
    if label_j in idx:
        raise ValueError(f"{path}: {_column_text(label_j, names)} is both the label column "
                         "and a feature column")
    return label_j, idx


def _check_finite(path: Path, X: np.ndarray, names: list[str] | None) -> None:
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        r, c = (int(v) for v in bad[0])
        raise ValueError(f"{path}: value {X[r, c]} at data row {r + 1}, "
                         f"{_column_text(c, names)} is not a finite number")


def _column_text(j: int, names: list[str] | None) -> str:
    return f"column {j + 1}" + ("" if names is None else f" ({names[j]!r})")


# ------------------------------------------------------------ delimited text
def _read_text(path: Path, fmt: str, label_column: str | int | None,
               columns: Sequence[str | int] | None, header: bool | None) -> Table:
    with _open_text(path) as fh:
        text = fh.read()
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        raise ValueError(f"{path}: the file is empty")
    delimiter = _delimiter(fmt, first)
    if delimiter is None:  # runs of whitespace
        # (file line number, fields) of every non-blank line
        rows = [(i + 1, ln.split()) for i, ln in enumerate(lines) if ln.strip()]
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = []
        for fields in reader:  # line_num: the file line where the record ends
            if any(f.strip() for f in fields):
                rows.append((reader.line_num, [f.strip() for f in fields]))
    if header is None:
        header = any(cell and not _is_number(cell) for cell in rows[0][1])
    names = None
    if header:
        names = [cell.strip() for cell in rows[0][1]]
        rows = rows[1:]
        seen: dict[str, int] = {}
        for j, name in enumerate(names):
            if name in seen:
                raise ValueError(f"{path}: column name {name!r} is used twice "
                                 f"(columns {seen[name] + 1} and {j + 1})")
            seen[name] = j
    width = len(names) if names is not None else len(rows[0][1]) if rows else 0
    for line_no, fields in rows:
        if len(fields) != width:
            raise ValueError(f"{path}, line {line_no}: {len(fields)} fields, expected {width}")

    label_j, feature_js = _pick(path, label_column, columns, names, width)
    cells = [[fields[j] for j in feature_js] for _, fields in rows]
    try:
        X = np.array(cells, dtype=np.float64).reshape(len(rows), len(feature_js))
    except ValueError:  # cell by cell, to name the one that is not a number
        X = np.empty((len(rows), len(feature_js)))
        for i, (line_no, fields) in enumerate(rows):
            for jj, j in enumerate(feature_js):
                try:
                    X[i, jj] = float(fields[j])
                except ValueError:
                    what = "an empty cell" if not fields[j] else f"{fields[j]!r} is not a number"
                    hint = "" if not fields[j] or label_column is not None or columns else (
                        " (set a label column aside or pick the feature columns)")
                    raise ValueError(f"{path}, line {line_no}, {_column_text(j, names)}: "
                                     f"{what}{hint}") from None
    labels = None
    if label_j is not None:
        labels = _labels([fields[label_j] for _, fields in rows])
    feature_names = None if names is None else [names[j] for j in feature_js]
    return X, feature_names, labels


def _delimiter(fmt: str, first_line: str) -> str | None:
    """The field delimiter: the format's own when the first line has it, else
    a tab, comma or semicolon found there, else None (runs of whitespace)."""
    own = {"csv": ",", "tsv": "\t"}.get(fmt)
    for d in ((own,) if own else ()) + ("\t", ",", ";"):
        if d in first_line:
            return d
    return None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _labels(values: list[str]) -> np.ndarray:
    """Labels as integers, else floats, else strings."""
    for kind in (int, float):
        try:
            return np.array([kind(v) for v in values])
        except ValueError:
            pass
    return np.array(values)


# ------------------------------------------------------------------ binary
def _read_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for non-.npy content
        raise ValueError(f"{path} is not a readable .npy array file ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected an array of numbers; got dtype "
                         f"{getattr(arr, 'dtype', type(arr).__name__)}")
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (samples x features); got shape "
                         f"{arr.shape}")
    return arr.astype(np.float64)


def _read_parquet(path: Path, label_column: str | int | None,
                  columns: Sequence[str | int] | None) -> Table:
    pq = _pyarrow_parquet()

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise ValueError(f"{path} is not a readable Parquet file ({exc})") from None
    names = list(table.column_names)
    label_j, feature_js = _pick(path, label_column, columns, names, len(names))
    cols = []
    for j in feature_js:
        col = table.column(j)
        _check_numeric_column(path, j, names, col.type)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"{path}: data row {row + 1}, {_column_text(j, names)} is "
                             "missing (null)")
        cols.append(np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64))
    X = np.column_stack(cols) if cols else np.empty((table.num_rows, 0))
    labels = None
    if label_j is not None:
        labels = np.asarray(table.column(label_j).to_numpy(zero_copy_only=False))
    return X, [names[j] for j in feature_js], labels


def _check_numeric_column(path: Path, j: int, names: list[str], arrow_type) -> None:
    """Raise a ValueError unless column ``j`` of a Parquet file holds numbers."""
    import pyarrow as pa

    t = arrow_type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_decimal(t)):
        raise ValueError(f"{path}: {_column_text(j, names)} has type {t}, not numbers "
                         "(set a label column aside or pick columns)")


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("reading Parquet files needs pyarrow: pip install "
                         "'biglearn-em[io]'") from None
    return pq


def _read_libsvm(path: Path, n_features: int | None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_svmlight_file

    try:
        X, y = load_svmlight_file(str(path), n_features=n_features)
    except Exception as exc:  # sklearn raises ValueError, and others on binary junk
        raise ValueError(f"{path} is not a readable LIBSVM file ({exc})") from None
    # the estimator needs dense rows: N x D float64 in memory
    labels = y.astype(np.int64) if np.all(y == np.round(y)) else y
    return X.toarray(), labels
