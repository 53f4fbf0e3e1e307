"""The command line's options, written once: their argparse types, the data
file options and how they read DATA, the estimator options, and how a command
reports warnings. Every command (and each experiment's own parser) takes its
options from here."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Callable, Collection, Iterator
from typing import Any

import numpy as np

from ..engine import COVARIANCE_TYPES
from ..io import FORMATS, IndexColumn, install_hint, plural, read_table
from ..mixture import BigLearnGaussianMixture

DATA_HELP = (
    "DATA is a table of samples (rows) by features (columns): delimited text (.csv, .tsv, .txt, "
    "also gzip-compressed as .csv.gz etc.; the first row is taken as a header when one of its "
    "cells is not a number), NumPy .npy "
    f"(2-D), Parquet (.parquet; needs {install_hint('io', 'pyarrow')}), a MATLAB .mat file with a "
    "'DataSet' table whose column 0 is a label, or LIBSVM / svmlight (.libsvm, .svm; read as a "
    "dense N x D float64 matrix in memory). A first column of row names or row numbers (an "
    "empty header, or the values 1..N or 0..N-1) is left out; --index-column decides otherwise."
)
#: How to get PyTorch: any build works; the CPU build is far smaller than the CUDA one.
TORCH_HINT = ("pip install torch (CPU build: pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu)")


# ------------------------------------------------------------------ parsing
def auto_or_float(text: str) -> str | float:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number; got {text!r}") from None


def none_or(convert: Callable[[str], Any], expected: str) -> Callable[[str], Any]:
    """A parser of ``convert``'s values or 'none', with an error naming ``expected``."""
    def parse(text: str):
        if text.lower() == "none":
            return None
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {expected} or 'none'; got {text!r}") from None
    return parse


int_or_none = none_or(int, "an integer")
float_or_none = none_or(float, "a number")
auto_int_or_none = none_or(lambda text: "auto" if text.lower() == "auto" else int(text),
                           "'auto', an integer")


def int_option(valid: Callable[[int], bool], expected: str) -> Callable[[str], int]:
    """A parser of integers for which ``valid`` holds, with an error naming ``expected``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
        return value
    return parse


positive_int = int_option(lambda v: v >= 1, "an integer >= 1")


def float_triple(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers a,b,c; got {text!r}")
    a, b, c = values
    return a, b, c


def device_option(text: str) -> str | None:
    return None if text.lower() == "none" else text


def column_list(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


#: Estimator options of ``fit``: flag, parameter, type, help. Defaults are the
#: estimator's own (read from get_params, never repeated here).
ESTIMATOR_OPTIONS: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    ("--covariance-type", "covariance_type", str,
     "full, tied, diag or spherical (scikit-learn's meanings)"),
    ("--n-init", "n_init", int, "initialisations; the best training likelihood wins"),
    ("--max-iter", "max_iter", int,
     "outer iterations (also caps the refinement, the moves tried and the final polish)"),
    ("--n-inner", "n_inner", int, "EM steps on each drawn view"),
    ("--init-params", "init_params", str,
     "initialisation: kmeans, k-means++, random or random_from_data"),
    ("--update", "update", str, "write-back rule: block or conditional"),
    ("--eig-floor", "eig_floor", auto_or_float,
     "eigenvalue floor of every covariance: 'auto' or an absolute number"),
    ("--reg-covar", "reg_covar", float, "added to the diagonal of every M-step covariance"),
    ("--weight-smoothing", "weight_smoothing", auto_or_float,
     "smoothing of the weights: 'auto' (1/K) or a number"),
    ("--patience", "patience", auto_int_or_none,
     "stop the views after this many outer iterations without improvement ('auto': 50, or "
     "10 after restarts that agreed, growing with slow improvements; 'none': run max-iter)"),
    ("--tol", "tol", float, "convergence threshold on the mean log-likelihood"),
    ("--random-state", "random_state", int, "seed: the same seed gives the same model"),
    ("--view-probs", "view_probs", float_triple,
     "probabilities a,b,c of joint, marginal and rotated-marginal views"),
    ("--restarts", "restarts", int,
     "short EM runs from new k-means++ starts besides the fit's own (0: the paper's algorithm)"),
    ("--restart-iter", "restart_iter", int, "at most this many EM steps per short run"),
    ("--restart-agreement", "restart_agreement", int_or_none,
     "end the restarts once this many converged runs reached the best optimum ('none': "
     "run them all)"),
    ("--moves", "moves", int, "split-and-merge proposals per round after the refinement"),
    ("--smoothing-fade", "smoothing_fade", int_or_none,
     "outer iterations over which the weight smoothing fades to 0 ('none': constant)"),
    ("--search-rows", "search_rows", auto_int_or_none,
     "rows the restarts, moves and views run on: 'auto' (max(20000, 50 K D)), a number or "
     "'none'"),
    ("--max-time", "max_time", float_or_none,
     "seconds after which the fit stops with the best model found so far"),
    ("--chunk-size", "chunk_size", int, "rows per chunk of every data pass"),
    ("--device", "device", device_option,
     "where the fit runs: cpu, cuda, cuda:N or auto (a GPU where it pays); a GPU needs "
     f"PyTorch: {TORCH_HINT}"),
    ("--dtype", "dtype", str, "precision of the data chunks: float64 or float32"),
    ("--device-budget", "device_budget", int_or_none,
     "bytes of device memory the data may occupy; larger data are streamed ('none': half "
     "of the free memory)"),
)


def describe_data(args: argparse.Namespace, shape: tuple[int, int], names, labels,
                  index: IndexColumn | None = None) -> None:
    """Print what was read: rows, features (named when few), the labels set
    aside and the column left out as a row index."""
    N, D = shape
    about = f" ({', '.join(names)})" if names is not None and D <= 12 else ""
    print(f"data: {args.data}: {plural(N, 'sample')} x {plural(D, 'feature')}{about}")
    if labels is not None:
        what = f"column {args.label_column!r}" if args.label_column is not None else "labels"
        print(f"      {what} set aside, not used for fitting")
    if index is not None:
        print(f"      {index_note(index)}")


def index_note(index: IndexColumn) -> str:
    """The line that says which column was left out as a row index."""
    if index.why == "given":
        named = "" if index.name is None else f" ({index.name!r})"
        return f"column {index.position + 1}{named} left out as the --index-column"
    return index.note("--index-column none")


def index_column_option(text: str) -> str | int | None:
    """``--index-column``: 'auto', 'none', or a column name or 0-based index."""
    if text.lower() in ("auto", "none"):
        return None if text.lower() == "none" else "auto"
    return text


#: What ``--missing`` reads as a missing value, for its help and the CLI guide (docs/guide/cli.md).
MISSING_HELP = ("read missing values as NaN, for the model to handle: empty cells and NA, NaN, "
                "N/A, null, ?, ... (in any case) in text files, NaN in .npy, .mat and Zarr "
                "arrays, nulls and NaN in Parquet (default: a missing value is an error)")


def add_data_options(parser: argparse.ArgumentParser, missing_option: bool = True) -> None:
    """The data file options; ``--missing`` too unless ``missing_option`` is
    False (a command that always reads missing values)."""
    g = parser.add_argument_group("data file options")
    g.add_argument("--format", choices=FORMATS, default=None,
                   help="the data format (default: from the file's extension)")
    g.add_argument("--label-column", metavar="COLUMN", default=None,
                   help="a column (name or 0-based index) holding labels, not a feature "
                        "(text, .npy and Parquet files)")
    g.add_argument("--columns", metavar="A,B,...", type=column_list, default=None,
                   help="feature columns to use, by name or 0-based index")
    g.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help="whether a text file's first row holds column names "
                        "(default: detected)")
    g.add_argument("--index-column", metavar="COLUMN", type=index_column_option, default="auto",
                   help="a column of row names or numbers to leave out (name or 0-based "
                        "index), or 'none'; 'auto' leaves out a first column with an empty "
                        "header or the values 1..N or 0..N-1, unless --columns is given "
                        "(default: auto)")
    if missing_option:
        g.add_argument("--missing", action="store_true", help=MISSING_HELP)


def add_estimator_options(parser: argparse.ArgumentParser, exclude: Collection[str] = ()
                          ) -> None:
    """Add the options of :data:`ESTIMATOR_OPTIONS` (but the parameters named in
    ``exclude``) to ``parser``, each absent from the parsed arguments unless given;
    :func:`estimator_options` collects those given."""
    defaults = BigLearnGaussianMixture().get_params(deep=False)
    est = parser.add_argument_group("estimator options (defaults: the estimator's)")
    for flag, name, kind, text in ESTIMATOR_OPTIONS:
        if name in exclude:
            continue
        shown = defaults[name]
        if isinstance(shown, tuple):
            shown = ",".join(str(v) for v in shown)
        # absent unless given (None is a value: --patience none)
        est.add_argument(flag, dest=name, type=kind, default=argparse.SUPPRESS,
                         help=f"{text} (default: {shown})")


def estimator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The estimator parameters given on the command line, by parameter name."""
    return {name: getattr(args, name) for _, name, _, _ in ESTIMATOR_OPTIONS
            if hasattr(args, name)}


def read_data(args: argparse.Namespace, n_features: int | None = None,
              index_column: str | int | None | bool = True, missing: bool | None = None):
    """The data file as ``read_table`` reads it with the data options:
    X, feature names, labels and the column left out as an index.
    ``index_column`` overrides ``--index-column`` unless it is True;
    ``missing`` overrides ``--missing`` unless it is None."""
    return read_table(args.data, fmt=args.format, label_column=args.label_column,
                      columns=args.columns, header=args.header, n_features=n_features,
                      index_column=args.index_column if index_column is True else index_column,
                      return_index=True, missing=reads_missing(args, missing))


def reads_missing(args: argparse.Namespace, missing: bool | None = None) -> bool:
    """Whether DATA's missing values are read as NaN: ``missing`` unless None,
    else ``--missing`` (False for a command without the option)."""
    return bool(getattr(args, "missing", False)) if missing is None else missing


def add_weight_option(parser: argparse.ArgumentParser, streamed: bool = False) -> None:
    """``--weight-column``: the rows' frequency weights, read from DATA
    (``streamed``: also from streamed data, for a command that streams)."""
    where = ("text, .npy and Parquet files, Parquet folders and Zarr arrays"
             if streamed else "text, .npy and Parquet files")
    parser.add_argument(
        "--weight-column", metavar="COLUMN", default=None,
        help="a column (name or 0-based index) of frequency weights >= 0, not a feature: a "
             f"row of weight w counts as w copies of itself ({where}; with --label-column, "
             "also give --columns to files read into memory)")


def read_weighted_data(args: argparse.Namespace):
    """:func:`read_data` with ``--weight-column``: X, feature names, labels,
    the column left out as an index, and the weights (None without the option)."""
    column = getattr(args, "weight_column", None)
    if column is None:
        return (*read_data(args), None)
    if args.label_column is not None and args.columns is None:
        raise ValueError("--weight-column with --label-column needs --columns: the feature "
                         "columns (a label column would otherwise be read as a feature)")
    # the weight column is read as read_table reads a label column: set aside, not a feature
    X, names, weights, index = read_table(
        args.data, fmt=args.format, label_column=column, columns=args.columns,
        header=args.header, index_column=args.index_column, return_index=True,
        missing=reads_missing(args))
    assert weights is not None  # a label column's values: read_table returns them
    if weights.dtype.kind not in "biuf":
        # a label column keeps its text when one cell is not a number (an empty
        # cell, NA): name that cell, not the column's first value
        values = [_as_number(v) for v in weights]
        first = next(i for i, v in enumerate(values) if v is None)
        raise ValueError(f"--weight-column {column!r}: expected numbers >= 0; data row "
                         f"{first + 1} holds {str(weights[first])!r}")
    weights = weights.astype(np.float64)
    bad = np.flatnonzero(~((weights >= 0) & np.isfinite(weights)))  # negative, NaN, inf
    if len(bad):
        raise ValueError(f"--weight-column {column!r}: expected finite numbers >= 0; data row "
                         f"{bad[0] + 1} holds {weights[bad[0]]:g}")
    return X, names, None, index, weights


def _as_number(value) -> float | None:
    """``value`` as a float, or None where it is not a number (an empty cell)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_columns_observed(args: argparse.Namespace, X: np.ndarray, names) -> None:
    """Refuse a feature column of DATA with no observed value, by name: a
    model fitted to it could learn nothing of that feature."""
    never = np.flatnonzero(np.isnan(X).all(axis=0))
    if len(never):
        j = int(never[0])
        which = f"feature column {j + 1}" + ("" if names is None else f" ({names[j]!r})")
        raise ValueError(f"{args.data}: {which} has no observed value (every row misses it); "
                         "leave it out with --columns")


@contextlib.contextmanager
def warnings_as_lines() -> Iterator[None]:
    """Show warnings (e.g. a ConvergenceWarning) as one line each on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        print(f"biglearn-em: warning: {w.message}", file=sys.stderr)


def covariance_types_argument(text: str) -> tuple[str, ...]:
    """An argparse ``type`` for a comma-separated list of covariance types
    (``--covariance-types`` of ``reproduce`` and ``select``).

    Parameters
    ----------
    text : str
        For example ``"diag,spherical"``.

    Returns
    -------
    tuple of str
        ``("diag", "spherical")``: duplicates dropped, order kept.

    Raises
    ------
    argparse.ArgumentTypeError
        For a name (an empty one included) that is not one of
        :data:`COVARIANCE_TYPES`, naming them.
    """
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",")))
    bad = [n for n in names if n not in COVARIANCE_TYPES]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown covariance type {bad[0]!r}: expected a comma list of covariance types "
            f"among {', '.join(COVARIANCE_TYPES)}; got {text!r}")
    return names
