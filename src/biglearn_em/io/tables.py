"""Reading users' data files into a float matrix for fitting or prediction.

One entry point, :func:`read_table`, picks the reader from the file's extension
(or an explicit ``fmt``): delimited text (``.csv``, ``.tsv``, ``.txt``, each
also gzip-compressed as ``.csv.gz`` and so on), NumPy
``.npy``, Parquet (needs the optional ``pyarrow``), MATLAB ``.mat`` files of
the paper's layout and LIBSVM / svmlight files. Every problem is raised as a
``ValueError`` (``FileNotFoundError`` for a missing file) whose message names
the file and, where it applies, the row and column: in text files the line as
an editor numbers it, in binary files the data row (1-based).

A first column that only numbers or names the rows (what R's ``write.csv`` and
pandas' ``to_csv`` write) is recognised and left out of the features; see
``index_column`` of :func:`read_table`.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, NamedTuple, TextIO, overload

import numpy as np

from .._files import load_npy
from ..datasets import load_mat

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
#: What ``read_table(..., return_index=True)`` returns: a :data:`Table` and the
#: column left out as an index (None when none was).
IndexedTable = tuple[np.ndarray, "list[str] | None", "np.ndarray | None", "IndexColumn | None"]

#: Cell texts read as a missing value, in lower case: what R, pandas and
#: spreadsheets write for one, '?' (UCI files) and '.' (SAS and Stata exports).
MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "+nan", "null", "none", "<na>", "#n/a",
                     "#na", "?", "."})
#: What to do about a missing value read without ``missing=True``: a stray
#: gap is more often a mistake in the file than data missing at random, so
#: reading gaps as NaN is asked for, never assumed.
MISSING_HINT = ("rerun with --missing to read missing values as NaN (in Python: "
                "read_table(..., missing=True); the model fits and predicts rows with gaps), "
                "or drop the rows with missing values or impute them first")
#: Fewest rows for a first column of 1..N or 0..N-1 to count as row numbers:
#: in two rows a feature matches a count too easily.
INDEX_MIN_ROWS = 3


class IndexColumn(NamedTuple):
    """A column of row names or row numbers, left out of the features.

    ``position`` is 0-based in the file, ``name`` the header (None without
    one) and ``why`` what made it an index: "an empty header", "a pandas
    index", "values 1..N", "values 0..N-1" or "given".
    """

    position: int
    name: str | None
    why: str

    def note(self, keep: str) -> str:
        """One line saying that the column was left out; ``keep`` names the
        setting that keeps it (e.g. "--index-column none")."""
        named = "" if self.name is None else f" ({self.name!r})"
        return (f"column {self.position + 1}{named} read as a row index ({self.why}) and left "
                f"out; {keep} keeps it")


def install_hint(extra: str, packages: str) -> str:
    """How to install an optional dependency: biglearn-em is on no package
    index, so its extras install only from a clone."""
    return f"pip install {packages} (from a biglearn-em clone: pip install -e '.[{extra}]')"


def plural(n: int, noun: str) -> str:
    """``n`` and ``noun``, with an "s" unless n is 1: "1 feature", "3 features"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


@overload
def read_table(
    path: str | Path, *, fmt: str | None = ..., label_column: str | int | None = ...,
    columns: Sequence[str | int] | None = ..., header: bool | None = ...,
    n_features: int | None = ..., index_column: str | int | None = ...,
    return_index: Literal[False] = ..., missing: bool = ...,
) -> Table: ...


@overload
def read_table(
    path: str | Path, *, fmt: str | None = ..., label_column: str | int | None = ...,
    columns: Sequence[str | int] | None = ..., header: bool | None = ...,
    n_features: int | None = ..., index_column: str | int | None = ...,
    return_index: Literal[True], missing: bool = ...,
) -> IndexedTable: ...


@overload
def read_table(
    path: str | Path, *, fmt: str | None = ..., label_column: str | int | None = ...,
    columns: Sequence[str | int] | None = ..., header: bool | None = ...,
    n_features: int | None = ..., index_column: str | int | None = ...,
    return_index: bool = ..., missing: bool = ...,
) -> Table | IndexedTable: ...


def read_table(
    path: str | Path,
    *,
    fmt: str | None = None,
    label_column: str | int | None = None,
    columns: Sequence[str | int] | None = None,
    header: bool | None = None,
    n_features: int | None = None,
    index_column: str | int | None = "auto",
    return_index: bool = False,
    missing: bool = False,
) -> Table | IndexedTable:
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
        None keeps every column but the label and index columns. For ``.mat``
        files the indices count the features (the label column is not one of
        them).
    header : bool, default=None
        Whether the first row of a text file holds column names; None decides
        from the row: it is a header when one of its cells is not a number
        (nor a missing value). A header one field shorter than the rows (R's
        ``write.table``) names all columns but the first, the row names.
    n_features : int, default=None
        LIBSVM only: the number of features (a file that happens not to use
        the last features would otherwise come out narrower).
    index_column : "auto", str, int or None, default="auto"
        A column of row names or row numbers, left out (text, ``.npy`` and
        Parquet). "auto": the first column when its header is empty (R's
        ``write.csv``, pandas' ``to_csv``) or when its values are exactly 1,
        2, ..., N or 0, 1, ..., N-1 in order (N >= 3), and a column pandas
        wrote as its index (``__index_level_0__``, in Parquet files). Only the
        first column is tested for a count; nothing is left out when
        ``columns`` picks the features or when no other feature would
        remain. A name or 0-based index: that column. None: no index column.
    return_index : bool, default=False
        Also return the column left out as an index (an :class:`IndexColumn`,
        or None). Without it a column found by "auto" is announced by a
        ``UserWarning``.
    missing : bool, default=False
        Read missing values as NaN: a text cell among :data:`MISSING` (empty,
        ``NA``, ``NaN``, ... in any case), a NaN in a binary file and a
        Parquet null. Without it a missing value is an error naming its
        place. Either way an infinity is an error, and so is a row with no
        observed feature (no model can say anything of it).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        Finite values only (and NaN for a missing value with ``missing``).
    feature_names : list of str or None
        Names of the columns of X, when the file names them (a text header
        or Parquet).
    labels : ndarray of shape (n_samples,) or None
        The label column, the ``.mat`` labels or the LIBSVM targets; numbers
        where every label is one, strings otherwise.
    index : IndexColumn or None
        Only with ``return_index``: the column left out as an index.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        If the file cannot be read, a cell is missing or not a finite number,
        a column is unknown, or there are no rows or no feature columns.
    """
    path = Path(path)
    fmt = _format(path, fmt)

    index = None
    if fmt in ("mat", "libsvm"):
        if label_column is not None:
            raise ValueError(f"{path}: a {fmt} file holds its labels itself; drop the label "
                             "column option")
        if index_column not in (None, "auto"):
            raise ValueError(f"{path}: a {fmt} file has no index column; drop the index "
                             "column option")
        if fmt == "mat":
            X, labels = load_mat(path)
        else:
            X, labels = _read_libsvm(path, n_features)
        names = None
        if columns is not None:
            idx = [_column_index(path, c, None, X.shape[1]) for c in columns]
            X = X[:, idx]
    elif fmt == "npy":
        table = _read_npy(path)
        label_j = _label_index(path, label_column, None, table.shape[1])
        index = find_index_column(path, index_column, None, table.shape[1], label_j, columns,
                                  lambda: table[:, 0])
        idx = _pick(path, label_j, columns, None, table.shape[1], index)
        X, names, labels = table[:, idx], None, None
        if label_j is not None:
            labels = table[:, label_j]
            if np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
                labels = labels.astype(np.int64)
    elif fmt == "parquet":
        X, names, labels, index = _read_parquet(path, label_column, columns, index_column,
                                                missing)
    else:
        X, names, labels, index = _read_text(path, fmt, label_column, columns, header,
                                             index_column, missing)
    if X.shape[0] == 0:
        raise ValueError(f"{path}: no data rows")
    if X.shape[1] == 0:
        raise ValueError(f"{path}: no feature columns")
    if fmt not in TEXT_FORMATS:  # text files were checked cell by cell, by line
        _check_finite(path, X, names, missing)
    X = np.ascontiguousarray(X, dtype=np.float64)
    if return_index:
        return X, names, labels, index
    if index is not None and index.why != "given":
        import warnings

        warnings.warn(f"{path}: {index.note('index_column=None')}", UserWarning, stacklevel=2)
    return X, names, labels


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
    cells = _split_whitespace(first) if delimiter is None else next(
        csv.reader(io.StringIO(first), delimiter=delimiter))
    cells = [c.strip() for c in cells]
    if header is None:
        header = _looks_like_header(cells)
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


def _label_index(path: Path, label_column: str | int | None, names: list[str] | None,
                 width: int) -> int | None:
    return None if label_column is None else _column_index(path, label_column, names, width)


def find_index_column(path: Path, index_column: str | int | None, names: list[str] | None,
                      width: int, label_j: int | None, columns: Sequence[str | int] | None,
                      first_values: Callable[[], np.ndarray | None] | None) -> IndexColumn | None:
    """The column to leave out as an index, as ``index_column`` of
    :func:`read_table` says, or None.

    ``first_values`` gives the values of the first column as floats (None
    when they are not all numbers); None when they cannot be read cheaply
    (streamed data), and then only the header decides.
    """
    if index_column is None:
        return None
    if index_column != "auto":
        j = _column_index(path, index_column, names, width)
        if j == label_j:
            raise ValueError(f"{path}: {_column_text(j, names)} is both the index column and "
                             "the label column")
        return IndexColumn(j, None if names is None else names[j], "given")
    # "auto" guesses only where the user has not said which columns are features,
    # and never takes the last feature
    others = width - 1 - (label_j is not None)
    if columns is not None or label_j == 0 or others < 1:
        return None
    # pandas writes a named index as this column of a Parquet file, after the others
    pandas = [(j, n) for j, n in enumerate(names or ()) if n.startswith("__index_level_")]
    if pandas and pandas[0][0] != label_j:
        return IndexColumn(*pandas[0], "a pandas index")
    name = None if names is None else names[0]
    if name == "":
        return IndexColumn(0, name, "an empty header")
    values = None if first_values is None else first_values()
    if values is None or len(values) < INDEX_MIN_ROWS:
        return None
    count = np.arange(len(values), dtype=np.float64)
    for start, why in ((1, "values 1..N"), (0, "values 0..N-1")):
        if np.array_equal(values, count + start):
            return IndexColumn(0, name, why)
    return None


def _pick(path: Path, label_j: int | None, columns: Sequence[str | int] | None,
          names: list[str] | None, width: int, index: IndexColumn | None = None) -> list[int]:
    """Indices of the feature columns: ``columns``, or every column but the
    label column ``label_j`` and the index column."""
    left_out = {label_j, None if index is None else index.position} - {None}
    if columns is None:
        return [j for j in range(width) if j not in left_out]
    idx = [_column_index(path, c, names, width) for c in columns]
    for j in idx:
        if j == label_j:
            raise ValueError(f"{path}: {_column_text(j, names)} is both the label column "
                             "and a feature column")
        if j in left_out:
            raise ValueError(f"{path}: {_column_text(j, names)} is both the index column "
                             "and a feature column")
    return idx


def _check_finite(path: Path, X: np.ndarray, names: list[str] | None,
                  missing: bool = False) -> None:
    """Refuse infinities and, unless ``missing``, NaN (a missing value), and
    with ``missing`` a row with nothing observed, naming the data row."""
    bad = np.argwhere(np.isinf(X) if missing else ~np.isfinite(X))
    if len(bad):
        r, c = (int(v) for v in bad[0])
        raise ValueError(f"{path}: data row {r + 1}, {_cell_problem(X[r, c], c, names)}")
    if missing:
        _check_observed(X, lambda r: f"{path}: data row {r + 1}")


def _check_observed(X: np.ndarray, where: Callable[[int], str]) -> None:
    """Refuse a row of X with no observed value; ``where(r)`` names row r."""
    empty = np.flatnonzero(np.isnan(X).all(axis=1)) if X.shape[1] else np.array([], dtype=np.intp)
    if len(empty):
        more = "" if len(empty) == 1 else f" (and {plural(len(empty) - 1, 'other row')})"
        raise ValueError(f"{where(int(empty[0]))}: every feature is missing{more}; a row needs "
                         "at least one observed value: drop it")


def _cell_problem(value: float, j: int, names: list[str] | None) -> str:
    """What is wrong with a value that is not finite, after its row."""
    if np.isnan(value):
        return f"{_column_text(j, names)}: NaN is a missing value; {MISSING_HINT}"
    return f"{_column_text(j, names)}: {value} is not a finite number"


def _column_text(j: int, names: list[str] | None) -> str:
    return f"column {j + 1}" + ("" if names is None else f" ({names[j]!r})")


# ------------------------------------------------------------ delimited text
def _read_text(path: Path, fmt: str, label_column: str | int | None,
               columns: Sequence[str | int] | None, header: bool | None,
               index_column: str | int | None, missing: bool = False
               ) -> tuple[np.ndarray, list[str] | None, np.ndarray | None, IndexColumn | None]:
    with _open_text(path) as fh:
        text = fh.read()
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        raise ValueError(f"{path}: the file is empty")
    delimiter = _delimiter(fmt, first)
    if delimiter is None:  # runs of whitespace
        # (file line number, fields) of every non-blank line
        rows = [(i + 1, _split_whitespace(ln)) for i, ln in enumerate(lines) if ln.strip()]
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = []
        for fields in reader:  # line_num: the file line where the record ends
            if any(f.strip() for f in fields):
                rows.append((reader.line_num, [f.strip() for f in fields]))
    if header is None:
        header = _looks_like_header(rows[0][1])
    names = None
    if header:
        names = [cell.strip() for cell in rows[0][1]]
        rows = rows[1:]
        if rows and all(len(fields) == len(names) + 1 for _, fields in rows):
            # R's write.table: the header leaves out the column of row names
            names.insert(0, "")
        seen: dict[str, int] = {}
        for j, name in enumerate(names):
            if name in seen:
                raise ValueError(f"{path}: column name {name!r} is used twice "
                                 f"(columns {seen[name] + 1} and {j + 1})")
            seen[name] = j
    width = len(names) if names is not None else len(rows[0][1]) if rows else 0
    for line_no, fields in rows:
        if len(fields) != width:
            raise ValueError(f"{path}, line {line_no}: {plural(len(fields), 'field')}, "
                             f"expected {width}")

    def first_values() -> np.ndarray | None:
        try:
            return np.array([fields[0] for _, fields in rows], dtype=np.float64)
        except ValueError:
            return None

    label_j = _label_index(path, label_column, names, width)
    index = find_index_column(path, index_column, names, width, label_j, columns, first_values)
    feature_js = _pick(path, label_j, columns, names, width, index)
    if missing:  # every spelling of a gap becomes one float() reads as NaN
        cells = [["nan" if fields[j].lower() in MISSING else fields[j] for j in feature_js]
                 for _, fields in rows]
    else:
        cells = [[fields[j] for j in feature_js] for _, fields in rows]
    try:
        X = np.array(cells, dtype=np.float64).reshape(len(rows), len(feature_js))
        ok = bool((~np.isinf(X) if missing else np.isfinite(X)).all())
    except ValueError:  # a cell that is not a number
        ok = False
    if not ok:  # cell by cell, to name the first bad one by its line
        hint = "" if label_column is not None or columns else (
            " (set a label column aside or pick the feature columns)")
        for line_no, fields in rows:
            for j in feature_js:
                if missing and fields[j].lower() in MISSING:
                    continue
                problem = _text_cell_problem(fields[j], j, names, hint)
                if problem is not None:
                    raise ValueError(f"{path}, line {line_no}, {problem}")
    if missing:
        _check_observed(X, lambda r: f"{path}, line {rows[r][0]}")
    labels = None
    if label_j is not None:
        labels = _labels([fields[label_j] for _, fields in rows])
    feature_names = None if names is None else [names[j] for j in feature_js]
    return X, feature_names, labels, index


def _text_cell_problem(cell: str, j: int, names: list[str] | None, hint: str) -> str | None:
    """What is wrong with a text cell as a feature value, after its line; None if nothing."""
    if cell.lower() in MISSING:
        shown = "an empty cell" if not cell else repr(cell)
        return f"{_column_text(j, names)}: {shown} is a missing value; {MISSING_HINT}"
    try:
        value = float(cell)
    except ValueError:
        return f"{_column_text(j, names)}: {cell!r} is not a number{hint}"
    return None if np.isfinite(value) else _cell_problem(value, j, names)


def _looks_like_header(cells: list[str]) -> bool:
    """A first row is a header when one of its cells is neither a number nor a
    missing value (a data row may hold 'NA'), or when it is the header pandas'
    ``to_csv`` writes for a frame without column names: an empty index name,
    then 0, 1, 2, ..."""
    if cells and cells[0] == "" and len(cells) > 1 and cells[1:] == [
            str(j) for j in range(len(cells) - 1)]:
        return True
    return any(c.lower() not in MISSING and not _is_number(c) for c in cells)


#: A field of a whitespace-separated line: a double-quoted string (quotes
#: doubled inside, as R's write.table writes them) or a run of other characters.
_FIELD = re.compile(r'"((?:[^"]|"")*)"|(\S+)')


def _split_whitespace(line: str) -> list[str]:
    """The fields of a line of whitespace-separated text, quotes removed."""
    return [m.group(2) if m.group(1) is None else m.group(1).replace('""', '"')
            for m in _FIELD.finditer(line)]


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
    arr = load_npy(path)
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected an array of numbers; got dtype "
                         f"{getattr(arr, 'dtype', type(arr).__name__)}")
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (samples x features); got shape "
                         f"{arr.shape}")
    return arr.astype(np.float64)


def _read_parquet(path: Path, label_column: str | int | None,
                  columns: Sequence[str | int] | None, index_column: str | int | None,
                  missing: bool = False
                  ) -> tuple[np.ndarray, list[str], np.ndarray | None, IndexColumn | None]:
    pq = _pyarrow_parquet()

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise ValueError(f"{path} is not a readable Parquet file ({exc})") from None
    names = list(table.column_names)

    def first_values() -> np.ndarray | None:
        col = table.column(0)
        if col.null_count or not _is_numeric_type(col.type):
            return None
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)

    label_j = _label_index(path, label_column, names, len(names))
    index = find_index_column(path, index_column, names, len(names), label_j, columns,
                              first_values)
    feature_js = _pick(path, label_j, columns, names, len(names), index)
    cols = []
    for j in feature_js:
        col = table.column(j)
        _check_numeric_column(path, j, names, col.type)
        if col.null_count and not missing:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"{path}: data row {row + 1}, {_column_text(j, names)} is "
                             f"missing (null); {MISSING_HINT}")
        cols.append(_parquet_floats(col))
    X = np.column_stack(cols) if cols else np.empty((table.num_rows, 0))
    labels = None
    if label_j is not None:
        labels = np.asarray(table.column(label_j).to_numpy(zero_copy_only=False))
    return X, [names[j] for j in feature_js], labels, index


def _parquet_floats(col) -> np.ndarray:
    """A numeric Arrow column as float64, a null as NaN (a missing value)."""
    if col.null_count:
        import pyarrow as pa

        col = col.cast(pa.float64()).fill_null(float("nan"))
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def _is_numeric_type(arrow_type) -> bool:
    import pyarrow as pa

    t = arrow_type
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_decimal(t))


def _check_numeric_column(path: Path, j: int, names: list[str], arrow_type) -> None:
    """Raise a ValueError unless column ``j`` of a Parquet file holds numbers."""
    if not _is_numeric_type(arrow_type):
        raise ValueError(f"{path}: {_column_text(j, names)} has type {arrow_type}, not numbers "
                         "(set a label column aside or pick columns)")


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"reading Parquet files needs pyarrow: {install_hint('io', 'pyarrow')}"
                         ) from None
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


def write_table(out: Path, fmt: str, X: np.ndarray, names: list[str] | None) -> None:
    """Write X (n, D) to ``out`` in ``fmt`` ("npy", "parquet", or a text format
    of :data:`TEXT_FORMATS`; text gzip-compressed when ``out`` ends in .gz),
    with a header of ``names`` where the format holds one (Parquet needs
    column names: "0", "1", ... without them). Text values are written as
    Python's repr: the shortest text that reads back as the same float, so
    values come back bit for bit."""
    if fmt == "npy":
        np.save(out, X, allow_pickle=False)
        return
    if fmt == "parquet":
        pq = _pyarrow_parquet()
        import pyarrow as pa

        names = [str(j) for j in range(X.shape[1])] if names is None else names
        pq.write_table(pa.table({n: X[:, j] for j, n in enumerate(names)}), out)
        return
    opener = gzip.open if out.suffix.lower() == ".gz" else open
    with opener(out, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        if names is not None:
            writer.writerow(names)
        writer.writerows(map(lambda row: map(repr, row), X.tolist()))
