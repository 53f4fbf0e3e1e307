"""``BigLearnGaussianMixture``: a scikit-learn estimator fitted by BigLearn-EM."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _blas, _checkpoint, _em
from ._em import Data, Params, Settings
from ._gaussian import Whitener, log_normalize, precision_cholesky, weighted_log_prob_t
from ._init import METHODS, initial_params
from ._validation import (
    ArrayLike,
    Boolean,
    CallableKind,
    Integer,
    NoneValue,
    Options,
    PathLike,
    PositivePair,
    Probabilities,
    RandomState,
    Real,
    validate_params,
)

#: Default eigenvalue floor relative to the mean per-feature variance of X.
AUTO_FLOOR = 1e-4


class BigLearnGaussianMixture(DensityMixin, ClusterMixin, BaseEstimator):
    """Full-covariance Gaussian mixture fitted by BigLearn-EM.

    Each outer iteration draws a view of the data (the joint, a marginal on a
    random subset of coordinates, or a marginal on a random subset of a
    randomly rotated basis) and runs ``n_inner`` EM steps on it, writing the
    view's update back into the full parameters. The fit keeps the parameters
    with the best training log-likelihood seen on a joint view and finishes
    with plain EM from them (Cong & Li, "Big Learning Expectation
    Maximization", AAAI 2024).

    Plain EM, exactly as :class:`sklearn.mixture.GaussianMixture` runs it, is
    ``view_probs=(1, 0, 0), weight_smoothing=0, n_inner=1`` (with
    ``eig_floor=0`` and scikit-learn's ``reg_covar=1e-6`` for identical
    numbers): only joint views, stopping when the log-likelihood changes by
    less than ``tol``, no snapshot and no polish.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {"full"}, default="full"
        Only full covariances are implemented.
    max_iter : int, default=1000
        Outer iterations (EM iterations in plain-EM mode); also the cap of the
        final polish.
    n_inner : int, default=5
        EM steps on each drawn view (paper: 5).
    view_probs : tuple of 3 floats, default=(0.1, 0.1, 0.8)
        Probabilities of the joint, marginal and rotated-marginal views (the
        paper's are (0.4, 0.1, 0.5); the default is tuned on the hard-mixture
        suite, see docs/hard_mixtures.md).
    subset_beta : tuple of 2 floats, default=(5.0, 1.0)
        A marginal view keeps ``floor(D * Beta(a, b))`` dimensions.
    weight_smoothing : "auto" or float >= 0, default="auto"
        ``a`` in ``pi = (pi_hat + a) / sum(pi_hat + a)``; "auto" is 1/K.
    eig_floor : "auto" or float >= 0, default="auto"
        Eigenvalue floor of every covariance. A float is absolute (in units of
        X squared); "auto" is ``1e-4`` times the mean per-feature variance of
        X, so that ``fit(c * X)`` behaves as ``fit(X)``.
    reg_covar : float >= 0, default=0.0
        Added to the diagonal of every M-step covariance, as in scikit-learn.
    update : {"block", "conditional"}, default="conditional"
        How a view's update is written back: the paper's block rule, or the
        rule that keeps the conditional law of x given the view fixed.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
    weights_init : array-like of shape (K,), default=None
    means_init : array-like of shape (K, D), default=None
    precisions_init : array-like of shape (K, D, D), default=None
        User-provided initial parameters (precisions are inverse covariances).
    tol : float >= 0 (inf allowed), default=1e-3
        Convergence threshold on the mean log-likelihood of plain EM and of
        the polish; also the improvement that resets ``patience``.
    patience : int >= 1 or None, default=100
        Stop when the best joint log-likelihood has not improved by ``tol``
        for this many outer iterations (None: run ``max_iter``).
    n_init : int >= 1, default=1
        Number of initialisations; the best final training likelihood wins.
    random_state : None, int in [0, 2**32), RandomState or Generator, default=None
    warm_start : bool, default=False
        Start from the previous fit (and ignore ``n_init``).
    verbose : int >= 0 or bool, default=0
        1 (or True) prints a line per initialisation, 2 a line per outer iteration.
    chunk_size : int or None, default=None
        Rows per chunk of the data passes (None: about 8 MiB of rows).
    checkpoint : path or None, default=None
        File where the fit's state is saved (atomically) every
        ``checkpoint_interval`` seconds and at its end. If the file exists when
        ``fit`` starts, the fit resumes from it and ends with exactly the model
        an uninterrupted fit would give; a file written for other data or
        settings is refused with a ``ValueError``.
    checkpoint_interval : float >= 0, default=60.0
        Seconds between checkpoints (0: after every outer iteration).
    callback : callable or None, default=None
        Called after every outer and polish iteration with that iteration's
        ``history_`` record plus ``init`` (e.g. to draw a progress bar).
    keep_best_on_interrupt : bool, default=False
        On KeyboardInterrupt during ``fit``, keep the best model found so far
        (with ``converged_ = False`` and a warning) instead of re-raising. By
        default the interrupt propagates and the estimator is left unchanged.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    means_ : ndarray of shape (K, D)
    covariances_ : ndarray of shape (K, D, D)
    precisions_ : ndarray of shape (K, D, D)
    precisions_cholesky_ : ndarray of shape (K, D, D)
    converged_ : bool
    n_iter_ : int
        Outer iterations plus polish iterations of the best initialisation.
    lower_bound_ : float
        Mean training log-likelihood of the last E-step of the best fit.
    lower_bounds_ : list of float
        Every joint mean log-likelihood computed during the best fit.
    history_ : list of dict
        One record per outer or polish iteration: ``iteration``, ``kind``
        ("joint", "marginal", "rotated" or "polish"), ``m`` (view size, 0 =
        skipped), ``log_likelihood`` (joint mean LL, None when not known) and
        ``repaired`` (components whose covariance had to be repaired).
    labels_ : ndarray of shape (N,)
        Components of the training samples.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    _param_spec = {
        "n_components": (Integer(1),),
        "covariance_type": (Options(("full",), note="only 'full' is implemented"),),
        "max_iter": (Integer(0),),
        "n_inner": (Integer(1),),
        "view_probs": (Probabilities(3),),
        "subset_beta": (PositivePair(),),
        "weight_smoothing": (Options(("auto",)), Real(0.0)),
        "eig_floor": (Options(("auto",)), Real(0.0)),
        "reg_covar": (Real(0.0),),
        "update": (Options(("block", "conditional")),),
        "init_params": (Options(METHODS),),
        "weights_init": (NoneValue(), ArrayLike()),
        "means_init": (NoneValue(), ArrayLike()),
        "precisions_init": (NoneValue(), ArrayLike()),
        # inf is a valid tolerance: stop after one iteration (as in scikit-learn)
        "tol": (Real(0.0, finite=False),),
        "patience": (NoneValue(), Integer(1)),
        "n_init": (Integer(1),),
        "random_state": (RandomState(),),
        "warm_start": (Boolean(),),
        "verbose": (Boolean(), Integer(0)),
        "chunk_size": (NoneValue(), Integer(1)),
        "checkpoint": (NoneValue(), PathLike()),
        "checkpoint_interval": (Real(0.0),),
        "callback": (NoneValue(), CallableKind()),
        "keep_best_on_interrupt": (Boolean(),),
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        max_iter: int = 1000,
        n_inner: int = 5,
        view_probs: tuple[float, float, float] = (0.1, 0.1, 0.8),
        subset_beta: tuple[float, float] = (5.0, 1.0),
        weight_smoothing: str | float = "auto",
        eig_floor: str | float = "auto",
        reg_covar: float = 0.0,
        update: str = "conditional",
        init_params: str = "kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        tol: float = 1e-3,
        patience: int | None = 100,
        n_init: int = 1,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        chunk_size: int | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_interval: float = 60.0,
        callback: Callable[[dict], None] | None = None,
        keep_best_on_interrupt: bool = False,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.n_inner = n_inner
        self.view_probs = view_probs
        self.subset_beta = subset_beta
        self.weight_smoothing = weight_smoothing
        self.eig_floor = eig_floor
        self.reg_covar = reg_covar
        self.update = update
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.tol = tol
        self.patience = patience
        self.n_init = n_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.callback = callback
        self.keep_best_on_interrupt = keep_best_on_interrupt

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None) -> BigLearnGaussianMixture:
        """Fit the mixture to X (n_samples, n_features); returns self."""
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit the mixture to X and return the component of every sample, shape (N,)."""
        before = dict(self.__dict__)
        X, data, settings, rng = self._prepare(X)
        warm = self.warm_start and hasattr(self, "converged_")
        ckpt = _Checkpointer(self, X, rng)
        best, first_init, state = ckpt.resume()
        try:
            with _blas.one_blas_pool():
                for init in range(first_init, 1 if warm else self.n_init):
                    if state is None:
                        state = self._initial_state(data, settings, rng, warm)
                    res = _em.run(data, state, settings, rng, self._iteration_callback(init),
                                  ckpt.after_iteration(init, best))
                    if self.verbose:
                        print(f"Initialization {init}: log-likelihood {res.lower_bound:.6g}, "
                              f"{res.n_iter} iterations, converged={res.converged}")
                    if best is None or res.lower_bound > best.lower_bound:
                        best = state
                    state = None
        except KeyboardInterrupt:
            # an interrupted fit leaves the estimator as it was (validation set
            # n_features_in_ already), unless asked to keep the best model
            if not self.keep_best_on_interrupt or (best is None and state is None):
                self.__dict__.clear()
                self.__dict__.update(before)
                raise
            best = _best_so_far(best, state)
            warnings.warn("fit interrupted: keeping the best model found so far",
                          ConvergenceWarning, stacklevel=2)
        best = best.result()
        assert best is not None
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "The best initialization did not converge: increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._set_params_from(best.params, data, X.dtype)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = [float(v) for v in best.lower_bounds]
        self.history_ = best.history
        self.labels_ = self.predict(X)
        return self.labels_

    def _prepare(self, X) -> tuple[np.ndarray, Data, Settings, np.random.Generator]:
        """Validated parameters and X, the data in internal units, the engine's
        settings and the random generator of a fit."""
        validate_params(type(self).__name__, self.get_params(deep=False), self._param_spec)
        X = self._check_X(X, reset=True)
        N, D = X.shape
        K = self.n_components
        if N < K:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {K}, n_samples = {N}"
            )
        if self.warm_start and hasattr(self, "converged_") and self.means_.shape != (K, D):
            raise ValueError(
                "warm_start=True needs the previous fit's shape: n_components = "
                f"{self.means_.shape[0]} and n_features = {self.means_.shape[1]}; got "
                f"n_components = {K} and n_features = {D}."
            )
        data = Data.from_array(X, self.chunk_size)
        return X, data, self._settings(data), _generator(self.random_state)

    def _initial_state(self, data: Data, settings: Settings, rng: np.random.Generator,
                       warm: bool) -> _em.State:
        """The engine's state at the start of one initialisation."""
        if warm:
            start = Params(self.weights_.astype(float), (self.means_ - data.shift) / data.scale,
                           self.covariances_.astype(float) / data.scale**2)
            return _em.State.start(start, settings, self.lower_bound_)
        start = initial_params(data, self.n_components, self.init_params, rng,
                               settings.reg_covar, settings.eig_floor,
                               *self._user_init(data, data.n_features))
        return _em.State.start(start, settings)

    def _check_X(self, X, reset: bool) -> np.ndarray:
        """X as a finite 2-D float64 or float32 array; sets or checks ``n_features_in_``."""
        # "numeric" rejects string arrays with a clear message (a float dtype would
        # parse "1.5"); other numbers (int, bool, float16) are then cast to float64
        X = validate_data(self, X, dtype="numeric", reset=reset,
                          ensure_min_samples=2 if reset else 1)
        return X if X.dtype in (np.float64, np.float32) else X.astype(np.float64)

    def _settings(self, data: Data) -> Settings:
        K = self.n_components
        a = 1.0 / K if self.weight_smoothing == "auto" else float(self.weight_smoothing)
        floor = AUTO_FLOOR if self.eig_floor == "auto" else float(self.eig_floor) / data.scale**2
        probs = np.asarray(self.view_probs, dtype=float)
        return Settings(
            view_probs=tuple(probs / probs.sum()),
            subset_beta=tuple(float(b) for b in self.subset_beta),
            n_inner=self.n_inner,
            smoothing=a,
            eig_floor=floor,
            reg_covar=float(self.reg_covar) / data.scale**2,
            update=self.update,
            max_iter=self.max_iter,
            tol=float(self.tol),
            patience=self.patience,
            verbose=self.verbose,
        )

    def _user_init(self, data: Data, D: int):
        """``weights_init``, ``means_init`` and ``precisions_init`` checked and
        mapped into internal units (None where not given)."""
        K = self.n_components
        weights = means = covs = None
        if self.weights_init is not None:
            weights = _as_array("weights_init", self.weights_init, (K,))
            if np.any(weights < 0):
                raise ValueError(
                    f"The parameter 'weights_init' must be non-negative; got {weights}."
                )
            if abs(weights.sum() - 1.0) > 1e-6:
                raise ValueError(
                    f"The parameter 'weights_init' must sum to 1; got sum {weights.sum():.6g}."
                )
        if self.means_init is not None:
            means = (_as_array("means_init", self.means_init, (K, D)) - data.shift) / data.scale
        if self.precisions_init is not None:
            prec = _as_array("precisions_init", self.precisions_init, (K, D, D))
            if not np.allclose(prec, np.swapaxes(prec, -1, -2)):
                raise ValueError("The parameter 'precisions_init' must hold symmetric matrices.")
            try:
                chol = np.linalg.cholesky(prec)
            except np.linalg.LinAlgError:
                raise ValueError(
                    "The parameter 'precisions_init' must hold positive definite matrices."
                ) from None
            inv_chol = np.linalg.solve(chol, np.broadcast_to(np.eye(D), prec.shape))
            covs = np.swapaxes(inv_chol, -1, -2) @ inv_chol / data.scale**2
        return weights, means, covs

    def _iteration_callback(self, init: int):
        """What runs after each outer or polish iteration: ``callback`` and the
        ``verbose=2`` line."""
        if self.verbose < 2 and self.callback is None:
            return None

        def report(rec: dict) -> None:
            if self.verbose >= 2:
                ll = rec["log_likelihood"]
                print(f"init {init} iter {rec['iteration']:5d} {rec['kind']:8s} m={rec['m']:4d} "
                      + ("" if ll is None else f"LL={ll:.6f}"))
            if self.callback is not None:
                self.callback(dict(rec, init=init))
        return report

    def _set_params_from(self, params: Params, data: Data, dtype) -> None:
        means = params.means * data.scale + data.shift
        covs = params.covs * data.scale**2
        covs = 0.5 * (covs + np.swapaxes(covs, -1, -2))
        prec_chol = precision_cholesky(covs)
        # C-ordered copies: predictions then do not depend on how an array was
        # laid out in memory (a transposed factor rounds differently in BLAS)
        self.weights_ = np.ascontiguousarray(params.weights, dtype=dtype)
        self.means_ = np.ascontiguousarray(means, dtype=dtype)
        self.covariances_ = np.ascontiguousarray(covs, dtype=dtype)
        self.precisions_cholesky_ = np.ascontiguousarray(prec_chol, dtype=dtype)
        self.precisions_ = np.ascontiguousarray(prec_chol @ np.swapaxes(prec_chol, -1, -2),
                                                dtype=dtype)

    # ------------------------------------------------------------- inference
    def _log_prob_chunks(self, X) -> Iterator[np.ndarray]:
        """Weighted log-densities of X, chunk by chunk, each (K, n)."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        wh = Whitener(self.weights_.astype(float), self.means_.astype(float),
                      self.precisions_cholesky_.astype(float))
        step = self.chunk_size or _em.default_chunk_size(X.shape[1])
        for s in range(0, X.shape[0], step):
            yield weighted_log_prob_t(np.asarray(X[s : s + step], dtype=float), wh)

    def score_samples(self, X) -> np.ndarray:
        """Log-density of each sample, shape (N,)."""
        out = np.concatenate([log_normalize(lp) for lp in self._log_prob_chunks(X)])
        return out.astype(self._out_dtype())

    def score(self, X, y=None) -> float:
        """Mean log-density of the samples."""
        return float(self.score_samples(X).mean())

    def predict(self, X) -> np.ndarray:
        """Most probable component of each sample, shape (N,)."""
        return np.concatenate([lp.argmax(axis=0) for lp in self._log_prob_chunks(X)])

    def predict_proba(self, X) -> np.ndarray:
        """Posterior probability of each component, shape (N, K)."""
        parts = []
        for lp in self._log_prob_chunks(X):
            log_normalize(lp)
            parts.append(np.exp(lp.T))
        return np.concatenate(parts).astype(self._out_dtype())

    def _out_dtype(self):
        return self.means_.dtype

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the fitted mixture: X (n_samples, D), labels (n_samples,)."""
        check_is_fitted(self)
        if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool):
            raise TypeError(f"The parameter 'n_samples' must be an int >= 1; got {n_samples!r}.")
        if n_samples < 1:
            raise ValueError(f"The parameter 'n_samples' must be an int >= 1; got {n_samples!r}.")
        # a Generator cannot seed a RandomState; both offer multinomial and multivariate_normal
        rs = self.random_state
        rng = rs if isinstance(rs, np.random.Generator) else check_random_state(rs)
        counts = rng.multinomial(n_samples, self.weights_.astype(float) / self.weights_.sum())
        X = np.vstack([
            rng.multivariate_normal(mean, cov, int(c))
            for mean, cov, c in zip(self.means_, self.covariances_, counts, strict=True)
        ])
        y = np.concatenate([np.full(c, k, dtype=int) for k, c in enumerate(counts)])
        return X.astype(self.means_.dtype), y

    def _n_parameters(self) -> int:
        K, D = self.means_.shape
        return K * D * (D + 1) // 2 + K * D + K - 1

    def bic(self, X) -> float:
        """Bayesian information criterion of the model on X (lower is better)."""
        n = np.asarray(X).shape[0]
        return -2.0 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X) -> float:
        """Akaike information criterion of the model on X (lower is better)."""
        return -2.0 * self.score(X) * np.asarray(X).shape[0] + 2.0 * self._n_parameters()

    # ------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the fitted model to ``path`` as an ``.npz`` archive with JSON
        metadata (no pickle); :func:`biglearn_em.load` reads it back."""
        from .persist import save  # persist imports this module

        save(self, path)


def _generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    return np.random.default_rng(random_state)


def _as_array(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):  # e.g. ragged nested sequences
        arr = None
    # dtype kinds: bool, signed, unsigned, float (complex would lose its imaginary part)
    if arr is None or arr.dtype.kind not in "biuf":
        raise TypeError(f"The parameter {name!r} must be a real array of shape {shape}.")
    arr = arr.astype(float)
    if arr.shape != shape:
        raise ValueError(f"The parameter {name!r} must have shape {shape}; got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The parameter {name!r} must be finite.")
    return arr


class _Checkpointer:
    """Saves and resumes a fit when the estimator has a ``checkpoint`` path."""

    def __init__(self, model: BigLearnGaussianMixture, X: np.ndarray,
                 rng: np.random.Generator) -> None:
        self.path = model.checkpoint
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
            for name in ("verbose", "checkpoint", "checkpoint_interval", "callback",
                         "keep_best_on_interrupt"):
                params.pop(name)
            for name in ("weights_init", "means_init", "precisions_init"):
                if params[name] is not None:
                    params[name] = np.asarray(params[name], dtype=float).tolist()
            if not isinstance(params["random_state"], (int, np.integer, type(None))):
                # a generator's own state is saved; its identity cannot be compared
                params["random_state"] = "generator"
            self.key = _checkpoint.fingerprint(X, params)

    def resume(self) -> tuple[_em.State | None, int, _em.State | None]:
        """The best finished state, the initialisation to continue and its state."""
        if self.path is None or not os.path.exists(self.path):
            return None, 0, None
        state, rng_state, init, best = _checkpoint.load(self.path, self.key)
        self.rng.bit_generator.state = rng_state
        return best, init, state

    def after_iteration(self, init: int, best: _em.State | None):
        if self.path is None:
            return None

        def save(state: _em.State) -> None:
            now = time.monotonic()
            if state.phase == "done" or now - self.last >= self.interval:
                _checkpoint.save(self.path, state, self.rng, init, best, self.key)
                self.last = now
        return save


def _best_so_far(finished: _em.State | None, running: _em.State | None) -> _em.State:
    """The better of the best finished initialisation and the best parameters
    the running one has seen (its snapshot during the views phase, otherwise
    its current parameters), as a stopped state."""
    if running is not None:
        params, ll = running.params, running.lower_bound
        if running.phase == "views" and running.best is not None:
            params, ll = running.best, running.best_ll
        running = replace(running, params=params, lower_bound=ll, best=None, phase="done",
                          converged=False)
    candidates = [s for s in (finished, running) if s is not None]
    return max(candidates, key=lambda s: s.lower_bound)
