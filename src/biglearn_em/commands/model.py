"""``biglearn-em fit``, ``predict``, ``impute`` and ``info``: clustering a
user's data file, applying a saved model to another file (its clusters, or
its missing values filled in), and describing a model file."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..io import (
    EXTENSIONS,
    TEXT_FORMATS,
    column_names,
    data_format,
    install_hint,
    lazy_format,
    open_lazy,
    plural,
    write_table,
)
from ..mixture import BigLearnGaussianMixture, load_with_meta
from ..persist import save
from ..progress import Progress
from .options import (
    DATA_HELP,
    add_data_options,
    add_estimator_options,
    add_weight_option,
    check_columns_observed,
    describe_data,
    device_option,
    estimator_options,
    index_note,
    int_option,
    positive_int,
    read_data,
    read_weighted_data,
    warnings_as_lines,
)

#: Rows per ``predict`` call, so that a long prediction can show progress.
PREDICT_ROWS = 1 << 16
#: What ``impute --out`` writes, by suffix: the readable formats that hold a plain table.
OUT_SUFFIXES = (".csv", ".tsv", ".txt", ".npy", ".parquet")

_seed = int_option(lambda v: 0 <= v < 2**32, "a seed, an integer in [0, 2**32)")

def register(sub: argparse._SubParsersAction) -> None:
    fit = sub.add_parser(
        "fit", help="fit a mixture to a data file, print a summary and save the model",
        description="Fit a BigLearn-EM Gaussian mixture to DATA and print its log-likelihood, "
                    "BIC and cluster sizes. " + DATA_HELP)
    fit.add_argument("data", metavar="DATA", help="the data file")
    fit.add_argument("-k", "--n-components", type=int, required=True,
                     help="number of mixture components")
    fit.add_argument("-o", "--out", metavar="MODEL.npz", default=None,
                     help="write the fitted model here (.npz with JSON metadata; "
                          "default: not saved)")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fit.add_argument("--checkpoint", metavar="FILE", default=None,
                     help="save the fit's state to FILE about once a minute; rerunning the "
                          "same command (same data and options) resumes from it")
    add_data_options(fit)
    add_weight_option(fit, streamed=True)
    big = fit.add_argument_group(
        f"data larger than memory (needs {install_hint('dask', 'dask[array] distributed')})",
        "A folder of Parquet files or a Zarr array is always streamed: read in blocks of "
        "rows, pass after pass, with memory bounded by a few blocks. A .npy or Parquet file "
        "is streamed when one of these options is given.")
    big.add_argument("--stream", action="store_true",
                     help="stream a .npy file (memory-mapped) or a Parquet file in blocks")
    where = big.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="stream on this Dask cluster (e.g. tcp://10.0.0.1:8786); its "
                            "workers read DATA themselves, so they must see the same path")
    where.add_argument("--workers", metavar="N", type=positive_int, default=None,
                       help="stream on a local Dask cluster of N worker processes")
    add_estimator_options(fit)
    fit.set_defaults(run=_fit)

    predict = sub.add_parser(
        "predict", help="apply a saved model to a data file: cluster labels (or probabilities)",
        description="Write the cluster of every row of DATA, one per line under a header "
                    "'label', as CSV. When the model knows its feature names and DATA has a "
                    "header, the columns are matched by name (others are ignored). " + DATA_HELP)
    predict.add_argument("model", metavar="MODEL", help="a model file written by fit")
    predict.add_argument("data", metavar="DATA", help="the data file")
    predict.add_argument("--proba", action="store_true",
                         help="also write the probability of every cluster (columns p_0, p_1...)")
    predict.add_argument("-o", "--output", metavar="FILE.csv", default=None,
                         help="write here instead of standard output")
    predict.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    predict.add_argument("--device", type=device_option, default=None,
                         help="where to compute: cpu, cuda, cuda:N or auto (default: the host, "
                              "whatever device the model was fitted on)")
    add_data_options(predict)
    # output_on_stdout: what the command prints is its result, so a reader that stops early
    # (| head) ends it without an error (cli.main); the files it writes come first
    predict.set_defaults(run=_predict, output_on_stdout=True)

    impute = sub.add_parser(
        "impute", help="fill the missing values of a data file from a saved model",
        description="Write DATA with every missing value replaced by its conditional mean "
                    "under the model given the row's observed values (or, with "
                    "--random-state, by one draw from that conditional law: run it with "
                    "several seeds for multiple imputation). Observed values are written "
                    "unchanged. DATA's missing values are read as with fit --missing; every "
                    "row needs one observed value. The file written holds the model's "
                    "feature columns, named as in DATA, in DATA's row order (a label or index "
                    "column is not written). As predict does, the columns are matched by "
                    "name when the model knows its feature names and DATA has a header. "
                    + DATA_HELP)
    impute.add_argument("model", metavar="MODEL", help="a model file written by fit")
    impute.add_argument("data", metavar="DATA", help="the data file")
    impute.add_argument("-o", "--out", metavar="FILE", required=True,
                        help="write the completed table here, in the format its suffix names: "
                             f"{', '.join(OUT_SUFFIXES)} (text also gzip-compressed: .csv.gz)")
    impute.add_argument("--random-state", metavar="N", type=_seed, default=None,
                        help="fill each gap with one draw from its conditional law, seeded "
                             "by N, instead of the conditional mean (default: the mean)")
    add_data_options(impute, missing_option=False)
    impute.set_defaults(run=_impute, output_on_stdout=True)

    info = sub.add_parser("info", help="describe a saved model file",
                          description="Print what a model file holds: versions, sizes, "
                                      "parameters, fit results and component weights.")
    info.add_argument("model", metavar="MODEL", help="a model file written by fit")
    info.add_argument("--json", action="store_true", help="print the file's metadata as JSON")
    info.set_defaults(run=_info, output_on_stdout=True)


# -------------------------------------------------------------------- fit
def _fit(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out is not None else None
    if out is not None and not out.parent.is_dir():  # fail before a long fit, not after
        raise FileNotFoundError(f"no such directory for --out: {out.parent}")
    streamed = lazy_format(Path(args.data), args.format)
    if streamed is None and (args.stream or args.scheduler or args.workers):
        streamed = data_format(Path(args.data), args.format)
    weights = None
    if streamed is not None:
        # the weights are read lazily too, in X's row blocks (what fit takes for a dask X)
        found = open_lazy(args.data, streamed, label_column=args.label_column,
                          columns=args.columns, index_column=args.index_column,
                          return_index=True, missing=args.missing,
                          weight_column=args.weight_column)
        X, names, index = found[:3]
        weights = found[3] if args.weight_column is not None else None
        labels = None
    else:
        X, names, labels, index, weights = read_weighted_data(args)
        if args.missing:
            check_columns_observed(args, X, names)
    options = estimator_options(args)
    model = BigLearnGaussianMixture(n_components=args.n_components, **options,
                                    checkpoint=args.checkpoint)

    with _dask_client(args):
        start = time.perf_counter()
        with warnings_as_lines():
            _fit_with_progress(model, X, enabled=False if args.quiet else None,
                               sample_weight=weights)
        seconds = time.perf_counter() - start
        model.set_params(checkpoint=None)  # where this fit was saved is not part of the model
        log_density = model.score_samples(X)
        K = model.n_components
        xp: Any = np
        if streamed is not None:
            import dask.array as xp
        if weights is None:
            total = log_density.sum()
            counted = X.shape[0]
            sizes = xp.bincount(model.labels_, minlength=K)
        else:  # a row counts as its weight's worth of copies (a row of weight 0 as none,
            # even where its density is 0)
            total = (xp.where(weights > 0, log_density, 0.0) * weights).sum()
            counted = weights.sum()
            sizes = xp.bincount(model.labels_, weights=weights, minlength=K)
        gaps = xp.isnan(X) if args.missing else None
        n_missing = None if gaps is None else (gaps.sum(), gaps.any(axis=1).sum())
        if streamed is not None:  # one more pass: the sums and sizes of the lazy results
            import dask

            total, counted, sizes, n_missing = dask.compute(total, counted, sizes, n_missing)
        total = float(total)
        mean = total / float(counted)
        # from the mean just computed: model.bic(X) would score X again (a pass over
        # a streamed file)
        bic = model.bic_from_score(mean, counted)
    if names is not None:
        # what scikit-learn records for a table with column names; saved with the model
        # so that predict can match the columns of another file by name
        model.feature_names_in_ = np.asarray(names, dtype=object)
    if out is not None:  # before the summary: a reader of stdout gone (| head) loses no model
        save(model, out)

    describe_data(args, X.shape, names, labels, index)
    if weights is not None:
        print(f"      column {args.weight_column!r}: weights, {float(counted):.6g} in all")
    if n_missing is not None:
        cells, rows = (int(v) for v in n_missing)
        print(f"      missing: {plural(cells, 'value')} ({cells / X.size:.1%}) in "
              f"{plural(rows, 'row')}, read as NaN")
    state = "converged" if model.converged_ else "not converged (raise --max-iter or --tol)"
    print(f"fit: {plural(K, 'component')} in {seconds:.2f} s, "
          f"{plural(model.n_em_steps_, 'EM step')} ({plural(model.n_iter_, 'outer iteration')}), "
          f"{state}")
    print(f"log-likelihood: {mean:.6g} per sample, {total:.6g} total")
    print(f"BIC: {bic:.6g}")
    print(f"{'cluster':>7} {'size':>8} {'share':>7} {'weight':>8}")
    for k in range(K):
        size = f"{sizes[k]:>8}" if weights is None else f"{sizes[k]:>8.6g}"
        print(f"{k:>7} {size} {sizes[k] / sizes.sum():>7.1%} {model.weights_[k]:>8.4f}")
    if out is not None:
        print(f"model: written to {out}")
    else:
        print("model: not saved (use --out MODEL.npz)")
    return 0


@contextlib.contextmanager
def _dask_client(args: argparse.Namespace) -> Iterator[None]:
    """A Dask client for the fit: on the cluster at ``--scheduler``, on a local
    cluster of ``--workers`` processes, or none (Dask's threads in this process)."""
    if args.scheduler is None and args.workers is None:
        yield
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--scheduler and --workers need Dask's distributed scheduler: "
                         f"{install_hint('dask', 'dask[array] distributed')}") from None
    if args.scheduler is not None:
        try:
            client = Client(args.scheduler, timeout="30s")
        except OSError as exc:
            raise ValueError(f"--scheduler {args.scheduler}: no Dask scheduler answers "
                             f"there ({exc})") from None
        with client:
            print(f"dask: scheduler {args.scheduler}, {len(client.scheduler_info()['workers'])} "
                  f"workers, dashboard {client.dashboard_link}")
            yield
        return
    with LocalCluster(n_workers=args.workers, threads_per_worker=1,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        print(f"dask: local cluster of {args.workers} worker processes, dashboard "
              f"{client.dashboard_link}")
        yield


def _fit_with_progress(model: BigLearnGaussianMixture, X: np.ndarray,
                       enabled: bool | None, sample_weight=None) -> None:
    """Fit, with a bar over the initialisations on a terminal.

    When the estimator offers a ``callback`` parameter, the bar's note follows
    the outer iterations of the running initialisation; otherwise the bar only
    moves when the fit ends (the number of iterations is not known ahead:
    ``patience`` usually stops a fit early).
    """
    n_init = model.n_init
    bar = Progress(n_init, label="fitting", enabled=enabled)
    hooked = "callback" in model.get_params(deep=False)
    if hooked:
        def on_iteration(record: dict) -> None:
            init = int(record.get("init", 0))
            if init > bar.done:
                bar.update(init - bar.done)
            ll = record.get("log_likelihood")
            bar.update(0, note=f"init {init + 1}/{n_init} iteration {record['iteration']}"
                               + ("" if ll is None else f" LL {ll:.6g}"))
        model.set_params(callback=on_iteration)
    elif bar.enabled:
        bar.update(0, note="(the bar moves when the fit ends)")
    try:
        model.fit(X, sample_weight=sample_weight)
        bar.update(n_init - bar.done)
    finally:
        if hooked:
            model.set_params(callback=None)  # a function is not part of the saved model
        bar.close()


# ---------------------------------------------------------------- predict
def _predict(args: argparse.Namespace) -> int:
    model, _ = load_with_meta(args.model)
    # a model fitted on a GPU predicts anywhere: the device is this command's choice
    model.set_params(device=args.device)
    X, _, index = _read_for_model(args, model)
    if index is not None:  # standard output may be the labels: the note goes to stderr
        print(f"biglearn-em: note: {index_note(index)}", file=sys.stderr)
    N, K = X.shape[0], model.n_components

    labels = np.empty(N, dtype=np.int64)
    proba = np.empty((N, K)) if args.proba else None
    bar = Progress((N + PREDICT_ROWS - 1) // PREDICT_ROWS, label="predicting",
                   enabled=False if args.quiet else None)
    with bar, warnings.catch_warnings():
        # the columns were matched by name above; a plain array has none left to check
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        for s in range(0, N, PREDICT_ROWS):
            part = X[s : s + PREDICT_ROWS]
            if proba is None:
                labels[s : s + PREDICT_ROWS] = model.predict(part)
            else:
                p = model.predict_proba(part)
                proba[s : s + PREDICT_ROWS] = p
                labels[s : s + PREDICT_ROWS] = model.predict(part)
            bar.update(1)

    if args.output is None:
        _write_csv(sys.stdout, labels, proba)
        sys.stdout.flush()  # a reader gone (| head) is met here, inside cli.main
    else:
        with open(args.output, "w", newline="") as fh:
            _write_csv(fh, labels, proba)
        sizes = ", ".join(f"{k}: {n}" for k, n in enumerate(np.bincount(labels, minlength=K)))
        print(f"{args.output}: {plural(N, 'row')} written; cluster sizes {sizes}")
    return 0


def _read_for_model(args: argparse.Namespace, model: BigLearnGaussianMixture,
                    missing: bool | None = None):
    """DATA's columns that ``model`` reads, in its order: X, their names (None
    without a header) and the column left out as an index (or None).
    ``missing`` overrides ``--missing`` unless None."""
    model_names = getattr(model, "feature_names_in_", None)
    if args.columns is None and model_names is not None:
        # a header in DATA: read the model's features by name (other columns may be text)
        names = column_names(args.data, fmt=args.format, header=args.header)
        if names is not None:
            lacking = [n for n in model_names if n not in names]
            if lacking:
                raise ValueError(f"{args.data} lacks the model's feature column(s) {lacking}")
            args.columns = list(model_names)
    D = model.n_features_in_
    X, names, _, index = read_data(args, n_features=D, missing=missing)
    if index is not None and index.why != "given" and X.shape[1] == D - 1:
        # the model was fitted on that column (fit --index-column none): keep it here too
        X, names, _, index = read_data(args, n_features=D, index_column=None, missing=missing)
    if X.shape[1] != D:
        raise ValueError(f"{args.data} has {plural(X.shape[1], 'feature column')}; the model "
                         f"was fitted on {D}")
    return X, names, index


def _write_csv(fh: TextIO, labels: np.ndarray, proba: np.ndarray | None) -> None:
    if proba is None:
        fh.write("label\n")
        fh.writelines(f"{v}\n" for v in labels)
        return
    fh.write(",".join(["label"] + [f"p_{k}" for k in range(proba.shape[1])]) + "\n")
    for v, row in zip(labels, proba):
        fh.write(f"{v}," + ",".join(f"{p:.8g}" for p in row) + "\n")


# ----------------------------------------------------------------- impute
def _impute(args: argparse.Namespace) -> int:
    out = Path(args.out)
    fmt = _out_format(out)  # fail before reading, not after
    model, _ = load_with_meta(args.model)
    model.set_params(device=None)  # imputing runs on the host, wherever the fit ran
    X, names, index = _read_for_model(args, model, missing=True)
    if index is not None:  # as predict says it: a note on stderr, the output stays clean
        print(f"biglearn-em: note: {index_note(index)}", file=sys.stderr)
    gaps = np.isnan(X)
    with warnings.catch_warnings():
        # the columns were matched by name on reading; a plain array has none left to check
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        filled = model.impute(X, random_state=args.random_state)
    if names is None and fmt == "parquet":  # Parquet columns need names: the model's, if any
        known = getattr(model, "feature_names_in_", None)
        names = [str(n) for n in known] if known is not None else [
            str(j) for j in range(X.shape[1])]
    write_table(out, fmt, filled, names)
    how = ("the conditional mean" if args.random_state is None else
           f"one draw from the conditional law (--random-state {args.random_state})")
    print(f"{out}: {plural(X.shape[0], 'row')} x {plural(X.shape[1], 'column')} written; "
          f"{plural(int(gaps.sum()), 'missing value')} in "
          f"{plural(int(gaps.any(axis=1).sum()), 'row')} filled with {how}")
    return 0


def _out_format(out: Path) -> str:
    """The format ``impute --out`` writes to ``out``, from its suffix; a
    ValueError naming --out for a suffix it does not write or a missing folder."""
    gz = out.suffix.lower() == ".gz"
    suffix = (Path(out.stem).suffix if gz else out.suffix).lower()
    fmt = EXTENSIONS.get(suffix) if suffix in OUT_SUFFIXES + (".pq",) else None
    if fmt is None or (gz and fmt not in TEXT_FORMATS):
        shown = suffix + (".gz" if gz else "") or "(no suffix)"
        raise ValueError(f"--out {out}: cannot write {shown!r} files; name a file ending in "
                         f"{', '.join(OUT_SUFFIXES)} (text also as .gz)")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"no such directory for --out: {out.parent}")
    return fmt


# ------------------------------------------------------------------- info
def _info(args: argparse.Namespace) -> int:
    model, meta = load_with_meta(args.model)
    if args.json:
        print(json.dumps(meta, indent=2))
        return 0
    v = meta["versions"]
    print(f"{args.model}: biglearn-em model, format version {meta['format_version']}")
    print(f"written by: biglearn-em {v.get('biglearn-em')} (Python {v.get('python')}, NumPy "
          f"{v.get('numpy')}, SciPy {v.get('scipy')}, scikit-learn {v.get('scikit-learn')})")
    K, D = model.means_.shape
    print(f"components: {K}; features: {D}; dtype: {meta['dtype']}")
    names = meta.get("feature_names_in_")
    if names is not None:
        print(f"feature names: {', '.join(names)}")
    state = "converged" if model.converged_ else "not converged"
    steps = getattr(model, "n_em_steps_", None)  # files written before it existed lack it
    work = plural(model.n_iter_, "outer iteration")
    if steps is not None:
        work = f"{plural(steps, 'EM step')} ({work})"
    print(f"fit: mean log-likelihood {model.lower_bound_:.6g}, {work}, {state}")
    defaults = BigLearnGaussianMixture().get_params(deep=False)
    params = model.get_params(deep=False)
    changed = [f"{k}={_show(params[k])}" for k in params
               if k != "n_components" and not _same(params[k], defaults.get(k))]
    print(f"parameters (not default): {', '.join(changed) if changed else 'none'}")
    if meta.get("params_not_saved"):
        print(f"parameters not saved: {', '.join(meta['params_not_saved'])}")
    print(f"{'cluster':>7} {'weight':>8}")
    for k in range(K):
        print(f"{k:>7} {model.weights_[k]:>8.4f}")
    return 0


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    return type(a) is type(b) and a == b


def _show(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)
