"""The EM template: outer iterations over random views, inner EM steps on a
view, best-snapshot selection on the training likelihood and a final polish
with plain EM.

The engine works in internal coordinates (data centred and divided by one
scalar, see :class:`.data.Data`) so that floors and tolerances mean the same
thing at every scale of the input. It is written once for every backend: arrays are
touched through the operators NumPy arrays and torch tensors share and through
``data.backend`` (:mod:`biglearn_em.backends.base`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ..backends.base import Backend
from . import moves
from .data import Data, Params, Settings
from .step import ensure_positive_definite, exact_step, score, view_step
from .views import draw_view, joint_view

#: The views' patience under ``patience="auto"``: outer iterations without an
#: improvement of the snapshot before the polish. On the hard suite's 96 data
#: sets the views improved the snapshot in 9, first after 3 to 45 iterations.
PATIENCE = 50
#: The same when the restarts agreed (``restart_agreement`` converged runs
#: reached the best optimum): the landscape showed one dominant basin, and
#: where it did the views never gained more than 0.0013 nats per sample.
AGREED_PATIENCE = 10
#: Under ``patience="auto"`` an improvement that took ``t`` iterations buys
#: the next one ``PATIENCE_GROWTH * t`` (never fewer than the base): slow
#: progress is still progress (thin clusters, seed 15: improvements after 38
#: and another 23 iterations).
PATIENCE_GROWTH = 2

#: Mean log-likelihoods closer than this are a tie, won by the earlier
#: parameters: restarts often reach the same optimum (its components in
#: another order), and which of them scores higher in the last bits depends
#: on the order of the sums (chunks in memory, blocks of a Dask array).
TIE = 1e-12


class Phase(str, Enum):
    """The phases of a fit. A fit begins in one of EM, EXACT, EXPLORE or VIEWS
    (:meth:`State.start`) and moves on only as :data:`NEXT` allows; any phase
    may end in DONE when the fit is stopped (:func:`stop`)."""

    #: plain EM (``view_probs=(1, 0, 0)``): ``n_inner`` joint steps per iteration
    EM = "em"
    #: one component: one EM step is the maximum likelihood (of complete
    #: data; with missing values it hands over to the polish, plain EM)
    EXACT = "exact"
    #: short EM runs from the fit's start and from new k-means++ starts
    EXPLORE = "explore"
    #: plain EM to convergence from the best short run, on all rows
    REFINE = "refine"
    #: split-and-merge proposals, in rounds while one is kept
    MOVES = "moves"
    #: BigLearn-EM: ``n_inner`` steps on a random view per iteration
    VIEWS = "views"
    #: plain EM from the best snapshot of the views, on all rows
    POLISH = "polish"
    DONE = "done"

    # the value, not "Phase.VIEWS", in messages and records
    __str__ = str.__str__

    def __format__(self, format_spec: str) -> str:
        # str.__format__ itself takes format_spec only by position, Enum's by name too
        return str.__format__(self, format_spec)


#: The phases each phase may hand over to (besides DONE, where every phase may stop).
NEXT: dict[Phase, frozenset[Phase]] = {
    Phase.EM: frozenset(),
    Phase.EXACT: frozenset({Phase.POLISH}),
    Phase.EXPLORE: frozenset({Phase.REFINE}),
    Phase.REFINE: frozenset({Phase.MOVES, Phase.VIEWS}),
    Phase.MOVES: frozenset({Phase.VIEWS}),
    Phase.VIEWS: frozenset({Phase.POLISH}),
    Phase.POLISH: frozenset(),
    Phase.DONE: frozenset(),
}


def _enter(state: State, phase: Phase) -> None:
    """Move ``state`` to ``phase``, as :data:`NEXT` allows (anything else is a
    bug of this module, never a user's error)."""
    if phase is not Phase.DONE and phase not in NEXT[state.phase]:
        raise RuntimeError(f"the fit cannot go from phase {state.phase} to {phase}")
    state.phase = phase


@dataclass
class Record:
    """One outer iteration, as ``history_`` reports it (:meth:`as_dict`).

    ``kind`` is the phase's name for its iterations ("restart", "refine",
    "move", "polish", "exact"), or the view's kind ("joint", "marginal",
    "rotated"; plain EM's iterations are "joint"); ``m`` the view's
    dimension (0: an empty view, skipped); ``log_likelihood`` the joint mean
    log-likelihood when the iteration computed one; ``repaired`` the
    covariances repaired. A move also records the proposal (i, j, k) and
    whether it was kept.
    """

    iteration: int
    kind: str
    m: int
    log_likelihood: float | None = None
    repaired: int = 0
    move: list[int] | None = None
    accepted: bool | None = None

    def as_dict(self) -> dict:
        out = {"iteration": self.iteration, "kind": self.kind, "m": self.m,
               "log_likelihood": self.log_likelihood, "repaired": self.repaired}
        if self.move is not None:
            out["move"], out["accepted"] = self.move, self.accepted
        return out


@dataclass
class Search:
    """Where the restarts and the views run, and how a restart begins.

    ``data`` is the fit's data or, for large data, a subsample of its rows
    with the same map into internal coordinates (the refinement and the polish
    always run on all of the data); ``starter(rng)`` returns the parameters a
    new restart begins from (a k-means++ start on ``data``).
    """

    data: Data
    starter: Callable[[np.random.Generator], Params] | None = None


@dataclass
class Result:
    params: Params
    lower_bound: float
    n_iter: int
    converged: bool
    lower_bounds: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    n_steps: int = 0


@dataclass
class State:
    """Where a fit stands between two outer iterations: everything needed to
    continue it exactly (with the random generator's state), and nothing else.

    ``phase`` is a :class:`Phase`. ``candidate`` is the best short run so
    far and ``candidate_ll`` its mean log-likelihood (on the search data);
    ``move_queue`` the proposals (i, j, k) left in this round of moves and
    ``moves_ll`` the log-likelihood they must beat. ``origin`` is the fit's
    start (its own initialisation, or the model a warm start continues) and
    ``origin_ll`` its mean log-likelihood on all rows, once scored: the fit
    never ends below it.
    """

    params: Params
    phase: Phase
    n_iter: int = 0
    n_polish: int = 0
    n_restarts: int = 0
    n_refine: int = 0
    candidate: Params | None = None
    candidate_ll: float = -np.inf
    n_moves: int = 0
    moves_ll: float = -np.inf
    move_queue: list = field(default_factory=list)
    #: The seed of the search subsample (None: the search runs on all rows).
    search_seed: int | None = None
    #: The splits of this round of moves, by component (a cache, not saved:
    #: recomputed from the parameters after a resume).
    cuts: dict = field(default_factory=dict, repr=False)
    lower_bound: float = -np.inf
    converged: bool = False
    best: Params | None = None
    best_ll: float = -np.inf
    reset_ll: float = -np.inf
    since_best: int = 0
    origin: Params | None = None
    origin_ll: float | None = None
    #: EM steps run in all phases (restarts, refinement, moves, views, polish).
    n_steps: int = 0
    #: The mean log-likelihoods of the short runs that converged (on ``tol``
    #: before ``restart_iter`` steps): how many reached the best optimum.
    converged_runs: list[float] = field(default_factory=list)
    #: Whether the restarts ended because enough converged runs agreed on the
    #: best optimum (``restart_agreement``).
    agreed: bool = False
    #: Outer iterations the views' last improvement took (0: none yet).
    improvement_took: int = 0
    lower_bounds: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)

    @classmethod
    def start(cls, params: Params, settings: Settings, lower_bound: float = -np.inf,
              warm: bool = False) -> State:
        """``lower_bound`` is the likelihood a warm start continues from (plain
        EM compares its first step against it, as scikit-learn does). A warm
        start continues with the views, from itself as their first snapshot:
        restarts would compete with the fit it continues, not continue it."""
        if settings.max_iter == 0:
            phase = Phase.DONE
        elif settings.plain:
            phase = Phase.EM
        elif params.means.shape[0] == 1:
            phase = Phase.EXACT
        else:
            phase = Phase.EXPLORE if settings.restarts > 0 and not warm else Phase.VIEWS
        return cls(params, phase, lower_bound=lower_bound, origin=params)

    def __post_init__(self) -> None:
        self.phase = Phase(self.phase)  # a checkpoint stores the name

    def result(self) -> Result:
        # n_iter: what max_iter bounds, the outer iterations of the views (of
        # plain EM: its iterations); the other phases count in n_steps
        return Result(self.params, self.lower_bound, self.n_iter, self.converged,
                      self.lower_bounds, self.history, self.n_steps)


#: What receives each iteration's ``history_`` record.
Callback = Callable[[dict], None]


def run(
    data: Data,
    state: State,
    settings: Settings,
    rng: np.random.Generator,
    callback: Callback | None = None,
    after_iteration: Callable[[State], None] | None = None,
    search: Search | None = None,
    deadline: float | None = None,
) -> Result:
    """Advance ``state`` until the fit is done: EM when ``settings.plain``,
    otherwise the restarts (if any), the refinement, BigLearn-EM and its polish.

    ``callback`` receives each iteration's history record; ``after_iteration``
    the state after it (where a checkpoint can be written); ``search`` says
    where the restarts and views run (default: all of ``data``); at
    ``deadline`` (``time.monotonic()``) the fit stops with the best parameters
    it has found, unconverged.
    """
    while state.phase is not Phase.DONE:
        if deadline is not None and time.monotonic() >= deadline:
            stop(state, data, settings)
            break
        record = advance(data, state, settings, rng, search)
        if callback is not None:
            callback(record)
        if after_iteration is not None:
            after_iteration(state)
    return state.result()


def stop(state: State, data: Data | None = None, settings: Settings | None = None) -> None:
    """End ``state`` now with the best parameters it has seen (a snapshot,
    restart or polish step that beats the current parameters), unconverged.

    With ``data``, those parameters are scored on all of it (one pass: a
    snapshot or a short run was scored on the search rows, a refinement or
    polish step not at all) and the fit's start replaces them when it scores
    higher, so that a fit stopped by ``max_time`` or an interrupt never ends
    below its start either and ``lower_bound`` is the likelihood of what it
    returns."""
    params, ll = state.params, state.lower_bound
    if state.phase is Phase.VIEWS and state.best is not None:
        params, ll = state.best, state.best_ll
    elif state.phase is Phase.EXPLORE and state.candidate is not None:
        params, ll = state.candidate, state.candidate_ll
    elif state.phase is Phase.POLISH:
        _keep_best_polished(state)
        params, ll = state.params, state.lower_bound
    state.params, state.lower_bound = params, ll
    if data is not None and settings is not None:
        # a snapshot of the views may break the floor (a conditional write-back
        # does not floor): floored as the polish would have started from it
        state.params = floored(data.backend, params, settings)
        state.lower_bound = score(data, state.params, settings)
        state.lower_bounds.append(state.lower_bound)
        _at_least_origin(state)
    state.best = state.candidate = None
    _enter(state, Phase.DONE)
    state.converged = False


def advance(data: Data, state: State, settings: Settings, rng: np.random.Generator,
            search: Search | None = None) -> dict:
    """One outer iteration of ``state`` (in place); returns its history record.

    One outer iteration is one short run in the "explore" phase, one view
    (``n_inner`` steps) in "views" and one EM step in "refine" and "polish".
    """
    search = search if search is not None else Search(data)
    if state.phase is Phase.EXACT and data.missing:
        # one component with gaps: the conditional expectations depend on the
        # parameters, so one step is not the maximum; plain EM to convergence
        _enter(state, Phase.POLISH)
    if state.phase is Phase.EXACT:
        exact = _exact_iteration(data, state, settings).as_dict()
        state.history.append(exact)
        return exact
    if state.origin_ll is None and state.origin is not None and state.phase is not Phase.EM:
        # the start, floored as every M-step (a given start or a model refitted
        # with a higher floor may break it, and would then outscore every
        # floored fit) and scored once on all rows: the fit never ends below it
        start = floored(data.backend, state.origin, settings)
        if state.params is state.origin:
            state.params = start
        state.origin = start
        state.origin_ll = score(data, start, settings)
    if state.phase is Phase.VIEWS and state.best is None:
        # views that begin at the start (a warm start, or restarts=0): the
        # start is their first snapshot, as the refined parameters are otherwise
        # (scored here when the origin was not: a checkpoint of an earlier release)
        known = search.data is data and state.origin_ll is not None
        _begin_views(search.data, data, state, settings, state.origin_ll if known
                     else score(search.data, state.params, settings))
    if state.phase is Phase.EXPLORE:
        record = _explore_iteration(search, state, settings, rng)
    elif state.phase is Phase.MOVES:
        record = _move_iteration(search.data, data, state, settings)
    elif state.phase is Phase.VIEWS:
        record = _views_iteration(search.data, state, settings, rng)
    else:  # EM, REFINE, POLISH: plain EM steps on all rows
        record, over = _em_iteration(data, state, settings)
        if over and state.phase is Phase.REFINE:  # refined: moves, or the views
            if settings.moves > 0:
                _enter(state, Phase.MOVES)
                _begin_moves(search.data, data, state, settings)
            else:
                _enter(state, Phase.VIEWS)
                _begin_views(search.data, data, state, settings)
    out = record.as_dict()
    state.history.append(out)
    return out


def _short_em(data: Data, params: Params, settings: Settings, max_steps: int
              ) -> tuple[Params, float, int, int, bool]:
    """Plain EM steps until the mean log-likelihood changes by less than ``tol``
    or for ``max_steps`` steps. Returns the parameters, the last E-step's
    log-likelihood, the repairs, the steps run and whether the run converged
    (stopped on ``tol``)."""
    view = joint_view(data.n_features)
    ll, previous, repairs, steps = -np.inf, -np.inf, 0, 0
    while steps < max_steps:
        params, ll, repaired = view_step(data, params, view, settings, 0.0)
        repairs += repaired
        steps += 1
        if abs(ll - previous) < settings.tol:
            return params, ll, repairs, steps, True
        previous = ll
    return params, ll, repairs, steps, False


def _move_em(data: Data, params: Params, settings: Settings, target: float
             ) -> tuple[Params, float, int, bool, int]:
    """Plain EM from a proposal until its log-likelihood beats ``target`` by
    ``tol`` (kept), or until it has converged below it (a gain per step under
    ``tol / 100``; at most ``3 restart_iter`` steps). A proposal starts below
    ``target`` and often crawls for several steps before it climbs past it
    (measured on a 7 x 7 grid: gains of 1e-4 for 6 steps, then 5e-3), so the
    ordinary ``tol`` would stop it too soon.

    Returns the parameters, the last E-step's log-likelihood, the repairs,
    whether the proposal is kept and the steps run. A kept proposal returns
    the parameters that E-step scored, not the M-step after it: with a large eigenvalue floor an
    M-step can lower the likelihood, and the next round's target must be the
    likelihood of the parameters kept, or rounds could accept moves back and
    forth without end (seen on Fashion-MNIST with eps = 0.05).
    """
    view = joint_view(data.n_features)
    previous, repairs = -np.inf, 0
    for step in range(3 * settings.restart_iter):
        new, ll, repaired = view_step(data, params, view, settings, 0.0)
        repairs += repaired
        if ll > target + settings.tol:
            return params, ll, repairs, True, step + 1
        if step >= 2 and ll - previous < 0.01 * settings.tol:
            break
        previous, params = ll, new
    return params, ll, repairs, False, step + 1


def _survey_cuts(search: Data, state: State, settings: Settings) -> np.ndarray:
    """The merge costs of the current parameters (K, K), with the best cut of
    every component's rows stored in ``state.cuts``."""
    be = search.backend
    owners = moves.owners(search, state.params, settings.covariance)
    weights, means, covs = _host_dense(be, state.params, settings)

    def chunks() -> Iterator[np.ndarray]:
        return (be.to_numpy(Z) for Z in search.chunks())
    cuts = moves.splits(chunks, owners, len(weights), settings.eig_floor,
                        weights=search.host_weights())
    state.cuts = {c.k: c for c in cuts}
    return moves.merge_costs(weights, means, covs, search.total_weight(), settings.eig_floor)


def _host_dense(be: Backend, params: Params, settings: Settings
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means and covariances as host arrays, the covariances as full
    matrices (K, D, D): the moves split and merge full Gaussians, and the
    result returns to the covariance type by ``from_dense``."""
    weights, means = be.to_numpy(params.weights), be.to_numpy(params.means)
    covs = settings.covariance.dense(be.to_numpy(params.covs), *means.shape)
    return weights, means, covs


def _begin_moves(search: Data, data: Data, state: State, settings: Settings,
                 ll: float | None = None) -> None:
    """A round of split-and-merge proposals from the current parameters, whose
    log-likelihood on ``search`` is ``ll`` when known (a kept move's E-step
    scored them); the views begin when there is no proposal, or when
    ``max_iter`` proposals have been tried in all."""
    state.move_queue = []
    if state.n_moves < settings.max_iter:
        if ll is None:
            ll = view_step(search, state.params, joint_view(search.n_features), settings,
                           0.0)[1]
        state.moves_ll = ll
        costs = _survey_cuts(search, state, settings)
        state.move_queue = [list(m) for m in moves.proposals(
            costs, sorted(state.cuts.values(), key=lambda c: -c.gain), settings.moves)]
    if not state.move_queue:
        _enter(state, Phase.VIEWS)
        _begin_views(search, data, state, settings)


def _move_iteration(search: Data, data: Data, state: State, settings: Settings) -> Record:
    """One proposal: merge, split, plain EM from there; kept if the
    log-likelihood rises by more than ``tol``, after which a new round starts."""
    be = search.backend
    move = tuple(state.move_queue.pop(0))
    state.n_moves += 1
    if move[2] not in state.cuts:  # resumed from a checkpoint: the cache is empty
        _survey_cuts(search, state, settings)
    weights, means, covs = moves.apply(*_host_dense(be, state.params, settings), move,
                                        state.cuts[move[2]])
    # the halves are their rows' raw covariances: floored and repaired like
    # every M-step's (a proposal's start can be kept as it is, see _move_em)
    start = floored(be, Params(be.asarray(weights), be.asarray(means),
                                be.asarray(settings.covariance.from_dense(weights, covs))),
                     settings)
    params, ll, repaired, accepted, steps = _move_em(search, start, settings, state.moves_ll)
    state.n_steps += steps
    record = Record(state.n_moves, "move", search.n_features, ll, repaired, list(move), accepted)
    if accepted:
        state.params, state.lower_bound = params, ll
        state.lower_bounds.append(ll)
        _begin_moves(search, data, state, settings, ll)
    elif not state.move_queue or state.n_moves >= settings.max_iter:
        state.move_queue = []
        _enter(state, Phase.VIEWS)
        _begin_views(search, data, state, settings)
    return record


def floored(be: Backend, params: Params, settings: Settings) -> Params:
    """``params`` with their covariances floored and, where still not positive
    definite, repaired, as every M-step's are (the same arrays when they
    already are). Parameters that may end a fit pass through here (a start, a
    proposal's start, a snapshot): an E-step scores them with repaired
    covariances, so they must be what it scored. Without a floor a proposal's
    half of duplicated rows has a singular covariance, which a kept move then
    handed to the end of the fit (a Dask fit of duplicated rows ended on
    eigenvalues of 0 and -2e-17, and its precisions could not be computed)."""
    covs = be.floor_eigenvalues(params.covs, settings.eig_floor)
    covs, _ = ensure_positive_definite(be, covs, settings.eig_floor)
    return Params(params.weights, params.means, covs)


def _exact_iteration(data: Data, state: State, settings: Settings) -> Record:
    """One component on complete data: every row's responsibility is 1, so one
    EM step from any start gives the maximum likelihood, the mean and
    covariance of all rows (floored as every M-step), and the statistics of
    that one pass score it in closed form (:func:`.step.exact_step`). Nothing
    to escape: no restarts, moves or views."""
    # the start floored (it competes at the end), and that step's E-step scores it
    state.origin = floored(data.backend, state.params, settings)
    state.params, state.origin_ll, ll, repaired, state.n_steps = exact_step(data, state.origin,
                                                                            settings)
    state.n_iter = 1
    state.converged = True
    state.lower_bound = ll
    state.lower_bounds.append(ll)
    _at_least_origin(state)
    _enter(state, Phase.DONE)
    return Record(1, "exact", data.n_features, state.lower_bound, repaired)


def _explore_iteration(search: Search, state: State, settings: Settings,
                       rng: np.random.Generator) -> Record:
    """One short run: EM steps from the fit's start (the first) or from a new
    start, until the log-likelihood changes by less than ``tol`` or for
    ``restart_iter`` steps; the best run so far is the candidate."""
    first = state.n_restarts == 0
    params = state.params if first or search.starter is None else search.starter(rng)
    D = search.data.n_features
    # until converged: a restart costs what it needs, at most restart_iter steps
    params, ll, repaired, steps, converged = _short_em(search.data, params, settings,
                                                       settings.restart_iter)
    record = Record(state.n_restarts + 1, "restart", D, ll, repaired)
    state.n_steps += steps
    state.lower_bounds.append(ll)
    if ll > state.candidate_ll + TIE:
        state.candidate, state.candidate_ll = params, ll
    state.n_restarts += 1
    if converged:
        state.converged_runs.append(ll)
    state.agreed = _restarts_agree(state, settings)
    if state.n_restarts > settings.restarts or search.starter is None or state.agreed:
        # plain EM to convergence from the best short run, on all of the data
        _enter(state, Phase.REFINE)
        # the first run set it: its (finite) log-likelihood beats the initial -inf
        assert state.candidate is not None
        state.params, state.candidate = state.candidate, None
        state.lower_bound = -np.inf
    return record


def _restarts_agree(state: State, settings: Settings) -> bool:
    """Whether ``restart_agreement`` converged short runs reached the best
    optimum found so far (within ``tol`` of the best run's log-likelihood):
    the landscape shows one dominant basin and more starts would find it again.

    Only converged runs count: a run cut off by ``restart_iter`` may be on its
    way to another optimum. On the hard suite, agreement within ``tol`` by 3
    runs ended the restarts early on the easy seeds (one dominant optimum) and
    kept all of them where the best optimum is rare."""
    if settings.restart_agreement is None:
        return False
    best = state.candidate_ll - settings.tol
    return sum(ll >= best for ll in state.converged_runs) >= settings.restart_agreement


def _patience(state: State, settings: Settings) -> int | None:
    """The outer iterations the views may run without improving the snapshot
    (None: until ``max_iter``): ``patience`` as given, or under "auto"
    :data:`PATIENCE` (:data:`AGREED_PATIENCE` after restarts that agreed),
    at least :data:`PATIENCE_GROWTH` times what the last improvement took."""
    if settings.patience != "auto":
        return settings.patience
    base = AGREED_PATIENCE if state.agreed else PATIENCE
    return max(base, PATIENCE_GROWTH * state.improvement_took)


def _begin_views(search: Data, data: Data, state: State, settings: Settings,
                 ll: float | None = None) -> None:
    """The parameters the views start from (the refined ones, or the start
    itself) are the first snapshot: the views never end below them. Its
    likelihood is that of the search data: ``ll`` when known; else the last
    E-step's (``lower_bound``) when the search runs on all rows, or scored here."""
    if ll is None:
        ll = state.lower_bound if search is data else score(search, state.params, settings)
    state.best, state.best_ll = state.params, ll
    state.reset_ll, state.since_best = ll, 0
    state.lower_bound = -np.inf
    state.converged = False


def _smoothing(state: State, settings: Settings) -> float:
    """The weight smoothing of the current view: ``a``, fading linearly to 0
    over ``fade`` outer iterations when that is set."""
    if settings.fade is None:
        return settings.smoothing
    return settings.smoothing * max(0.0, 1.0 - (state.n_iter - 1) / settings.fade)


def _views_iteration(
    data: Data, state: State, settings: Settings, rng: np.random.Generator
) -> Record:
    """One view: ``n_inner`` EM steps on a view drawn at random; a joint view's
    E-steps score the parameters and may make them the new snapshot."""
    state.n_iter += 1
    view = draw_view(rng, data.n_features, settings.view_probs, settings.subset_beta)
    record = Record(state.n_iter, view.kind, view.m)
    smoothing = _smoothing(state, settings)
    for _ in range(settings.n_inner if view.m > 0 else 0):
        new, ll, repaired = view_step(data, state.params, view, settings, smoothing)
        state.n_steps += 1
        record.repaired += repaired
        if view.kind == "joint":
            # the E-step scored the parameters the step started from
            record.log_likelihood = ll
            state.lower_bounds.append(ll)
            if ll > state.best_ll + TIE:
                state.best, state.best_ll = state.params, ll
            if ll > state.reset_ll + settings.tol:
                # this improvement took since_best + 1 outer iterations
                state.improvement_took = state.since_best + 1
                state.reset_ll, state.since_best = ll, -1
        state.params = new
    state.since_best += 1
    patience = _patience(state, settings)
    out_of_patience = patience is not None and state.since_best >= patience
    if state.n_iter >= settings.max_iter or out_of_patience:
        # polish: plain EM from the best snapshot (views never change it in
        # place), floored as every M-step: a conditional write-back does not
        # floor, and the polish keeps the best parameters it scores, which
        # would otherwise be an unfloored snapshot where the floor binds
        _enter(state, Phase.POLISH)
        best = state.best if state.best is not None else state.params
        state.params = floored(data.backend, best, settings)
        state.best, state.best_ll = None, -np.inf  # from now on, the polish's best
        state.lower_bound = -np.inf
    return record


def _keep_best_polished(state: State) -> None:
    """End the polish on the best parameters it scored when the last M-step
    did not beat them (more than rounding: 1e-10 nats per sample)."""
    if state.best is not None and state.best_ll > state.lower_bound + 1e-10:
        state.params, state.lower_bound = state.best, state.best_ll
    state.best, state.best_ll = None, -np.inf


def _end_polish(data: Data, state: State, settings: Settings, last_ll: float) -> None:
    """The polish's last M-step scored on all rows (one E-step pass): the fit
    ends on the best of it, the best parameters the polish scored and the
    fit's start, so that it never ends below its start, and ``lower_bound``
    is the likelihood of the parameters it returns. A polish stopped by
    ``max_iter`` has converged when that last step changed the likelihood by
    less than ``tol`` (a warm refit with ``max_iter=1`` can converge)."""
    ll = score(data, state.params, settings)
    state.lower_bounds.append(ll)
    if not state.converged:
        state.converged = bool(abs(ll - last_ll) < settings.tol)
    state.lower_bound = ll
    _keep_best_polished(state)
    _at_least_origin(state)


def _at_least_origin(state: State) -> None:
    """End on the fit's start when it scored higher on all rows than the
    parameters ending the fit (more than rounding: 1e-10 nats per sample)."""
    # (an origin_ll is that of an origin the state holds)
    if (state.origin is not None and state.origin_ll is not None
            and state.origin_ll > state.lower_bound + 1e-10):
        state.params, state.lower_bound = state.origin, state.origin_ll


def _em_iteration(data: Data, state: State, settings: Settings) -> tuple[Record, bool]:
    """One EM iteration of plain EM (EM: ``n_inner`` steps, as in a joint
    view), of the refinement or of the polish (one step each), and whether
    the phase is over (converged, or ``max_iter`` reached). EM and the polish
    then end the fit; what follows the refinement :func:`advance` decides."""
    phase = state.phase
    if phase is Phase.POLISH:
        state.n_polish += 1
    elif phase is Phase.REFINE:
        state.n_refine += 1
    else:
        state.n_iter += 1
    counts = {Phase.POLISH: state.n_polish, Phase.REFINE: state.n_refine, Phase.EM: state.n_iter}
    # plain EM's iterations are joint views
    record = Record(state.n_refine if phase is Phase.REFINE else state.n_iter + state.n_polish,
                    "joint" if phase is Phase.EM else phase.value, data.n_features)
    n_steps, smoothing = (settings.n_inner, settings.smoothing) if phase is Phase.EM else (1, 0.0)
    view = joint_view(data.n_features)
    for _ in range(n_steps):
        scored = state.params
        state.params, ll, repaired = view_step(data, state.params, view, settings, smoothing)
        state.n_steps += 1
        record.repaired += repaired
        record.log_likelihood = ll
        state.lower_bounds.append(ll)
        if phase is Phase.POLISH and ll > state.best_ll:
            # under a binding eigenvalue floor an M-step can lower the
            # likelihood: the polish keeps the best parameters it scored
            state.best, state.best_ll = scored, ll
        state.converged = bool(abs(ll - state.lower_bound) < settings.tol)
        state.lower_bound = ll
        if state.converged:
            break
    over = state.converged or counts[phase] >= settings.max_iter
    if over and phase is Phase.POLISH:
        _end_polish(data, state, settings, ll)
    if over and phase is not Phase.REFINE:
        _enter(state, Phase.DONE)
    return record, over
