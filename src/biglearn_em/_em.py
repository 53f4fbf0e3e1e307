"""The EM template: outer iterations over random views, inner EM steps on a
view, best-snapshot selection on the training likelihood and a final polish
with plain EM.

The engine works in internal coordinates (data centred and divided by one
scalar, see :class:`Data`) so that floors and tolerances mean the same thing at
every scale of the input. It is written once for every backend: arrays are
touched through the operators NumPy arrays and torch tensors share and through
``data.backend`` (:mod:`._backend`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._backend import Backend, NumpyBackend
from ._gaussian import smooth_weights
from ._views import View, draw_view, joint_view, write_back

#: Eigenvalue floor (internal units, i.e. relative to the mean feature
#: variance) used only to repair a covariance that stopped being positive definite.
REPAIR_FLOOR = 1e-10


@dataclass
class Data:
    """The data as a backend reads them, with the affine map into internal
    coordinates.

    ``X`` (N, D) is kept as given or as ``backend.place`` put it (on a device
    when it fits there); chunks of ``chunk_size`` rows are converted to the
    compute dtype as ``(X - shift) / scale`` on the fly. ``shift`` (D,) is a
    float64 array of the backend; ``shift=None`` reads X as it is (inference
    on fitted parameters, which are in the units of X).
    """

    X: Any
    shift: Any
    scale: float
    chunk_size: int
    backend: Backend = field(default_factory=NumpyBackend)

    @classmethod
    def from_array(cls, X, chunk_size: int | None, backend: Backend | None = None,
                   n_components: int = 1) -> Data:
        """The data ``X`` (N, D) with the column means as ``shift`` and the
        root mean feature variance as ``scale``."""
        be = NumpyBackend() if backend is None else backend
        X = be.place(X)
        N, D = X.shape
        if chunk_size is None:
            chunk_size = be.default_chunk_size(D, n_components)
        shift = be.zeros(D)
        for raw in be.raw_chunks(X, chunk_size):
            shift += raw.sum(0, dtype=shift.dtype)
        shift /= N
        # two passes with a max-abs pre-scale: no overflow for values near 1e150
        peak = 0.0
        for raw in be.raw_chunks(X, chunk_size):
            peak = max(peak, be.item(abs(raw - shift).max()))
        if peak == 0.0 or not np.isfinite(peak):
            return cls(X, shift, 1.0 if peak == 0.0 else peak, chunk_size, be)
        ss = 0.0
        for raw in be.raw_chunks(X, chunk_size):
            scaled = (raw - shift) / peak
            ss += be.item((scaled * scaled).sum())
        return cls(X, shift, peak * np.sqrt(ss / (N * D)), chunk_size, be)

    @classmethod
    def unscaled(cls, X, chunk_size: int | None, backend: Backend,
                 n_components: int = 1) -> Data:
        """``X`` read as it is, for log-densities of fitted parameters."""
        X = backend.place(X)
        if chunk_size is None:
            chunk_size = backend.default_chunk_size(X.shape[1], n_components)
        return cls(X, None, 1.0, chunk_size, backend)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    def standardized(self) -> Any:
        """All of X in internal coordinates, (N, D), as one array of the backend."""
        return self.backend.concat(self.chunks())

    def rows(self, index: np.ndarray) -> Any:
        """The rows ``index`` (host integers) in internal coordinates, (len(index), D)."""
        be = self.backend
        return be.standardize(be.take(self.X, index), self.shift, self.scale)

    def chunks(self, view: View | None = None) -> Iterator[Any]:
        """Internal-coordinate chunks seen through ``view``, each (n, m), in the
        backend's compute dtype."""
        be = self.backend
        for raw in be.raw_chunks(self.X, self.chunk_size):
            Z = be.standardize(raw, self.shift, self.scale)
            yield Z if view is None else view.data(Z)


@dataclass
class Params:
    """Mixture parameters: weights (K,), means (K, D), covariances (K, D, D),
    float64 arrays of the fit's backend."""

    weights: Any
    means: Any
    covs: Any


@dataclass(frozen=True)
class Settings:
    """Everything the loop needs besides data and parameters (internal units)."""

    view_probs: tuple[float, float, float]
    subset_beta: tuple[float, float]
    n_inner: int
    smoothing: float
    eig_floor: float
    reg_covar: float
    update: str
    max_iter: int
    tol: float
    patience: int | None
    verbose: int = 0

    @property
    def plain(self) -> bool:
        """Only joint views: the loop is EM and stops on ``tol`` as scikit-learn does."""
        return self.view_probs[0] == 1.0


@dataclass
class Result:
    params: Params
    lower_bound: float
    n_iter: int
    converged: bool
    lower_bounds: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)


@dataclass
class State:
    """Where a fit stands between two outer iterations: everything needed to
    continue it exactly (with the random generator's state), and nothing else.

    ``phase`` is "em" (plain EM), "views" (BigLearn-EM), "polish" (plain EM from
    the best snapshot) or "done".
    """

    params: Params
    phase: str
    n_iter: int = 0
    n_polish: int = 0
    lower_bound: float = -np.inf
    converged: bool = False
    best: Params | None = None
    best_ll: float = -np.inf
    reset_ll: float = -np.inf
    since_best: int = 0
    lower_bounds: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)

    @classmethod
    def start(cls, params: Params, settings: Settings, lower_bound: float = -np.inf) -> State:
        """``lower_bound`` is the likelihood a warm start continues from (plain
        EM compares its first step against it, as scikit-learn does)."""
        phase = "done" if settings.max_iter == 0 else "em" if settings.plain else "views"
        return cls(params, phase, lower_bound=lower_bound)

    def result(self) -> Result:
        return Result(self.params, self.lower_bound, self.n_iter + self.n_polish, self.converged,
                      self.lower_bounds, self.history)


def ensure_positive_definite(be: Backend, covs, floor: float) -> tuple[Any, int]:
    """Repair the covariances (K, m, m) that a Cholesky factorisation rejects,
    or whose smallest eigenvalue is below ``REPAIR_FLOOR`` (numerically
    singular: their factorisation would fail again once mapped back to the
    units of X), by clipping their eigenvalues at ``max(floor, REPAIR_FLOOR)``,
    raised a hundredfold while rounding still defeats the factorisation.

    Returns the covariances and the number of components repaired.
    """
    bad = ~be.positive_definite(covs, REPAIR_FLOOR)
    n_bad = be.count(bad)
    if n_bad == 0:
        return covs, 0
    fixed = be.copy(covs)
    eye = be.eye(fixed.shape[-1])
    level = max(floor, REPAIR_FLOOR)
    for _ in range(6):
        finite = be.finite_matrices(fixed[bad])
        # a non-finite matrix has no spectrum to clip: restart it at the data's scale
        fixed[be.nonzero(bad)[~finite]] = eye
        fixed[bad] = be.floor_eigenvalues(fixed[bad], level)
        bad = ~be.positive_definite(fixed, REPAIR_FLOOR)
        if be.count(bad) == 0:
            return fixed, n_bad
        level *= 100.0
    fixed[bad] = eye
    return fixed, n_bad


def safe_precision_cholesky(be: Backend, covs, floor: float) -> tuple[Any, Any, int]:
    """Precision Cholesky factors, repairing matrices that are not positive definite.

    Returns the (possibly repaired) covariances (K, m, m), their factors
    (K, m, m) and the number of components that needed the repair.
    """
    prec_chol, ok = be.precision_cholesky(covs)
    if be.count(~ok) == 0:
        return covs, prec_chol, 0
    fixed, repaired = ensure_positive_definite(be, covs, floor)
    return fixed, be.precision_cholesky(fixed)[0], repaired


def view_step(
    data: Data, params: Params, view: View, settings: Settings, smoothing: float
) -> tuple[Params, float, int]:
    """One EM step on ``view``: E-step on ``Y = X P.T``, M-step in the view, write-back.

    ``view`` is drawn on the host (NumPy) and put on the data's backend here.
    Returns the new parameters, the mean log-likelihood of the view data (in
    the units of the original data) under the parameters the step started
    from, and the number of repaired components.
    """
    be = data.backend
    view = view.on(be)
    means_v, covs_v = view.params(params.means, params.covs)
    covs_v, prec_chol_v, repaired = safe_precision_cholesky(be, covs_v, settings.eig_floor)
    wh = be.whitener(params.weights, means_v, prec_chol_v)
    stats = be.new_stats(means_v)
    for Y in data.chunks(view):
        be.e_step(Y, wh, stats)
    be.finish(stats)
    weights, new_means_v, new_covs_v = be.m_step(stats, settings.reg_covar, settings.eig_floor)
    means, covs = write_back(
        be,
        view,
        params.means,
        params.covs,
        (means_v, covs_v, prec_chol_v),
        (new_means_v, new_covs_v),
        settings.update,
    )
    if view.kind != "joint" and settings.update == "block":
        covs = be.floor_eigenvalues(covs, settings.eig_floor)
    # every step hands on positive definite covariances (without a floor an
    # M-step on collapsed or collinear data can yield singular ones)
    covs, fixed = ensure_positive_definite(be, covs, settings.eig_floor)
    new = Params(smooth_weights(weights, smoothing), means, covs)
    ll = float(be.item(stats.ll) / stats.n - view.m * np.log(data.scale))
    return new, ll, repaired + fixed


Callback = Callable[[dict], None]


def run(
    data: Data,
    state: State,
    settings: Settings,
    rng: np.random.Generator,
    callback: Callback | None = None,
    after_iteration: Callable[[State], None] | None = None,
) -> Result:
    """Advance ``state`` until the fit is done: EM when ``settings.plain``,
    BigLearn-EM and its polish otherwise.

    ``callback`` receives each iteration's history record; ``after_iteration``
    the state after it (where a checkpoint can be written).
    """
    while state.phase != "done":
        record = advance(data, state, settings, rng)
        if callback is not None:
            callback(record)
        if after_iteration is not None:
            after_iteration(state)
    return state.result()


def advance(data: Data, state: State, settings: Settings, rng: np.random.Generator) -> dict:
    """One outer iteration of ``state`` (in place); returns its history record."""
    if state.phase == "views":
        record = _views_iteration(data, state, settings, rng)
    else:
        record = _em_iteration(data, state, settings)
    state.history.append(record)
    return record


def _views_iteration(
    data: Data, state: State, settings: Settings, rng: np.random.Generator
) -> dict:
    state.n_iter += 1
    view = draw_view(rng, data.n_features, settings.view_probs, settings.subset_beta)
    record = {"iteration": state.n_iter, "kind": view.kind, "m": view.m,
              "log_likelihood": None, "repaired": 0}
    for _ in range(settings.n_inner if view.m > 0 else 0):
        new, ll, repaired = view_step(data, state.params, view, settings, settings.smoothing)
        record["repaired"] += repaired
        if view.kind == "joint":
            # the E-step scored the parameters the step started from
            record["log_likelihood"] = ll
            state.lower_bounds.append(ll)
            if ll > state.best_ll:
                state.best, state.best_ll = state.params, ll
            if ll > state.reset_ll + settings.tol:
                state.reset_ll, state.since_best = ll, -1
        state.params = new
    state.since_best += 1
    out_of_patience = settings.patience is not None and state.since_best >= settings.patience
    if state.n_iter >= settings.max_iter or out_of_patience:
        # polish: plain EM from the best snapshot (views never change it in place)
        state.phase = "polish"
        state.params = state.best if state.best is not None else state.params
        state.best = None
        state.lower_bound = -np.inf
    return record


def _em_iteration(data: Data, state: State, settings: Settings) -> dict:
    polish = state.phase == "polish"
    if polish:
        state.n_polish += 1
    else:
        state.n_iter += 1
    record = {"iteration": state.n_iter + state.n_polish, "kind": state.phase, "m": data.n_features,
              "log_likelihood": None, "repaired": 0}
    n_steps, smoothing = (1, 0.0) if polish else (settings.n_inner, settings.smoothing)
    view = joint_view(data.n_features)
    for _ in range(n_steps):
        state.params, ll, repaired = view_step(data, state.params, view, settings, smoothing)
        record["repaired"] += repaired
        record["log_likelihood"] = ll
        state.lower_bounds.append(ll)
        state.converged = bool(abs(ll - state.lower_bound) < settings.tol)
        state.lower_bound = ll
        if state.converged:
            break
    count = state.n_polish if polish else state.n_iter
    if state.converged or count >= settings.max_iter:
        state.phase = "done"
    if not polish:
        record["kind"] = "joint"
    return record
