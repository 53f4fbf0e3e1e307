"""Model selection: the number of components K and the covariance type.

:func:`select_model` fits one model per candidate (K, covariance type) on all
of X, and with ``cv`` also one per candidate and fold, in parallel with
joblib, and returns a
:class:`ModelSelection`: one :class:`Candidate` per row (BIC, AIC, training and
held-out mean log-likelihood, fit time, EM steps), the chosen candidate and
its estimator fitted on all of X.

The nested search (the default) grows each K of a covariance type from the
K - 1 solution with plain EM on the engine's public face
(:mod:`biglearn_em.engine`), and fits one estimator, the chosen one; the
independent search drives the estimator through its public API only
(``fit``, ``score``, ``bic``, ``aic``), one default fit per candidate.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_array

from . import engine
from ._inputs import validate_weights
from ._validation import Boolean, Integer, NoneValue, Options, RandomState, validate_params
from .backends import precision_cholesky, precisions_from_cholesky, select_backend
from .engine.covariance import NAMES as COVARIANCE_TYPES
from .fitting import settings_of
from .io import install_hint, plural
from .mixture import BigLearnGaussianMixture
from .progress import Progress

#: Selection criteria: lower BIC or AIC wins, higher held-out log-likelihood wins.
CRITERIA = ("bic", "aic", "heldout")

#: What to do when a fit raises: a row with the error, or raise at once.
ON_ERROR = ("report", "raise")

#: How the candidates are fitted: each K grown from the K - 1 solution of its
#: covariance type ("nested"), or every candidate by a default fit from scratch
#: ("independent", the search of releases before issue 22).
SEARCHES = ("nested", "independent")

#: The nested search's starts at each K: the K - 1 solution with one component
#: cut in two, for the components whose two-way cut gains most (at most this
#: many) ...
NESTED_SPLITS = 3
#: ... and this many k-means++ starts at K (the default fit's restarts' starts),
#: the same for every covariance type. On faithful they reach tied K = 3's
#: optimum where k-means starts (``init_params``'s default) did not: with
#: k-means seeds 10 cells ended more than 0.005 below scikit-learn n_init=10's
#: and the BIC chose full K = 2; with k-means++ seeds 5 cells (random_state 0;
#: 8 with 1) and tied K = 3, scikit-learn's and mclust's choice.
NESTED_SEEDS = 5
#: Plain EM steps run from every start, after which ...
NESTED_SHORT_STEPS = 3
#: ... the best this many are continued with plain EM to convergence.
NESTED_CONTINUED = 3
#: Tied covariances instead cut one component (the best cut) and continue that
#: cut and the best this many seeds: on faithful a tied cut converges in 4-8
#: steps next to the K - 1 solution, while the seeds that reach scikit-learn's
#: optima take 20-40 steps and after 3 rank below every cut (tied K = 6-8 of
#: random_state 1 ended 0.011-0.017 below). Cells below for random_state
#: 0/1/2: 5/8/6 -> 4/2/3, for about 1.8 times tied's EM steps (1.2 times all).
NESTED_TIED_SEEDS_CONTINUED = 3

#: What the nested search's plain EM is, as estimator parameters: the chosen
#: model (``best_estimator_``) is refitted with them from the start its row
#: continued, which repeats that continuation.
_PLAIN_EM = {"view_probs": (1.0, 0.0, 0.0), "n_inner": 1, "weight_smoothing": 0.0,
             "n_init": 1, "warm_start": False}

#: Estimator parameters that ``select_model`` sets itself (each has its own argument)
#: or that cannot be shared by many fits.
_OWN_PARAMS = {"n_components": "n_components", "covariance_type": "covariance_types",
               "random_state": "random_state"}

_OWNER = "select_model"

_SPEC = {
    "criterion": (Options(CRITERIA),),
    "cv": (NoneValue(), Integer(2)),
    "n_jobs": (NoneValue(), Integer()),
    "random_state": (RandomState(),),
    "progress": (NoneValue(), Boolean()),
    "on_error": (Options(ON_ERROR),),
    "search": (Options(SEARCHES),),
}

#: Columns of :meth:`ModelSelection.to_rows` (and of the CSV file), in order.
COLUMNS = ("n_components", "covariance_type", "bic", "aic", "train_log_likelihood",
           "heldout_log_likelihood", "heldout_std_error", "fit_time", "n_iter", "n_em_steps",
           "converged",
           "chosen", "error")


@dataclass(frozen=True)
class Candidate:
    """The results of one candidate (K, covariance type).

    Attributes
    ----------
    n_components : int
        K.
    covariance_type : str
    bic, aic : float
        ``bic(X)`` and ``aic(X)`` of the model fitted on all of X (lower is
        better); NaN when that fit failed.
    train_log_likelihood : float
        ``score(X)`` of that model: mean log-likelihood per sample, in nats.
    heldout_log_likelihood : float or None
        With ``cv``: the mean over the folds of ``score`` on the held-out fold
        of a model fitted on the other folds (higher is better); NaN when a
        fold's fit failed; None without ``cv``.
    heldout_std_error : float or None
        Standard error of that mean: the standard deviation of the fold
        scores (ddof=1) over sqrt(number of folds).
    heldout_folds : tuple of float
        The held-out score of each fold, in the order of the folds (empty
        without ``cv``).
    fit_time : float
        Seconds of the fit on all of X.
    n_iter : int or None
        ``n_iter_`` of that fit (None when it failed): its outer iterations,
        at most ``max_iter`` (under the default patience about the same for
        every K, so the table shows ``n_em_steps``).
    n_em_steps : int or None
        ``n_em_steps_`` of that fit (None when it failed): the EM steps it ran
        in all its phases, what it cost (the table shows this).
    converged : bool or None
        ``converged_`` of that fit (None when it failed).
    error : str or None
        ``"ExceptionType: message"`` of the first fit of this candidate that
        raised (with the fold it was on), or None. A row with an error is
        never chosen.
    """

    n_components: int
    covariance_type: str
    bic: float = math.nan
    aic: float = math.nan
    train_log_likelihood: float = math.nan
    heldout_log_likelihood: float | None = None
    heldout_std_error: float | None = None
    heldout_folds: tuple[float, ...] = ()
    fit_time: float = math.nan
    n_iter: int | None = None
    n_em_steps: int | None = None
    converged: bool | None = None
    error: str | None = None

    def value(self, criterion: str) -> float:
        """The candidate's value of ``criterion`` ("bic", "aic" or "heldout")."""
        if criterion == "heldout":
            v = self.heldout_log_likelihood
            return math.nan if v is None else v
        return self.bic if criterion == "bic" else self.aic

    @property
    def label(self) -> str:
        return f"K={self.n_components}, covariance_type={self.covariance_type!r}"


@dataclass
class ModelSelection:
    """What :func:`select_model` found.

    Attributes
    ----------
    candidates : tuple of Candidate
        One per (K, covariance type), grouped by covariance type in the order
        given, K increasing within each.
    criterion : {"bic", "aic", "heldout"}
        What chose the model: lowest BIC, lowest AIC, or highest held-out mean
        log-likelihood (ties go to the smaller K, then to the covariance type
        given first).
    cv : int or None
        Number of folds of the held-out scores (None: not computed).
    random_state : int
        The seed every fit ran with (and that shuffled the folds): passing it
        as ``random_state`` repeats the selection.
    n_samples, n_features : int
        The size of X.
    estimator_params : dict
        The other parameters every fit had.
    best_index : int
        Index of the chosen candidate in ``candidates``.
    best_estimator_ : BigLearnGaussianMixture
        The chosen candidate's estimator, fitted on all of X.
    search : {"nested", "independent"}
        How the candidates were fitted (see :func:`select_model`).
    """

    candidates: tuple[Candidate, ...]
    criterion: str
    cv: int | None
    random_state: int
    n_samples: int
    n_features: int
    estimator_params: dict[str, Any]
    best_index: int
    best_estimator_: BigLearnGaussianMixture = field(repr=False)
    search: str = "independent"

    @property
    def best(self) -> Candidate:
        """The chosen candidate."""
        return self.candidates[self.best_index]

    @property
    def best_n_components(self) -> int:
        return self.best.n_components

    @property
    def best_covariance_type(self) -> str:
        return self.best.covariance_type

    @property
    def failed(self) -> tuple[Candidate, ...]:
        """The candidates with an error."""
        return tuple(c for c in self.candidates if c.error is not None)

    def describe_choice(self) -> str:
        """One sentence: the chosen candidate and why."""
        best = self.best
        if self.criterion == "heldout":
            how = (f"highest held-out log-likelihood over {self.cv} folds, "
                   f"{best.heldout_log_likelihood:.4f} +- {best.heldout_std_error:.4f} per "
                   "sample")
        else:
            how = f"lowest {self.criterion.upper()}, {best.value(self.criterion):.2f}"
        return f"chosen: K = {best.n_components}, covariance_type {best.covariance_type!r} ({how})"

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per candidate with the keys of :data:`COLUMNS` (``chosen``
        marks the chosen row; held-out columns are None without ``cv``)."""
        rows = []
        for i, c in enumerate(self.candidates):
            row = {name: getattr(c, name) for name in COLUMNS if name != "chosen"}
            row["chosen"] = i == self.best_index
            rows.append({name: row[name] for name in COLUMNS})
        return rows

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_rows` to ``path`` as CSV (empty cells for None, full
        precision for floats); returns the path."""
        path = Path(path)
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            for row in self.to_rows():
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return path

    def table(self) -> str:
        """The candidates as a Markdown table (readable as plain text); the
        chosen row is marked ``*`` in the first column."""
        heldout = self.cv is not None
        header = ["", "K", "covariance", "BIC", "AIC", "train LL"]
        header += ["held-out LL", "s.e."] if heldout else []
        header += ["EM steps", "converged", "fit s"]
        errors = any(c.error is not None for c in self.candidates)
        header += ["error"] if errors else []
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        for i, c in enumerate(self.candidates):
            cells = ["*" if i == self.best_index else "", str(c.n_components),
                     c.covariance_type, _num(c.bic, ".2f"), _num(c.aic, ".2f"),
                     _num(c.train_log_likelihood, ".4f")]
            if heldout:
                cells += [_num(c.heldout_log_likelihood, ".4f"),
                          _num(c.heldout_std_error, ".4f")]
            cells += ["" if c.n_em_steps is None else str(c.n_em_steps),
                      "" if c.converged is None else ("yes" if c.converged else "no"),
                      _num(c.fit_time, ".2f")]
            if errors:
                cells.append("" if c.error is None else
                             c.error.replace("|", "\\|").replace("\n", " "))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def figure(self):
        """A matplotlib ``Figure`` of the criterion that chose against K.

        One line per covariance type, each in its own colour (BIC or AIC; the
        held-out mean log-likelihood with its standard error when it chose),
        the chosen model a star with a dotted line at its K, and one title.
        The y-range is the chosen type's curve (with a margin), so that the
        differences that decided stay visible; a type whose curve leaves that
        range (a far worse type) is drawn clipped, and its legend entry says
        so.

        Raises
        ------
        ImportError
            When matplotlib is not installed.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("ModelSelection.plot needs matplotlib: "
                              f"{install_hint('plot', 'matplotlib')}") from None

        criterion, best = self.criterion, self.best
        heldout = criterion == "heldout"
        # Figure + Agg canvas, not pyplot: the user's matplotlib backend is left alone
        fig = Figure(figsize=(6.4, 4.6), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        curves: dict[str, list[tuple[int, float, float]]] = {}
        for c in self.candidates:
            value = c.value(criterion)
            if c.error is None and math.isfinite(value):
                curves.setdefault(c.covariance_type, []).append(
                    (c.n_components, value, (c.heldout_std_error or 0.0) if heldout else 0.0))
        low, high = _plot_range(curves[best.covariance_type])
        for i, (ctype, points) in enumerate(curves.items()):
            k, v, se = (list(t) for t in zip(*points))
            outside = sum(not low <= y <= high for y in v)
            where = "" if not outside else " (partly off the plot)"
            if outside == len(v):  # say how far off: its best point
                top = max if heldout else min
                k_top, v_top = top(zip(k, v), key=lambda p: p[1])
                where = f" (off the plot; best {v_top:.6g} at K = {k_top})"
            style: dict[str, Any] = {"color": f"C{i}", "marker": "o", "markersize": 3,
                                     "label": ctype + where}
            if heldout:
                ax.errorbar(k, v, yerr=se, capsize=2, **style)
            else:
                ax.plot(k, v, **style)
        ax.axvline(best.n_components, color="0.6", linestyle=":", linewidth=1)
        ax.plot([best.n_components], [best.value(criterion)], "*", color="k", markersize=14,
                zorder=5, label=f"chosen: K = {best.n_components}, {best.covariance_type}")
        ax.set_ylim(low, high)
        ax.set_xlabel("number of components K")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel({"bic": "BIC (lower is better)", "aic": "AIC (lower is better)",
                       "heldout": f"held-out log-likelihood per sample\n({self.cv}-fold mean "
                                  "+- s.e.; higher is better)"}[criterion])
        ax.set_title(f"{CRITERION_NAMES[criterion]} of {plural(self.n_samples, 'sample')} x "
                     f"{plural(self.n_features, 'feature')}: chosen K = {best.n_components}, "
                     f"{best.covariance_type}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return fig

    def plot(self, path: str | os.PathLike) -> Path:
        """Draw :meth:`figure` to ``path`` (format from its extension, e.g.
        ``.png``); returns the path.

        Raises
        ------
        ImportError
            When matplotlib is not installed.
        """
        path = Path(path)
        self.figure().savefig(path, dpi=120)
        return path


#: Names of the criteria in the figure and the select command's report.
CRITERION_NAMES = {"bic": "BIC", "aic": "AIC", "heldout": "held-out log-likelihood"}


def _plot_range(points: list[tuple[int, float, float]]) -> tuple[float, float]:
    """The y-range of a figure: the chosen type's curve (values +- their error
    bars) with a 5% margin; a curve of one point gets a margin of 1% of its
    value."""
    lows = [v - e for _, v, e in points]
    highs = [v + e for _, v, e in points]
    low, high = min(lows), max(highs)
    margin = 0.05 * (high - low) or 0.01 * abs(high) or 1.0
    return low - margin, high + margin


def _num(value: float | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format(value, spec)


# -------------------------------------------------------------- validation
def _check_grid(n_components: object) -> list[int]:
    """``n_components`` as a sorted list of distinct ints >= 1."""
    expected = "an int >= 1 or a non-empty sequence of them (e.g. range(2, 31))"
    values = [n_components] if isinstance(n_components, numbers.Integral) else n_components
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"The 'n_components' parameter of {_OWNER} must be {expected}; "
                        f"got {n_components!r}.")
    values = list(values)
    for k in values:
        if not isinstance(k, numbers.Integral) or isinstance(k, (bool, np.bool_)):
            raise TypeError(f"The 'n_components' parameter of {_OWNER} must be {expected}; "
                            f"got {k!r} in {n_components!r}.")
        if k < 1:
            raise ValueError(f"The 'n_components' parameter of {_OWNER} must be {expected}; "
                             f"got {k!r} in {n_components!r}.")
    if not values:
        raise ValueError(f"The 'n_components' parameter of {_OWNER} must be {expected}; "
                         f"got an empty {type(n_components).__name__}.")
    return sorted({int(k) for k in values})


def _check_types(covariance_types: object) -> list[str]:
    """``covariance_types`` as a list of distinct names the estimator accepts."""
    allowed = COVARIANCE_TYPES
    expected = ("a covariance type or a non-empty sequence of them, among "
                + ", ".join(repr(t) for t in allowed))
    values = [covariance_types] if isinstance(covariance_types, str) else covariance_types
    if not isinstance(values, Iterable):
        raise TypeError(f"The 'covariance_types' parameter of {_OWNER} must be {expected}; "
                        f"got {covariance_types!r}.")
    values = list(values)
    if not values:
        raise ValueError(f"The 'covariance_types' parameter of {_OWNER} must be {expected}; "
                         f"got an empty {type(covariance_types).__name__}.")
    for t in values:
        if not isinstance(t, str):
            raise TypeError(f"The 'covariance_types' parameter of {_OWNER} must be {expected}; "
                            f"got {t!r}.")
        if t not in allowed:
            raise ValueError(f"The 'covariance_types' parameter of {_OWNER} must be "
                             f"{expected}; got {t!r}.")
    return list(dict.fromkeys(values))


def _check_estimator_params(params: dict[str, Any], types: Sequence[str], K: int) -> None:
    """Refuse parameters ``select_model`` owns or the estimator does not take,
    and validate the rest as the estimator would (before any fit starts)."""
    known = BigLearnGaussianMixture().get_params(deep=False)
    for name, own in _OWN_PARAMS.items():
        if name in params:
            raise TypeError(f"{_OWNER} sets the estimator's {name!r} itself: give it as "
                            f"{_OWNER}'s {own!r} argument, not as an estimator parameter.")
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise TypeError(f"{_OWNER} got unknown estimator parameter(s) {unknown}; "
                        f"BigLearnGaussianMixture takes {sorted(known)}.")
    if params.get("checkpoint") is not None:
        raise ValueError(f"The 'checkpoint' estimator parameter of {_OWNER} must be None: one "
                         "file cannot hold the many fits of a selection; "
                         f"got {params['checkpoint']!r}.")
    for ctype in types:
        model = BigLearnGaussianMixture(n_components=K, covariance_type=ctype, **params)
        validate_params("BigLearnGaussianMixture", model.get_params(deep=False),
                        BigLearnGaussianMixture._param_spec)


def _seed(random_state: object) -> int:
    """One int seed for every fit: ``random_state`` itself, or drawn from it
    (a Generator or RandomState), or from fresh entropy (None)."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**32, dtype=np.int64))
    rng = random_state if isinstance(random_state, np.random.Generator) \
        else np.random.default_rng()
    return int(rng.integers(0, 2**32))


# -------------------------------------------------------------------- fits
@dataclass(frozen=True)
class _Task:
    """One fit: candidate ``index`` on all of X (``fold`` None) or on all but one fold."""

    index: int
    n_components: int
    covariance_type: str
    fold: int | None = None

    def label(self, cv: int | None) -> str:
        where = "all data" if self.fold is None else f"fold {self.fold + 1} of {cv}"
        return (f"K={self.n_components}, covariance_type={self.covariance_type!r} "
                f"({where})")


def _run_task(task: _Task, X, folds: list | None, seed: int, params: dict[str, Any],
              parent: int, threads: int, weights: np.ndarray | None = None) -> dict[str, Any]:
    """Fit one task and score it; exceptions and warnings come back as values.

    In a worker process the BLAS pools get ``threads`` threads, so that the
    workers together use about the machine's cores.
    """
    if os.getpid() != parent:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            return _run_task(task, X, folds, seed, params, os.getpid(), threads, weights)
    out: dict[str, Any] = {"task": task, "error": None, "warnings": []}
    model = BigLearnGaussianMixture(n_components=task.n_components,
                                    covariance_type=task.covariance_type, random_state=seed,
                                    **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if task.fold is None:
                start = time.perf_counter()
                model.fit(X, sample_weight=weights)
                out["fit_time"] = time.perf_counter() - start
                out["train"] = model.score(X, sample_weight=weights)
                out["bic"] = model.bic(X, sample_weight=weights)
                out["aic"] = model.aic(X, sample_weight=weights)
                out["n_iter"] = int(model.n_iter_)
                out["n_em_steps"] = int(model.n_em_steps_)
                out["converged"] = bool(model.converged_)
                out["model"] = model
            else:
                assert folds is not None  # a task of a fold comes with the folds
                train, test = folds[task.fold]
                model.fit(_safe_indexing(X, train),
                          sample_weight=None if weights is None else weights[train])
                out["heldout"] = model.score(_safe_indexing(X, test),
                                             sample_weight=None if weights is None
                                             else weights[test])
        except Exception as exc:  # reported in the row, or raised by the caller
            out["error"] = f"{type(exc).__name__}: {exc}"
    # the table's 'converged' column says what a ConvergenceWarning would
    out["warnings"] = [(w.category, str(w.message)) for w in caught
                       if not issubclass(w.category, ConvergenceWarning)]
    return out


def _results(tasks: list[_Task], X, folds, seed: int, params: dict[str, Any],
             n_jobs: int | None, weights: np.ndarray | None = None
             ) -> Iterator[dict[str, Any]]:
    """The results of ``tasks`` as they finish: in this process one after
    another, or in joblib workers when more than one job runs."""
    from joblib import Parallel, cpu_count, delayed, effective_n_jobs

    workers = min(effective_n_jobs(n_jobs), len(tasks))
    parent = os.getpid()
    if workers <= 1:
        for task in tasks:
            yield _run_task(task, X, folds, seed, params, parent, 0, weights)
        return
    threads = max(1, cpu_count() // workers)
    run = delayed(_run_task)
    yield from Parallel(n_jobs=workers, return_as="generator_unordered")(
        run(task, X, folds, seed, params, parent, threads, weights) for task in tasks)


# ------------------------------------------------------------ nested search
# The nested search runs plain EM itself, on the engine's public face
# (biglearn_em.engine): a chain of 15 values of K costs about as many EM steps
# as one default fit, and an estimator per step of the chain (validation, data
# placement, the result's write-back and labels, ~7 ms on 272 rows) would cost
# more than its EM. The engine also gives the cuts that grow K - 1 into K
# (engine.owners and engine.splits, those of the split-and-merge moves).
@dataclass(frozen=True)
class _Chain:
    """The nested search of one covariance type on all of X (``fold`` None)
    or on all but one fold: K = 1, 2, ... up to the grid's largest."""

    covariance_type: str
    fold: int | None = None


@dataclass
class _Solution:
    """One K of a chain: the start its continuation ran from and where it ended
    (host arrays, internal units), with its mean log-likelihood."""

    start: engine.Params
    params: engine.Params
    ll: float
    n_iter: int
    converged: bool


def _plain_settings(params: dict[str, Any], data: engine.Data, ctype: str) -> engine.Settings:
    """The engine's settings of the estimator's plain EM with the estimator
    parameters ``params`` (read as the estimator reads them)."""
    model = BigLearnGaussianMixture(**{**params, **_PLAIN_EM, "covariance_type": ctype})
    return settings_of(model, data)


def _em(data: engine.Data, params: engine.Params, settings: engine.Settings, max_steps: int
        ) -> tuple[engine.Params, float, int, bool]:
    """Plain EM as the estimator runs it (the engine's loop, phase "em"): steps
    until the mean log-likelihood changes by less than ``tol`` (or
    ``max_steps``). Returns the last M-step's parameters, the log-likelihood
    of the parameters before it (the last E-step's), the steps and whether it
    converged."""
    settings = replace(settings, max_iter=max_steps)
    # plain EM draws nothing: the generator is never read
    result = engine.run(data, engine.State.start(params, settings), settings,
                        np.random.default_rng(0))
    return result.params, result.lower_bound, result.n_iter, result.converged


def _host(params: engine.Params, be) -> engine.Params:
    return engine.Params(be.to_numpy(params.weights), be.to_numpy(params.means),
                         be.to_numpy(params.covs))


def _of_type(data: engine.Data, settings: engine.Settings, weights: np.ndarray,
             means: np.ndarray, covs: np.ndarray) -> engine.Params:
    """Parameters of the settings' covariance type from full covariances
    (K, D, D): the closest member of the type, floored and repaired as every
    M-step (without a floor a cut of duplicated rows is singular)."""
    be = data.backend
    stored = settings.covariance.from_dense(weights, covs)
    return engine.floored(be, engine.Params(be.asarray(weights), be.asarray(means),
                                            be.asarray(stored)), settings)


def _seeds(data: engine.Data, K: int, seed: int, cache: dict
           ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The ``NESTED_SEEDS`` k-means++ starts at K as full Gaussians (weights,
    means, covariances; host, internal units), drawn from (seed, K, i): the
    same for every covariance type, computed once per process and data."""
    if K not in cache:
        # raw full covariances (no floor): each type floors its own conversion
        full = _plain_settings({"eig_floor": 0.0, "reg_covar": 0.0}, data, "full")
        out = []
        for i in range(1 if K == 1 else NESTED_SEEDS):
            start = _host(engine.initial_params(data, K, "k-means++", np.random.default_rng(
                [seed, K, i]), full), data.backend)
            out.append((start.weights, start.means, start.covs))
        cache[K] = out
    return cache[K]


def _grown(data: engine.Data, previous: engine.Params, settings: engine.Settings,
           n_splits: int) -> list[engine.Params]:
    """Starts at K from the K - 1 solution: one component cut in two (the
    best two-way cut of the rows it owns, :func:`biglearn_em.engine.splits`),
    for the ``n_splits`` components whose cut gains most."""
    be = data.backend
    cov = settings.covariance
    K, D = previous.means.shape
    owners = engine.owners(data, previous, cov)
    cuts = engine.splits(lambda: (be.to_numpy(Z) for Z in data.chunks()), owners, K,
                         settings.eig_floor, weights=data.host_weights())
    host = _host(previous, be)
    weights, means = host.weights, host.means
    covs = cov.dense(host.covs, K, D)
    out = []
    for cut in [c for c in cuts if np.isfinite(c.gain)][:n_splits]:
        k = cut.k
        w = np.append(weights, 0.0)
        mu = np.concatenate([means, means[k:k + 1]])
        S = np.concatenate([covs, covs[k:k + 1]])
        engine.place_halves(w, mu, S, k, K, cut, weights[k])
        out.append(_of_type(data, settings, w, mu, S))
    return out


def _duplicated(params: engine.Params, be, settings: engine.Settings) -> engine.Params:
    """The K - 1 solution with its heaviest component in two identical halves
    of half its weight: a K model of exactly the same likelihood."""
    host = _host(params, be)
    k = int(np.argmax(host.weights))
    weights = np.append(host.weights, host.weights[k] / 2)
    weights[k] /= 2
    means = np.concatenate([host.means, host.means[k:k + 1]])
    # tied: one covariance shared by every component (a full K = 1 has the same shape)
    covs = host.covs if settings.covariance_type == "tied" \
        else np.concatenate([host.covs, host.covs[k:k + 1]])
    return engine.Params(be.asarray(weights), be.asarray(means), be.asarray(covs))


def _next_solution(data: engine.Data, previous: _Solution | None, K: int,
                   settings: engine.Settings, seed: int, cache: dict
                   ) -> tuple[_Solution, int]:
    """The solution at K from the one at K - 1 (None for K = 1), and the EM
    steps it cost.

    Every start (the K - 1 solution cut, the seeds) runs ``NESTED_SHORT_STEPS``
    plain EM steps; the best ``NESTED_CONTINUED`` continue to convergence
    (tied: the one cut and the best ``NESTED_TIED_SEEDS_CONTINUED`` seeds) and
    the best of them is the solution, unless it scores below the K - 1
    solution: then the K - 1 solution with a component duplicated (the same
    likelihood) continues instead, so that the likelihood never falls as K
    grows."""
    be = data.backend
    tied = settings.covariance_type == "tied"
    cuts = [] if previous is None else \
        _grown(data, previous.params, settings, 1 if tied else NESTED_SPLITS)
    seeds = [_of_type(data, settings, *seed_) for seed_ in _seeds(data, K, seed, cache)]
    steps = 0
    short = []
    for start in cuts + seeds:
        params, ll, n, _ = _em(data, start, settings, NESTED_SHORT_STEPS)
        steps += n
        short.append((ll, params))
    if tied:
        ranked = sorted(short[len(cuts):], key=lambda pair: -pair[0])
        continued = short[:len(cuts)] + ranked[:NESTED_TIED_SEEDS_CONTINUED]
    else:
        continued = sorted(short, key=lambda pair: -pair[0])[:NESTED_CONTINUED]
    best: _Solution | None = None
    for _, start in continued:  # sorted: stable, ties go to the earlier start
        solution, n = _continued(data, start, settings)
        steps += n
        if best is None or solution.ll > best.ll:
            best = solution
    assert best is not None  # continued holds a start at least: there is always a seed
    if previous is not None and best.ll < previous.ll:
        duplicate = _duplicated(previous.params, be, settings)
        best, n = _continued(data, duplicate, settings)
        steps += n
        if best.ll < previous.ll:  # a binding floor (or rounding) lowered it: the duplicate
            best = _Solution(duplicate, duplicate, previous.ll, 0, previous.converged)
    return best, steps


def _continued(data: engine.Data, start: engine.Params, settings: engine.Settings
               ) -> tuple[_Solution, int]:
    """Plain EM from ``start`` to convergence (at most ``max_iter`` steps), the
    result scored on the data (one more pass)."""
    params, _, n, converged = _em(data, start, settings, settings.max_iter)
    ll = engine.score(data, params, settings)
    return _Solution(start, params, ll, n, converged), n + 1


def _run_chain(chain: _Chain, keys: dict, X, folds: list | None, seed: int,
               params: dict[str, Any], grid: list[int], parent: int, threads: int,
               weights: np.ndarray | None = None, cache: dict | None = None
               ) -> Iterable[dict[str, Any]]:
    """The results of one chain, one per K of the grid as :func:`_run_task`'s,
    as each is found (the fit of K on all of X, or of a fold's K); a K that
    raises ends the chain, its error on every K left. A worker process returns
    them all at once, as a list."""
    if os.getpid() != parent:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            return list(_run_chain(chain, keys, X, folds, seed, params, grid, os.getpid(),
                                   threads, weights, {}))
    return _chain_results(chain, keys, X, folds, seed, params, grid, weights,
                          {} if cache is None else cache)


def _chain_results(chain: _Chain, keys: dict, X, folds: list | None, seed: int,
                   params: dict[str, Any], grid: list[int], weights: np.ndarray | None,
                   cache: dict) -> Iterator[dict[str, Any]]:
    ctype, fold = chain.covariance_type, chain.fold
    wanted = set(grid)
    error: str | None = None
    previous: _Solution | None = None
    data = test = settings = None
    n_total = 0.0
    for K in range(1, grid[-1] + 1):
        task = _Task(keys.get((K, ctype), -1), K, ctype, fold)
        out: dict[str, Any] = {"task": task, "error": error, "warnings": []}
        if error is None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    started = time.perf_counter()
                    if data is None:
                        data, test = _chain_data(X, weights, params, folds, fold, grid[-1])
                        settings = _plain_settings(params, data, ctype)
                        n_total = data.total_weight()
                    assert settings is not None  # set with the data
                    previous, steps = _next_solution(
                        data, previous, K, settings, seed,
                        cache.setdefault(fold, {}))
                    out.update(_chain_row(previous, steps, time.perf_counter() - started,
                                          data, test, settings, n_total))
                except Exception as exc:  # reported in the row, or raised by the caller
                    error = out["error"] = f"{type(exc).__name__}: {exc}"
            out["warnings"] = [(w.category, str(w.message)) for w in caught
                               if not issubclass(w.category, ConvergenceWarning)]
        elif K in wanted:
            out["error"] = f"not searched: an earlier K failed ({error})"
        if K in wanted:
            yield out


def _chain_data(X, weights: np.ndarray | None, params: dict[str, Any], folds: list | None,
                fold: int | None, n_components: int
                ) -> tuple[engine.Data, engine.Data | None]:
    """The chain's data in internal units on the host: all of X, or the
    training rows of ``fold`` with the held-out rows beside them. A fold's
    rows keep the units of all of X (its floor and ``tol`` are those of X's
    scale, not of the training rows alone): a column observed only in the
    held-out rows would have no units of its own. ``n_components``: the
    chain's largest K (chunks are sized for it)."""
    backend = select_backend(None, X, params["dtype"])
    data = engine.Data.from_array(X, params["chunk_size"], backend, n_components, weights)
    if fold is None:
        return data, None
    assert folds is not None  # a chain of a fold comes with the folds
    train, test = folds[fold]
    return data.subset(np.sort(train)), data.subset(np.sort(test))


def _chain_row(solution: _Solution, steps: int, seconds: float, data: engine.Data,
               test: engine.Data | None, settings: engine.Settings, n_total: float
               ) -> dict[str, Any]:
    """The fields of :func:`_run_task`'s result for one K of a chain."""
    if test is not None:
        return {"heldout": engine.score(test, solution.params, settings)}
    K, D = solution.params.means.shape
    n_params = settings.covariance.n_parameters(K, D) + K * D + K - 1
    total = -2.0 * solution.ll * n_total
    return {"fit_time": seconds, "train": solution.ll,
            "bic": total + n_params * math.log(n_total), "aic": total + 2.0 * n_params,
            "n_iter": solution.n_iter, "n_em_steps": steps, "converged": solution.converged,
            "start": _user_units(solution.start, data, settings)}


def _user_units(params: engine.Params, data: engine.Data, settings: engine.Settings
                ) -> dict[str, np.ndarray]:
    """``weights_init``, ``means_init`` and ``precisions_init`` of ``params``
    (internal units) in the units of X."""
    be = data.backend
    host = _host(params, be)
    cov = settings.covariance
    covs = cov.public(host.covs) * data.scale**2
    if settings.covariance_type in ("full", "tied"):
        # from the precision's Cholesky factor, as the estimator's precisions_:
        # symmetric and positive definite by construction, where np.linalg.inv
        # of a nearly singular covariance (cuts of repeated rows, no floor)
        # gave a negative eigenvalue, which the estimator refuses
        chol = precision_cholesky(covs.reshape(-1, *covs.shape[-2:]))  # tied: (D, D)
        precisions = precisions_from_cholesky(chol).reshape(covs.shape)
    else:
        precisions = 1.0 / covs
    return {"weights_init": host.weights,
            "means_init": host.means * data.scale + be.to_numpy(data.shift),
            "precisions_init": precisions}


def _chain_results_of(chains: list[_Chain], keys: dict, X, folds, seed: int,
                      params: dict[str, Any], grid: list[int], n_jobs: int | None,
                      weights: np.ndarray | None = None) -> Iterator[dict[str, Any]]:
    """The results of every chain, K by K as they are found in this process,
    or chain by chain from joblib workers when more than one job runs."""
    from joblib import Parallel, cpu_count, delayed, effective_n_jobs

    workers = min(effective_n_jobs(n_jobs), len(chains))
    parent = os.getpid()
    if workers <= 1:
        cache: dict = {}  # the seeds of each data, shared by the types
        for chain in chains:
            yield from _run_chain(chain, keys, X, folds, seed, params, grid, parent, 0,
                                  weights, cache)
        return
    threads = max(1, cpu_count() // workers)
    run = delayed(_run_chain)
    for results in Parallel(n_jobs=workers, return_as="generator_unordered")(
            run(chain, keys, X, folds, seed, params, grid, parent, threads, weights)
            for chain in chains):
        yield from results


def _refitted(K: int, ctype: str, start: dict[str, np.ndarray], X, seed: int,
              params: dict[str, Any], weights: np.ndarray | None) -> BigLearnGaussianMixture:
    """The estimator of a nested search's row: plain EM from the start its
    row continued (the same steps, hence the same model to rounding)."""
    model = BigLearnGaussianMixture(n_components=K, covariance_type=ctype, random_state=seed,
                                    **{**params, **_PLAIN_EM, **start})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the row says 'converged'
        return model.fit(X, sample_weight=weights)


def select_model(X, n_components: int | Iterable[int] = range(2, 31),
                 covariance_types: str | Sequence[str] = ("full",), criterion: str = "bic",
                 cv: int | None = None, n_jobs: int | None = None, random_state=None,
                 progress: bool | None = False, on_error: str = "report",
                 sample_weight=None, search: str = "nested",
                 **estimator_params) -> ModelSelection:
    """Choose the number of components K and the covariance type of a mixture.

    Every candidate (K, covariance type) is fitted on all of X, which gives its
    BIC, AIC and training mean log-likelihood; with ``cv`` it is also fitted on
    each k-1 folds of a shuffled k-fold split and scored on the held-out fold.
    Every fit has the same ``random_state``, so the candidates start alike and
    the selection is reproducible. The chosen candidate's estimator, fitted on
    all of X, is kept as ``best_estimator_``; the other models are dropped as
    soon as they lose, so memory holds about one model per running fit.

    The nested search (``search="nested"``) runs, per covariance type (and
    fold), K = 1, 2, ... up to the largest K of the grid: the starts of K are
    the K - 1 solution with one component cut in two (the ``NESTED_SPLITS``
    components whose two-way cut gains most) and ``NESTED_SEEDS`` k-means++
    starts shared by every type; each runs ``NESTED_SHORT_STEPS``
    plain EM steps, the best ``NESTED_CONTINUED`` continue to convergence
    (tied: its best cut and the best ``NESTED_TIED_SEEDS_CONTINUED`` seeds),
    and the best of them is K's model. A K that would score below K - 1 is
    the K - 1 model with a component duplicated at half weight each (the same
    likelihood) continued, so that within a type the training log-likelihood
    never falls as K grows. Its EM follows the estimator parameters
    ``eig_floor``, ``reg_covar``, ``tol``, ``max_iter`` (a cap per
    continuation), ``chunk_size`` and ``dtype``, on the
    host; ``best_estimator_`` is the estimator of plain EM
    (``view_probs=(1, 0, 0)``, ``n_inner=1``, ``weight_smoothing=0``) from
    the start its row continued, with the other parameters as given, which
    repeats that row's fit.

    Parameters
    ----------
    X : array-like of shape (N, D)
        The data, in memory (a NumPy array or anything scikit-learn's
        ``check_array`` takes; a DataFrame keeps its column names).
    n_components : int or iterable of int >= 1, default=range(2, 31)
        The values of K to try (sorted, duplicates dropped); each at most N,
        and with ``cv`` at most the rows of the smallest training split.
    covariance_types : str or sequence of str, default=("full",)
        Covariance types to try, among "full", "tied", "diag" and "spherical"
        (scikit-learn's meanings).
    criterion : {"bic", "aic", "heldout"}, default="bic"
        Lowest BIC, lowest AIC, or highest held-out mean log-likelihood
        ("heldout" needs ``cv``). Ties go to the smaller K.
    cv : int >= 2 or None, default=None
        Number of folds of the held-out scores:
        ``sklearn.model_selection.KFold(cv, shuffle=True,
        random_state=seed)``, with ``seed`` the recorded ``random_state``.
        None: no held-out scores.
    n_jobs : int or None, default=None
        Fits (nested: chains, one per covariance type and fold) run at once,
        in joblib's worker processes (joblib's meaning: None
        is 1 unless inside ``joblib.parallel_config``, -1 is every CPU). Each
        worker's BLAS gets ``cpu_count // workers`` threads. The results do
        not depend on ``n_jobs``.
    random_state : None, int in [0, 2**32), RandomState or Generator, default=None
        The seed of every fit and of the folds. A Generator or RandomState
        gives one seed drawn from it, None one drawn from fresh entropy; the
        seed used is the result's ``random_state``.
    progress : bool or None, default=False
        Draw a progress bar on standard error, advancing as fits finish
        (None: only when standard error is a terminal).
    on_error : {"report", "raise"}, default="report"
        When a fit raises: "report" records ``"Type: message"`` in the
        candidate's ``error`` (its scores stay NaN and it is never chosen),
        warns once with every failed candidate, and raises a ``RuntimeError``
        only when every candidate failed; "raise" raises a ``RuntimeError``
        naming the candidate and the fold at the first failure.
    sample_weight : array-like of shape (N,) or None, default=None
        Frequency weights of the rows (see
        :meth:`BigLearnGaussianMixture.fit <biglearn_em.BigLearnGaussianMixture.fit>`):
        every fit, score, BIC and AIC counts a row that many times, and each
        fold keeps its rows' weights.
    search : {"nested", "independent"}, default="nested"
        "nested": each K grown from the K - 1 model of its covariance type
        (above); the table's ``n_iter`` is then the EM steps of the
        continuation kept, ``n_em_steps`` all the EM steps spent on K and
        ``fit_time`` its seconds in the chain. "independent": every candidate
        by a default fit of the estimator from scratch, as releases before
        issue 22 did (their results, at about ten times the cost on small
        data; the likelihood may fall as K grows).
    **estimator_params
        Other parameters of every :class:`~biglearn_em.BigLearnGaussianMixture`
        (``max_iter``, ``restarts``, ``eig_floor``, ...), validated before any
        fit. ``n_components``, ``covariance_type`` and ``random_state`` are
        this function's own arguments; ``checkpoint`` must be None.

    Returns
    -------
    ModelSelection
        The candidates (one row each), the choice and ``best_estimator_``.

    Raises
    ------
    TypeError, ValueError
        For a bad argument, naming it, what was expected and what was given.
    RuntimeError
        When a fit fails under ``on_error="raise"``, or every candidate failed.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(600, centers=4, n_features=3, random_state=0)
    >>> found = select_model(X, range(1, 8), random_state=0)  # doctest: +SKIP
    >>> found.best_n_components, found.best_estimator_.bic(X)  # doctest: +SKIP
    """
    validate_params(_OWNER, {"criterion": criterion, "cv": cv, "n_jobs": n_jobs,
                             "random_state": random_state, "progress": progress,
                             "on_error": on_error, "search": search}, _SPEC)
    if n_jobs == 0:
        raise ValueError(f"The 'n_jobs' parameter of {_OWNER} must be None or an int other "
                         "than 0 (-1: every CPU); got 0.")
    if criterion == "heldout" and cv is None:
        raise ValueError(f"The 'criterion' parameter of {_OWNER} is 'heldout', which needs "
                         "held-out scores: give 'cv', the number of folds (an int >= 2); "
                         "got cv=None.")
    grid = _check_grid(n_components)
    types = _check_types(covariance_types)
    _check_estimator_params(estimator_params, types, grid[-1])
    # NaN marks a missing value, as in the estimator's fit
    checked = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=2,
                          ensure_all_finite="allow-nan")
    N, D = checked.shape
    if not isinstance(X, np.ndarray) and not hasattr(X, "columns"):
        X = checked  # lists and other array-likes: index the checked array
    if cv is not None and cv > N:
        raise ValueError(f"The 'cv' parameter of {_OWNER} must be at most the number of "
                         f"samples, {N}; got {cv}.")
    if grid[-1] > N:
        raise ValueError(f"The 'n_components' parameter of {_OWNER} must hold values at most "
                         f"the number of samples, {N}; got {grid[-1]}.")
    weights = validate_weights(sample_weight, checked, grid[-1])
    seed = _seed(random_state)
    folds = None
    if cv is not None:
        folds = list(KFold(cv, shuffle=True, random_state=seed).split(checked))
        smallest = min(len(train) for train, _ in folds)
        if grid[-1] > smallest:
            raise ValueError(f"The 'n_components' parameter of {_OWNER} must hold values at "
                             f"most {smallest}, the rows of the smallest training split of "
                             f"'cv'={cv} folds of {N} samples; got {grid[-1]}.")

    keys = [(K, t) for t in types for K in grid]
    tasks = [_Task(i, K, t, fold) for i, (K, t) in enumerate(keys)
             for fold in [None] + list(range(cv or 0))]
    if search == "nested":
        chains = [_Chain(t, fold) for t in types for fold in [None] + list(range(cv or 0))]
        params = {**BigLearnGaussianMixture().get_params(deep=False), **estimator_params}
        results = _chain_results_of(chains, {key: i for i, key in enumerate(keys)}, X, folds,
                                    seed, params, grid, n_jobs, weights)
    else:
        results = _results(tasks, X, folds, seed, estimator_params, n_jobs, weights)
    pending: dict[int, dict[str, Any]] = {i: {"folds": {}} for i in range(len(keys))}
    found: dict[int, Candidate] = {}
    best: tuple[tuple, int, BigLearnGaussianMixture | dict[str, np.ndarray] | None] | None = None
    caught: list[tuple[str, type, str]] = []
    bar = Progress(len(tasks), label="selecting", enabled=progress)
    with bar:
        for out in results:
            task: _Task = out["task"]
            caught += [(task.label(cv), category, message)
                       for category, message in out["warnings"]]
            if out["error"] is not None and on_error == "raise":
                raise RuntimeError(f"{_OWNER}: the fit of {task.label(cv)} failed: "
                                   f"{out['error']}")
            state = pending[task.index]
            if task.fold is None:
                state["all"] = out
            else:
                state["folds"][task.fold] = out
            bar.update(1, note=f"done: {task.label(cv)}")
            if "all" not in state or len(state["folds"]) < (cv or 0):
                continue
            candidate, model = _candidate(keys[task.index], state, cv)
            found[task.index] = candidate
            del pending[task.index]  # drops the estimator unless it wins below
            value = candidate.value(criterion)
            if candidate.error is None and not math.isnan(value):
                # ties: the smaller K, then the covariance type given first
                key = (-value if criterion == "heldout" else value, task.n_components,
                       types.index(task.covariance_type))
                if best is None or key < best[0]:
                    best = (key, task.index, model)
    for label, category, message in caught:
        warnings.warn(f"{label}: {message}", category, stacklevel=2)
    candidates = [found[i] for i in range(len(keys))]  # every task reports (errors as values)
    failed = [c for c in candidates if c.error is not None]
    if best is None:
        first = failed[0] if failed else candidates[0]
        raise RuntimeError(f"{_OWNER}: no candidate could be chosen; every fit failed or "
                           f"scored NaN (first: {first.label}: {first.error})")
    if failed:
        warnings.warn(f"{_OWNER}: {len(failed)} of {len(candidates)} candidates failed and "
                      "were not considered: "
                      + "; ".join(f"{c.label}: {c.error}" for c in failed),
                      RuntimeWarning, stacklevel=2)
    chosen = best[2]
    if not isinstance(chosen, BigLearnGaussianMixture):  # a nested search's start
        assert chosen is not None  # a candidate without an error has its model or start
        chosen = _refitted(*keys[best[1]], chosen, X, seed, estimator_params, weights)
    return ModelSelection(candidates=tuple(candidates), criterion=criterion, cv=cv,
                          random_state=seed, n_samples=N, n_features=D,
                          estimator_params=dict(estimator_params), best_index=best[1],
                          best_estimator_=chosen, search=search)


def _candidate(key: tuple[int, str], state: dict[str, Any], cv: int | None
               ) -> tuple[Candidate, BigLearnGaussianMixture | dict[str, np.ndarray] | None]:
    """The row of one candidate from the results of its fits, and its estimator
    (or a nested search's start for it; None when the fit on all data failed)."""
    K, ctype = key
    full = state["all"]
    folds = [state["folds"][f] for f in range(cv or 0)]
    errors = ([] if full["error"] is None else [f"all data: {full['error']}"])
    errors += [f"fold {f + 1}: {o['error']}" for f, o in enumerate(folds)
               if o["error"] is not None]
    fields: dict[str, Any] = {}
    if full["error"] is None:
        fields = {"bic": float(full["bic"]), "aic": float(full["aic"]),
                  "train_log_likelihood": float(full["train"]),
                  "fit_time": float(full["fit_time"]), "n_iter": full["n_iter"],
                  "n_em_steps": full["n_em_steps"],
                  "converged": full["converged"]}
    if cv is not None:
        scores = tuple(math.nan if o["error"] is not None else float(o["heldout"])
                       for o in folds)
        fields["heldout_folds"] = scores
        fields["heldout_log_likelihood"] = float(np.mean(scores))
        fields["heldout_std_error"] = float(np.std(scores, ddof=1) / math.sqrt(cv))
    candidate = Candidate(K, ctype, error=errors[0] if errors else None, **fields)
    # the estimator fitted on all of X, or the start of a nested search's row
    return candidate, full.get("model", full.get("start"))
