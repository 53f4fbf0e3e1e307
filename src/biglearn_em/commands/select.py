"""``biglearn-em select``: choose the number of components (and the covariance
type) of a mixture for a data file by BIC, AIC or held-out likelihood."""

from __future__ import annotations

import argparse
import importlib.util
import platform
import shlex
import sys
from pathlib import Path

import numpy as np

from .. import __version__
from ..io import install_hint, plural
from ..persist import save
from ..selection import (
    COVARIANCE_TYPES,
    CRITERIA,
    CRITERION_NAMES,
    SEARCHES,
    ModelSelection,
    select_model,
)
from .options import (
    DATA_HELP,
    add_data_options,
    add_estimator_options,
    add_weight_option,
    check_columns_observed,
    covariance_types_argument,
    describe_data,
    estimator_options,
    int_option,
    read_weighted_data,
    warnings_as_lines,
)

#: Files written into --out.
MODEL_FILE, CSV_FILE, REPORT_FILE, FIGURE_FILE = (
    "model.npz", "selection.csv", "selection.md", "selection.png")

NO_MATPLOTLIB = f"not drawn: matplotlib is not installed ({install_hint('plot', 'matplotlib')})"


# ------------------------------------------------------------------ parsing
def component_grid(text: str) -> list[int]:
    """Parse ``-k``: ``A:B`` (A to B inclusive), ``A:B:STEP``, a single K, or a
    comma list of these (e.g. ``2:10,12,16:30:2``); a sorted list of distinct Ks."""
    expected = ("expected K values >= 1 as A:B (inclusive), A:B:STEP or a comma list such as "
                f"2,4,8 or 2:10,15; got {text!r}")
    values: set[int] = set()
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(parts):
        raise argparse.ArgumentTypeError(expected)
    for part in parts:
        try:
            numbers = [int(v) for v in part.split(":")]
        except ValueError:
            raise argparse.ArgumentTypeError(expected) from None
        if len(numbers) == 1:
            numbers = numbers * 2
        if len(numbers) > 3 or min(numbers) < 1:
            raise argparse.ArgumentTypeError(expected)
        start, stop, step = (*numbers, 1)[:3]
        if start > stop:
            raise argparse.ArgumentTypeError(f"{expected} ({start}:{stop} is empty: "
                                             "A must be <= B)")
        values.update(range(start, stop + 1, step))
    return sorted(values)




_folds = int_option(lambda v: v >= 2, "a number of folds >= 2")
_jobs = int_option(lambda v: v != 0, "a number of jobs >= 1, or -1 for every CPU")
_seed = int_option(lambda v: 0 <= v < 2**32, "a seed, an integer in [0, 2**32)")


def register(sub: argparse._SubParsersAction) -> None:
    select = sub.add_parser(
        "select", help="choose the number of components (and covariance type) by BIC, AIC or "
                       "held-out likelihood",
        description="Fit a mixture for every K of the grid (and every covariance type), "
                    "print a table of BIC, AIC and log-likelihoods, and save the chosen model "
                    "and the table. DATA is read into memory. " + DATA_HELP)
    select.add_argument("data", metavar="DATA", help="the data file")
    select.add_argument("-k", "--n-components", metavar="GRID", type=component_grid,
                        required=True,
                        help="the Ks to try: A:B (inclusive), A:B:STEP, or a comma list of "
                             "these, e.g. 2:30 or 2:10,12,16")
    select.add_argument("--covariance-types", metavar="T,...", type=covariance_types_argument,
                        default=("full",),
                        help="covariance types to try, comma-separated, among "
                             f"{', '.join(COVARIANCE_TYPES)} (default: full)")
    select.add_argument("--criterion", choices=CRITERIA, default="bic",
                        help="what chooses: lowest BIC, lowest AIC, or highest held-out mean "
                             "log-likelihood (needs --cv) (default: bic)")
    select.add_argument("--search", choices=SEARCHES, default="nested",
                        help="nested: each K starts from the K-1 solution of its covariance "
                             "type, cut in two where a split gains most, and from k-means++ "
                             "seeds shared by the types (the training likelihood never falls "
                             "as K grows); "
                             "independent: a default fit from scratch per candidate, as "
                             "releases before it (default: nested)")
    select.add_argument("--cv", metavar="N", type=_folds, default=None,
                        help="also fit on N-1 of N shuffled folds and score the held-out one "
                             "(default: no held-out scores)")
    select.add_argument("-j", "--jobs", "--n-jobs", dest="jobs", metavar="N", type=_jobs,
                        default=1,
                        help="fits run at once, in worker processes; -1: one per CPU "
                             "(default: 1)")
    select.add_argument("--seed", "--random-state", dest="seed", metavar="N",
                        type=_seed, default=None,
                        help="seed of every fit and of the folds (default: drawn, and printed "
                             "so that the selection can be repeated)")
    select.add_argument("-o", "--out", metavar="DIR", default=None,
                        help=f"write {MODEL_FILE} (the chosen model, as fit --out writes it), "
                             f"{CSV_FILE}, {REPORT_FILE} and {FIGURE_FILE} into DIR (created "
                             "if missing; default: nothing written)")
    select.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_data_options(select)
    add_weight_option(select)
    # the grid, the types and the seed are this command's own options
    add_estimator_options(select, exclude={"n_components", "covariance_type", "random_state"})
    select.set_defaults(run=_select)


# ------------------------------------------------------------------ select
def _select(args: argparse.Namespace) -> int:
    if args.criterion == "heldout" and args.cv is None:
        raise ValueError("--criterion heldout compares held-out scores: give --cv N, the "
                         "number of folds (N >= 2)")
    out = Path(args.out) if args.out is not None else None
    if out is not None:  # fail before the fits, not after
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file; expected a directory")
        out.mkdir(parents=True, exist_ok=True)
    X, names, labels, index, weights = read_weighted_data(args)
    if args.missing:
        check_columns_observed(args, X, names)
    describe_data(args, X.shape, names, labels, index)
    options = estimator_options(args)
    grid, types = args.n_components, args.covariance_types
    print(f"grid: K in {_show_grid(grid)} x covariance {', '.join(types)}: "
          f"{plural(len(grid) * len(types), 'candidate')}, "
          f"{plural(len(grid) * len(types) * (1 + (args.cv or 0)), 'fit')}")

    with warnings_as_lines():
        found = select_model(X, grid, types, criterion=args.criterion, cv=args.cv,
                             n_jobs=args.jobs, random_state=args.seed,
                             progress=False if args.quiet else None,
                             sample_weight=weights, search=args.search, **options)
    model = found.best_estimator_
    if names is not None:
        # as fit does: predict then matches another file's columns by name
        model.feature_names_in_ = np.asarray(names, dtype=object)
    if out is not None:  # before the table: a reader of stdout gone (| head) loses no file
        save(model, out / MODEL_FILE)
        found.to_csv(out / CSV_FILE)
        figure = _figure(found, out / FIGURE_FILE)
        (out / REPORT_FILE).write_text(_report(args, found, options, figure))
    print(f"seed: {found.random_state}" + ("" if args.seed is not None else
          f" (drawn; --seed {found.random_state} repeats this selection)"))
    print()
    print(found.table())
    print()
    print(found.describe_choice())
    if out is None:
        print("nothing written (use --out DIR)")
        return 0
    print(f"written to {out}: {MODEL_FILE} (the chosen model; biglearn-em predict and info "
          f"read it), {CSV_FILE}, {REPORT_FILE}"
          + (f", {FIGURE_FILE}" if figure is None else ""))
    if figure is not None:
        print(f"figure: {figure}")
    return 0


def _figure(found: ModelSelection, path: Path) -> str | None:
    """Draw the curves to ``path``; None when drawn, else why not."""
    if importlib.util.find_spec("matplotlib") is None:
        return NO_MATPLOTLIB
    found.plot(path)
    return None


def _show_grid(grid: list[int]) -> str:
    if len(grid) > 2 and grid == list(range(grid[0], grid[-1] + 1)):
        return f"{grid[0]}..{grid[-1]}"
    return ", ".join(map(str, grid))


def _report(args: argparse.Namespace, found: ModelSelection, options: dict,
            figure: str | None) -> str:
    import scipy
    import sklearn

    curves = CRITERION_NAMES[found.criterion] + " against K, one line per covariance type"
    command = "biglearn-em " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if Path(sys.argv[0]).name == "biglearn-em" else None
    settings = [
        f"- data: `{args.data}`, {plural(found.n_samples, 'sample')} x "
        f"{plural(found.n_features, 'feature')}",
        f"- K: {_show_grid(args.n_components)}; covariance types: "
        f"{', '.join(args.covariance_types)}",
        f"- criterion: {found.criterion}"
        + ("" if found.cv is None else f"; held-out scores: {found.cv}-fold, shuffled"),
        f"- search: {args.search}",
        f"- seed (every fit and the folds): {found.random_state}",
        f"- jobs: {args.jobs}",
        "- estimator options: " + (", ".join(f"{k}={v!r}" for k, v in options.items())
                                   if options else "the estimator's defaults"),
    ]
    if command is not None:
        settings.append(f"- command: `{command}`")
    lines = [
        "# Model selection", "",
        found.describe_choice()[0].upper() + found.describe_choice()[1:] + ".", "",
        "## Settings", "", *settings, "",
        "## Candidates", "",
        "`*` marks the chosen model. LL: mean log-likelihood per sample (nats); train: of the "
        "model fitted on all data; held-out: mean over the folds of the model fitted on the "
        "other folds, with its standard error. Lower BIC and AIC are better.", "",
        found.table(), "",
        "## Files", "",
        f"- `{MODEL_FILE}`: the chosen model fitted on all data "
        "(`biglearn-em predict`, `biglearn-em info`, `biglearn_em.load`)",
        f"- `{CSV_FILE}`: the table at full precision",
        f"- `{FIGURE_FILE}`: " + (curves if figure is None else figure), "",
    ]
    if figure is None:
        lines += [f"![{curves}]({FIGURE_FILE})", ""]
    lines += ["## Versions", "",
              f"biglearn-em {__version__}, Python {platform.python_version()}, NumPy "
              f"{np.__version__}, SciPy {scipy.__version__}, scikit-learn {sklearn.__version__}",
              ""]
    return "\n".join(lines)
