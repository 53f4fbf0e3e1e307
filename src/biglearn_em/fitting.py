"""One fit of :class:`~biglearn_em.BigLearnGaussianMixture`: the estimator's
parameters and X read into the engine's terms (data on their backend in
internal units, :class:`~biglearn_em.engine.Settings`, a random generator),
the starts, the loop over initialisations with its checkpoints, interrupt and
``max_time``, and the result written back in the units of X.

:meth:`Fit.prepare` is what ``fit`` runs first; experiments that follow the
engine iteration by iteration (``reproduce grid25``'s likelihood trace) start
from it too, with the engine's public face (:mod:`biglearn_em.engine`)::

    fit = Fit.prepare(model, X)
    state = fit.initial_state(fit.data)
    while state.phase != "done":
        engine.advance(fit.data, state, fit.settings, fit.rng)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._inputs import Returns, restore_feature_attributes, to_host, validate, validate_weights
from ._kinds import is_dask_array
from ._validation import validate_params
from .backends import one_blas_pool, precision_cholesky, precisions_from_cholesky, select_backend
from .backends.dask import digest
from .engine import (
    Data,
    Params,
    Result,
    Search,
    Settings,
    State,
    covariance_type,
    initial_params,
    run,
    sample_rows,
    stop,
)
from .engine import checkpoint as checkpoints

#: Default eigenvalue floor relative to the mean per-feature variance of X.
AUTO_FLOOR = 1e-4


@dataclass
class Fit:
    """One call of ``fit`` on ``model`` (the estimator, whose parameters are
    read, never changed, until :meth:`write_result`)."""

    model: Any
    #: X as validated (where it lives: NumPy, a torch tensor, a dask array).
    X: Any
    #: X on the backend chosen for this fit, in internal units; predictions
    #: made during the fit (``labels_``) reuse it.
    data: Data
    settings: Settings
    rng: np.random.Generator
    #: Whether the fit continues the model's previous one (``warm_start``).
    warm: bool
    #: The rows' frequency weights as validated (None: every row once).
    weights: Any = None
    #: How many rows weigh more than 0, once asked (:meth:`_n_counted`).
    counted: int | None = field(default=None, repr=False)

    @classmethod
    def prepare(cls, model, X, sample_weight=None) -> Fit:
        """Validate the parameters of ``model``, X (which sets
        ``n_features_in_``, as scikit-learn's validation does) and
        ``sample_weight``, choose the backend, and put the data in internal
        units."""
        validate_params(type(model).__name__, model.get_params(deep=False), model._param_spec)
        X = validate(model, X, reset=True)
        N, D = X.shape
        K = model.n_components
        if N < K:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {K}, n_samples = {N}"
            )
        weights = validate_weights(sample_weight, X, K)
        warm = model.warm_start and hasattr(model, "converged_")
        if warm and (model.means_.shape != (K, D)
                     or model._fitted_type() != model.covariance_type):
            raise ValueError(
                "warm_start=True needs the previous fit's shape and covariance type: "
                f"n_components = {model.means_.shape[0]}, n_features = {model.means_.shape[1]} "
                f"and covariance_type = {model._fitted_type()!r}; got n_components = {K}, "
                f"n_features = {D} and covariance_type = {model.covariance_type!r}."
            )
        backend = select_backend(model.device, X, model.dtype, model.device_budget, K)
        data = Data.from_array(X, model.chunk_size, backend, K, weights)
        return cls(model, X, data, settings_of(model, data), _generator(model.random_state), warm,
                   weights)

    # ------------------------------------------------------------- the search
    def search_rows(self) -> int:
        """Rows of the search data: all rows, or ``search_rows`` of large data
        (of weighted data: of the rows of weight > 0)."""
        N = self._n_counted()
        rows = self.model.search_rows
        if self.settings.plain or rows is None:
            return N
        if rows == "auto":
            return min(N, sample_rows(self.model.n_components, self.data.n_features))
        return min(N, rows)

    def search_seed(self) -> int | None:
        """The seed of one initialisation's subsample (None: all rows, nothing drawn)."""
        if self.search_rows() >= self._n_counted():
            return None
        return int(self.rng.integers(2**63))

    def _n_counted(self) -> int:
        """How many rows count (computed once: a pass over Dask's weights)."""
        if self.counted is None:
            self.counted = self.data.n_counted()
        return self.counted

    def search(self, seed: int | None) -> Search:
        """Where the restarts, moves and views run (all rows, or the subsample
        ``seed`` draws; checkpoints keep the seed, so a resumed fit draws the
        same rows) and how a restart begins (k-means++ there)."""
        data, settings = self.data, self.settings
        if seed is None:
            # data on Dask's workers are gathered here when the search runs on all
            # of them (there are at most search_rows; search_rows=None keeps them there)
            gather = (not data.backend.in_process and not settings.plain
                      and self.model.search_rows is not None)
            search = data.subset(np.arange(data.n_samples)) if gather else data
        else:
            index = data.sample_counted(self.search_rows(), np.random.default_rng(seed))
            search = data.subset(index)
        K = self.model.n_components

        def starter(r: np.random.Generator) -> Params:
            return initial_params(search, K, "k-means++", r, settings)
        return Search(search, starter)

    def initial_state(self, data: Data) -> State:
        """The engine's state at the start of one initialisation (its start
        computed on ``data``: the search data, a subsample of large data)."""
        model, settings = self.model, self.settings
        if self.warm:
            be = data.backend
            covs = settings.covariance.stored(to_host(model.covariances_))
            start = Params(be.asarray(to_host(model.weights_)),
                           (be.asarray(to_host(model.means_)) - data.shift) / data.scale,
                           be.asarray(covs) / data.scale**2)
            return State.start(start, settings, model.lower_bound_, warm=True)
        start = initial_params(data, model.n_components, model.init_params, self.rng, settings,
                               *_user_init(model, data))
        return State.start(start, settings)

    # --------------------------------------------------------------- the fit
    def run(self, started: float, features: dict[str, Any]) -> Result:
        """Every initialisation (one for a warm start), resumed from the
        checkpoint when there is one; the best as a finished state.

        ``started`` is the ``time.monotonic()`` at which ``fit`` began
        (``max_time`` counts from it). On KeyboardInterrupt the estimator's
        feature attributes are put back as ``features`` (what they were
        before validation) and the interrupt propagates, unless
        ``keep_best_on_interrupt``.
        """
        model = self.model
        deadline = None if model.max_time is None else started + model.max_time
        ckpt = _Checkpointer(self)
        best, first_init, state = ckpt.resume()
        try:
            with one_blas_pool():
                for init in range(first_init, 1 if self.warm else model.n_init):
                    if state is None:
                        seed = self.search_seed()
                        search = self.search(seed)
                        state = self.initial_state(search.data)
                        state.search_seed = seed
                    else:  # resumed: the same subsample as before the interruption
                        search = self.search(state.search_seed)
                    res = run(self.data, state, self.settings, self.rng,
                              _iteration_callback(model, init),
                              ckpt.after_iteration(init, best), search, deadline)
                    if model.verbose:
                        print(f"Initialization {init}: log-likelihood {res.lower_bound:.6g}, "
                              f"{res.n_iter} iterations, converged={res.converged}")
                    if best is None or res.lower_bound > best.lower_bound:
                        best = state
                    state = None
        except KeyboardInterrupt:
            if not model.keep_best_on_interrupt or (best is None and state is None):
                restore_feature_attributes(model, features)
                raise
            best = self._best_so_far(best, state)
            # one warning says why the model is unconverged: this one
            warnings.warn("fit interrupted: keeping the best model found so far",
                          ConvergenceWarning, stacklevel=3)
            return best.result()
        # every initialisation sets it (n_init >= 1, and a checkpoint resumes before the last)
        assert best is not None
        if deadline is not None and time.monotonic() >= deadline:
            warnings.warn(f"max_time ({model.max_time:g} s) reached: keeping the best model "
                          "found so far", ConvergenceWarning, stacklevel=3)
        elif not best.converged and model.max_iter > 0:
            # scikit-learn's words (its tests and users' filters match them)
            warnings.warn("Best performing initialization did not converge. Try different "
                          "init parameters, or increase max_iter, tol, or check for "
                          "degenerate data.", ConvergenceWarning, stacklevel=3)
        return best.result()

    def _best_so_far(self, finished: State | None, running: State | None) -> State:
        """The better of the best finished initialisation and the best parameters
        the running one has seen (its snapshot during the views phase, otherwise
        its current parameters), as a stopped state."""
        if running is not None:
            running = replace(running)
            stop(running, self.data, self.settings)
        candidates = [s for s in (finished, running) if s is not None]
        return max(candidates, key=lambda s: s.lower_bound)

    # ------------------------------------------------------------ the result
    def write_result(self, best: Result, returns: Returns, dtype: np.dtype) -> None:
        """The fitted attributes of the model, in the units of X and ``dtype``,
        as ``returns`` hands them out (all but ``labels_``)."""
        model, data = self.model, self.data
        be = data.backend
        params = best.params
        cov = covariance_type(model.covariance_type)
        means = be.to_numpy(params.means * data.scale + data.shift)
        covs = be.to_numpy(params.covs) * data.scale**2
        if covs.ndim == 3:
            covs = 0.5 * (covs + np.swapaxes(covs, -1, -2))
        prec_chol = precision_cholesky(covs)
        precisions = precisions_from_cholesky(prec_chol)
        # C-ordered copies: predictions then do not depend on how an array was
        # laid out in memory (a transposed factor rounds differently in BLAS)
        fitted = {
            "weights_": be.to_numpy(params.weights),
            "means_": means,
            "covariances_": cov.public(covs),
            "precisions_cholesky_": cov.public(prec_chol),
            "precisions_": cov.public(precisions),
        }
        for name, value in fitted.items():
            setattr(model, name, returns(np.ascontiguousarray(value, dtype=dtype)))
        # what the fitted arrays are, whatever covariance_type is set to later
        model._covariance_type = model.covariance_type
        model.converged_ = best.converged
        model.n_iter_ = best.n_iter
        model.n_em_steps_ = best.n_steps
        model.lower_bound_ = float(best.lower_bound)
        model.lower_bounds_ = [float(v) for v in best.lower_bounds]
        model.history_ = best.history

    def inference_data(self) -> Data:
        """X as predictions read it (in its own units) on this fit's backend,
        without placing it there again."""
        # not the fit's laid-out chunks: those hold the rows in internal units
        return replace(self.data, shift=None, scale=1.0, gap_cache=None)


def settings_of(model, data: Data) -> Settings:
    """The engine's settings from the estimator's parameters, in internal units
    (also those of the nested model search's plain EM, from an estimator it
    never fits)."""
    K = model.n_components
    a = 1.0 / K if model.weight_smoothing == "auto" else float(model.weight_smoothing)
    floor = AUTO_FLOOR if model.eig_floor == "auto" else float(model.eig_floor) / data.scale**2
    probs = np.asarray(model.view_probs, dtype=float)
    beta_a, beta_b = model.subset_beta  # a pair (validated)
    return Settings(
        view_probs=tuple(probs / probs.sum()),
        subset_beta=(float(beta_a), float(beta_b)),
        n_inner=model.n_inner,
        smoothing=a,
        eig_floor=floor,
        reg_covar=float(model.reg_covar) / data.scale**2,
        update=model.update,
        max_iter=model.max_iter,
        tol=float(model.tol),
        patience=model.patience,
        verbose=model.verbose,
        restarts=model.restarts,
        restart_iter=model.restart_iter,
        restart_agreement=model.restart_agreement,
        fade=model.smoothing_fade,
        moves=model.moves,
        covariance_type=model.covariance_type,
    )


def _user_init(model, data: Data):
    """``weights_init``, ``means_init`` and ``precisions_init`` checked and
    mapped into internal units (None where not given)."""
    K, D = model.n_components, data.n_features
    shift = data.backend.to_numpy(data.shift)
    weights = means = covs = None
    # the errors say what scikit-learn's say (its tests match them), after
    # the name of the parameter here
    if model.weights_init is not None:
        weights = _as_array("weights_init", model.weights_init, (K,), "weights")
        if np.any(weights < 0) or np.any(weights > 1):
            raise _init_error("weights_init", "The parameter 'weights' should be in the "
                              f"range [0, 1], but got min value {weights.min():.5f}, "
                              f"max value {weights.max():.5f}.")
        if abs(weights.sum() - 1.0) > 1e-6:
            raise _init_error("weights_init", "The parameter 'weights' should be normalized, "
                              f"but got sum(weights) = {weights.sum():.5f}.")
    if model.means_init is not None:
        means = (_as_array("means_init", model.means_init, (K, D), "means") - shift
                 ) / data.scale
    if model.precisions_init is not None:
        kind = model.covariance_type
        cov = covariance_type(kind)
        prec = cov.stored(_as_array("precisions_init", model.precisions_init,
                                    cov.shape(K, D), f"{kind} precision"))
        if prec.ndim < 3:  # diagonal and spherical: precisions are 1 / variances
            if np.any(prec <= 0):
                raise _init_error("precisions_init", f"'{kind} precision' should be positive.")
            return weights, means, 1.0 / prec / data.scale**2
        not_pd = _init_error("precisions_init",
                             f"'{kind} precision' should be symmetric, positive-definite.")
        if not np.allclose(prec, np.swapaxes(prec, -1, -2)):
            raise not_pd
        try:
            chol = np.linalg.cholesky(prec)
        except np.linalg.LinAlgError:
            raise not_pd from None
        inv_chol = np.linalg.solve(chol, np.broadcast_to(np.eye(D), prec.shape))
        covs = np.swapaxes(inv_chol, -1, -2) @ inv_chol / data.scale**2
    return weights, means, covs


def _iteration_callback(model, init: int):
    """What runs after each history record is made (every phase's): ``callback`` and the
    ``verbose=2`` line."""
    if model.verbose < 2 and model.callback is None:
        return None

    def report(rec: dict) -> None:
        if model.verbose >= 2 and rec["iteration"] % model.verbose_interval == 0:
            ll = rec["log_likelihood"]
            print(f"init {init} iter {rec['iteration']:5d} {rec['kind']:8s} m={rec['m']:4d} "
                  + ("" if ll is None else f"LL={ll:.6f}"))
        if model.callback is not None:
            model.callback(dict(rec, init=init))
    return report


class _Checkpointer:
    """Saves and resumes a fit when the estimator has a ``checkpoint`` path."""

    def __init__(self, fit: Fit) -> None:
        model, X, rng = fit.model, fit.X, fit.rng
        self.path = model.checkpoint
        self.backend = fit.data.backend
        self.interval = float(model.checkpoint_interval)
        self.rng = rng
        self.last = time.monotonic()
        if self.path is not None:
            folder = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(folder):
                # found now, not at the first save minutes into the fit
                raise ValueError(f"The parameter 'checkpoint' names a file in {folder}, "
                                 "which does not exist; create the folder first.")
            params = model.get_params(deep=False)
            # where a fit runs does not change what it computes: a checkpoint
            # written on a GPU resumes on the host and the other way round
            for name in ("verbose", "verbose_interval", "checkpoint", "checkpoint_interval",
                         "callback", "keep_best_on_interrupt", "device", "device_budget"):
                params.pop(name)
            for name in ("weights_init", "means_init", "precisions_init"):
                if params[name] is not None:
                    params[name] = to_host(params[name]).astype(float).tolist()
            if not isinstance(params["random_state"], (int, np.integer, type(None))):
                # a generator's own state is saved; its identity cannot be compared
                params["random_state"] = "generator"
            self.key = fingerprint(X, params, fit.weights)

    def resume(self) -> tuple[State | None, int, State | None]:
        """The best finished state, the initialisation to continue and its state."""
        if self.path is None or not os.path.exists(self.path):
            return None, 0, None
        state, rng_state, init, best = checkpoints.load(self.path, self.key,
                                                        self.backend.asarray)
        self.rng.bit_generator.state = rng_state
        return best, init, state

    def after_iteration(self, init: int, best: State | None):
        if self.path is None:
            return None

        def save(state: State) -> None:
            now = time.monotonic()
            if state.phase == "done" or now - self.last >= self.interval:
                checkpoints.save(self.path, state, self.rng, init, best, self.key,
                                 self.backend.to_numpy)
                self.last = now
        return save


def _generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    return np.random.default_rng(random_state)


def _init_error(name: str, what: str) -> ValueError:
    return ValueError(f"Invalid {name!r}. {what}")


def _as_array(name: str, value, shape: tuple[int, ...], sklearn_name: str) -> np.ndarray:
    """``value`` as a finite float64 host array of ``shape``; ``sklearn_name``
    is what scikit-learn's shape error calls it ("weights", "full precision")."""
    try:
        arr = to_host(value)  # NumPy, lists, torch tensors on any device, array API arrays
    except (TypeError, ValueError, BufferError, RuntimeError):
        # ragged nested sequences; arrays no DLPack exchange brings to the host
        arr = None
    # dtype kinds: bool, signed, unsigned, float (complex would lose its imaginary part)
    if arr is None or arr.dtype.kind not in "biuf":
        raise TypeError(f"The parameter {name!r} must be a real array of shape {shape}.")
    arr = arr.astype(float)
    if arr.shape != shape:
        raise _init_error(name, f"The parameter '{sklearn_name}' should have the shape of "
                                f"{shape}, but got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise _init_error(name, f"The parameter {name!r} must be finite.")
    return arr


def fingerprint(X, settings: dict, weights=None) -> str:
    """SHA-256 of the data (shape, dtype, bytes), of their ``weights`` when
    given, and of the JSON of ``settings``.

    X is a NumPy array or a torch tensor; a tensor's rows are read in blocks
    of 16 MiB, so that the same data give the same key on every device. A
    dask array's key is that of its blocks (a fit resumes on the same
    chunking).
    """
    h = hashlib.sha256()
    _hash_rows(h, X)
    if weights is not None:  # (unweighted keys are those of earlier releases)
        h.update(b"weights")
        _hash_rows(h, weights if is_dask_array(weights) else np.asarray(weights)[:, None])
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _hash_rows(h, X) -> None:
    """Feed the shape, dtype and bytes of X (N, D) to the hash ``h``."""
    if is_dask_array(X):  # each block hashed on its worker, in order
        h.update(repr((tuple(X.shape), np.dtype(X.dtype).str, X.chunks[0])).encode())
        h.update(digest(X))
    else:
        tensor = not isinstance(X, np.ndarray)
        dtype = np.dtype(str(X.dtype).rsplit(".", 1)[-1]) if tensor else X.dtype
        h.update(repr((tuple(X.shape), dtype.str)).encode())
        step = max(1, (1 << 24) // max(1, dtype.itemsize * X.shape[1]))
        for s in range(0, X.shape[0], step):
            block = X[s : s + step]
            h.update(np.ascontiguousarray(block.cpu().numpy() if tensor else block).tobytes())
