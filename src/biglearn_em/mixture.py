"""``BigLearnGaussianMixture``: a scikit-learn estimator fitted by BigLearn-EM."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _blas, _checkpoint, _em, persist
from ._arrays import Returns, dispatching, is_foreign_array, namespace_name, to_host
from ._backend import DTYPES, Backend, is_torch_tensor
from ._covariance import NAMES as COVARIANCE_TYPES
from ._covariance import covariance_type as _covariance_type
from ._dask import check_dask_array, check_finite, is_dask_array, is_dask_collection
from ._data import Data, Params, Settings
from ._gaussian import precision_cholesky
from ._init import METHODS, initial_params, sample_rows
from ._select import select_backend
from ._validation import (
    ArrayLike,
    Boolean,
    CallableKind,
    Device,
    Integer,
    NoneValue,
    Options,
    PathLike,
    PositivePair,
    Probabilities,
    RandomState,
    Real,
    check_sizes,
    validate_params,
)

#: Default eigenvalue floor relative to the mean per-feature variance of X.
AUTO_FLOOR = 1e-4


class BigLearnGaussianMixture(DensityMixin, ClusterMixin, BaseEstimator):
    """Gaussian mixture fitted by BigLearn-EM.

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
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        As in scikit-learn: each component has its own full covariance
        matrix ("full"), all share one ("tied"), each has a diagonal one
        ("diag") or a single variance ("spherical"). The views keep the
        structure, except a rotated view of diagonal covariances, whose
        M-step is full in the view and is written back as the closest
        diagonal matrices in Kullback-Leibler divergence (their diagonals);
        see ``docs/design.md``.
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
    precisions_init : array-like, default=None
        User-provided initial parameters (precisions are inverse covariances),
        of the shape of ``precisions_``: (K, D, D) "full", (D, D) "tied",
        (K, D) "diag", (K,) "spherical".
    tol : float >= 0 (inf allowed), default=1e-3
        Convergence threshold on the mean log-likelihood of plain EM and of
        the polish; also the improvement that resets ``patience``.
    patience : int >= 1 or None, default=50
        Stop when the best joint log-likelihood has not improved by ``tol``
        for this many outer iterations (None: run ``max_iter``).
    n_init : int >= 1, default=1
        Number of initialisations; the best final training likelihood wins.
    random_state : None, int in [0, 2**32), RandomState or Generator, default=None
    warm_start : bool, default=False
        Start from the previous fit (and ignore ``n_init``): plain EM continues
        its iterations; BigLearn-EM continues with the views and the polish,
        without restarts or moves.
    verbose : int >= 0 or bool, default=0
        1 (or True) prints a line per initialisation, 2 also a line every
        ``verbose_interval`` iterations of each phase.
    verbose_interval : int >= 1, default=10
        Iterations between the lines of ``verbose=2`` (scikit-learn's meaning).
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
    restarts : int >= 0, default=20
        Short EM runs from new k-means++ starts that the fit tries besides its
        own start (``init_params`` or the ``*_init`` arrays, always the first
        run) before the views; the best run is refined with plain EM to
        convergence and the views start from it. 0: the views start from the
        fit's own start, as in the paper. Plain EM (``view_probs=(1, 0, 0)``)
        never restarts.
    restart_iter : int >= 1, default=30
        At most this many EM iterations in each short run (a run stops sooner
        when its log-likelihood changes by less than ``tol``).
    smoothing_fade : int >= 1 or None, default=None
        Outer iterations of the views over which ``weight_smoothing`` fades
        linearly to 0 (None: it stays constant, as in the paper).
    moves : int >= 0, default=5
        Split-and-merge proposals tried per round after the refinement: merge
        the two components whose posteriors overlap most, split a heavy, long
        one, run plain EM and keep the result if the likelihood rises; rounds
        continue while a proposal is kept. 0: none.
    search_rows : "auto", int >= 1 or None, default="auto"
        Rows on which the restarts, moves and views run: a random subsample of
        this size (drawn once per initialisation), the refinement and the
        polish running on all rows. "auto": max(20,000, 50 K D) rows (all rows
        when X has no more).
        None: always all rows. For a dask array the search rows are
        gathered into this process (unless None: then the search runs on
        the workers).
    max_time : float > 0 or None, default=None
        Seconds after which the fit stops with the best parameters it has found
        (unconverged, with a warning). A fit that stops on time depends on the
        machine's speed, so the same seed may then give another result.
    device : None, "auto", "cpu", "cuda", "cuda:N" or torch.device, default=None
        Where the fit and the predictions run. None: where the data live
        (NumPy arrays on the host with NumPy/SciPy, a torch tensor on its own
        device with PyTorch). "cpu": the host. "cuda", "cuda:N" or a
        ``torch.device``: the whole fit on that device with PyTorch
        (``pip install torch``), NumPy data in and NumPy
        fitted arrays out. "auto": a CUDA device when PyTorch sees one and
        the problem is large enough for it to pay, else as None. A dask
        array (``pip install "dask[array]" distributed``) is fitted by Dask's
        active scheduler, its blocks on the workers with NumPy (device None,
        "cpu" or "auto"); its predictions are lazy dask arrays.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the data chunks and of the products with them.
        "float32" halves the memory of the data on a device and is faster on
        most hardware; parameters and sufficient statistics stay float64.
    device_budget : int or None, default=None
        Bytes of device memory the data may occupy (torch). Larger host data
        stay in host memory and are streamed to the device chunk by chunk,
        with the same result. None: half of the free memory of a CUDA device.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    means_ : ndarray of shape (K, D)
    covariances_ : ndarray
        Shape (K, D, D) for "full", (D, D) "tied", (K, D) "diag" (the
        variances) and (K,) "spherical", as in scikit-learn.
    precisions_ : ndarray
        The inverse covariances, of the same shape.
    precisions_cholesky_ : ndarray
        Upper Cholesky factors of the precisions (the inverse standard
        deviations for "diag" and "spherical"), of the same shape.
    converged_ : bool
    n_iter_ : int
        Iterations of the best initialisation that ``max_iter`` bounds: its
        outer iterations (views), or its EM iterations in plain-EM mode;
        at most ``max_iter``.
    n_em_steps_ : int
        EM steps the best initialisation ran in all its phases (short runs,
        refinement, moves, ``n_inner`` per view, polish): what the fit cost,
        each a pass over its data (the search rows or all rows). The few
        passes that only score a model (its start, its end) are not counted.
    lower_bound_ : float
        Mean training log-likelihood of the best fit: of the parameters it
        returns (scored on all rows after the polish), or in plain-EM mode of
        those before the last M-step, as in scikit-learn.
    lower_bounds_ : list of float
        The joint mean log-likelihoods the best fit computed, in order: the
        end of each restart and each kept move, every joint view, every
        refinement and polish step. Restarts, moves and views of large data
        run on a subsample (``search_rows``), and so are scored there.
    history_ : list of dict
        One record per short run, refinement step, move, outer iteration and
        polish step (one "exact" record for K = 1): ``iteration``, ``kind``
        ("restart", "refine", "move", "joint", "marginal", "rotated", "polish"
        or "exact"), ``m`` (view size, 0 =
        skipped), ``log_likelihood`` (joint mean LL, None when not known) and
        ``repaired`` (components whose covariance had to be repaired); a move
        also has ``move`` (the pair merged and the component split) and
        ``accepted``.
    labels_ : ndarray of shape (N,)
        Components of the training samples.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    _param_spec = {
        "n_components": (Integer(1),),
        "covariance_type": (Options(COVARIANCE_TYPES),),
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
        "verbose_interval": (Integer(1),),
        "chunk_size": (NoneValue(), Integer(1)),
        "checkpoint": (NoneValue(), PathLike()),
        "checkpoint_interval": (Real(0.0),),
        "callback": (NoneValue(), CallableKind()),
        "keep_best_on_interrupt": (Boolean(),),
        "restarts": (Integer(0),),
        "restart_iter": (Integer(1),),
        "smoothing_fade": (NoneValue(), Integer(1)),
        "moves": (Integer(0),),
        "search_rows": (Options(("auto",)), NoneValue(), Integer(1)),
        "max_time": (NoneValue(), Real(0.0, strict=True)),
        "device": (NoneValue(), Device()),
        "dtype": (Options(DTYPES),),
        "device_budget": (NoneValue(), Integer(1)),
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
        patience: int | None = 50,
        n_init: int = 1,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        chunk_size: int | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_interval: float = 60.0,
        callback: Callable[[dict], None] | None = None,
        keep_best_on_interrupt: bool = False,
        restarts: int = 20,
        restart_iter: int = 30,
        smoothing_fade: int | None = None,
        moves: int = 5,
        search_rows: str | int | None = "auto",
        max_time: float | None = None,
        device=None,
        dtype: str = "float64",
        device_budget: int | None = None,
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
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.callback = callback
        self.keep_best_on_interrupt = keep_best_on_interrupt
        self.restarts = restarts
        self.restart_iter = restart_iter
        self.smoothing_fade = smoothing_fade
        self.moves = moves
        self.search_rows = search_rows
        self.max_time = max_time
        self.device = device
        self.dtype = dtype
        self.device_budget = device_budget

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # torch tensors are fitted where they live; other array API arrays on
        # the host; under array_api_dispatch results come back in their namespace
        tags.array_api_support = True
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None) -> BigLearnGaussianMixture:
        """Fit the mixture to X (n_samples, n_features); returns self."""
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit the mixture to X and return the component of every sample, shape (N,)."""
        before = dict(self.__dict__)
        returns = Returns.like(X)
        started = time.monotonic()
        X, data, settings, rng = self._prepare(X)  # validates max_time with the rest
        deadline = None if self.max_time is None else started + self.max_time
        warm = self.warm_start and hasattr(self, "converged_")
        ckpt = _Checkpointer(self, X, rng, data.backend)
        best, first_init, state = ckpt.resume()
        try:
            with _blas.one_blas_pool():
                for init in range(first_init, 1 if warm else self.n_init):
                    if state is None:
                        seed = self._search_seed(data, settings, rng)
                        search = self._search(data, settings, seed)
                        state = self._initial_state(search.data, settings, rng, warm)
                        state.search_seed = seed
                    else:  # resumed: the same subsample as before the interruption
                        search = self._search(data, settings, state.search_seed)
                    res = _em.run(data, state, settings, rng, self._iteration_callback(init),
                                  ckpt.after_iteration(init, best), search, deadline)
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
            best = _best_so_far(best, state, data, settings)
            warnings.warn("fit interrupted: keeping the best model found so far",
                          ConvergenceWarning, stacklevel=2)
        best = best.result()
        assert best is not None
        if deadline is not None and time.monotonic() >= deadline:
            warnings.warn(f"max_time ({self.max_time:g} s) reached: keeping the best model "
                          "found so far", ConvergenceWarning, stacklevel=2)
        elif not best.converged and self.max_iter > 0:
            # scikit-learn's words (its tests and users' filters match them)
            warnings.warn("Best performing initialization did not converge. Try different "
                          "init parameters, or increase max_iter, tol, or check for "
                          "degenerate data.", ConvergenceWarning, stacklevel=2)
        self._set_params_from(best.params, data, _numpy_dtype(X), returns)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.n_em_steps_ = best.n_steps
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = [float(v) for v in best.lower_bounds]
        self.history_ = best.history
        self.labels_ = self._predict(X, returns)
        return self.labels_

    def _prepare(self, X) -> tuple[np.ndarray, Data, Settings, np.random.Generator]:
        """Validated parameters and X, the data on their backend in internal
        units, the engine's settings and the random generator of a fit."""
        validate_params(type(self).__name__, self.get_params(deep=False), self._param_spec)
        X = self._validate_X(X, reset=True)
        N, D = X.shape
        K = self.n_components
        if N < K:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {K}, n_samples = {N}"
            )
        if self.warm_start and hasattr(self, "converged_") and (
                self.means_.shape != (K, D) or self._fitted_type() != self.covariance_type):
            raise ValueError(
                "warm_start=True needs the previous fit's shape and covariance type: "
                f"n_components = {self.means_.shape[0]}, n_features = {self.means_.shape[1]} "
                f"and covariance_type = {self._fitted_type()!r}; got n_components = {K}, "
                f"n_features = {D} and covariance_type = {self.covariance_type!r}."
            )
        backend = select_backend(self.device, X, self.dtype, self.device_budget, K)
        data = Data.from_array(X, self.chunk_size, backend, K)
        if not backend.in_process and not np.isfinite(data.shift).all():
            check_finite(data)  # not validated in this process; a NaN or inf spoils the sums
        return X, data, self._settings(data), _generator(self.random_state)

    def _search_rows(self, data: Data, settings: Settings) -> int:
        """Rows of the search data: all rows, or ``search_rows`` of large data."""
        N = data.n_samples
        if settings.plain or self.search_rows is None:
            return N
        if self.search_rows == "auto":
            K, D = self.n_components, data.n_features
            return min(N, sample_rows(K, D))
        return min(N, self.search_rows)

    def _search_seed(self, data: Data, settings: Settings, rng: np.random.Generator
                     ) -> int | None:
        """The seed of one initialisation's subsample (None: all rows, nothing drawn)."""
        if self._search_rows(data, settings) >= data.n_samples:
            return None
        return int(rng.integers(2**63))

    def _search(self, data: Data, settings: Settings, seed: int | None) -> _em.Search:
        """Where the restarts, moves and views run (all rows, or the subsample
        ``seed`` draws; checkpoints keep the seed, so a resumed fit draws the
        same rows) and how a restart begins (k-means++ there)."""
        if seed is None:
            # data on Dask's workers are gathered here when the search runs on all
            # of them (there are at most search_rows; search_rows=None keeps them there)
            gather = (not data.backend.in_process and not settings.plain
                      and self.search_rows is not None)
            search = data.subset(np.arange(data.n_samples)) if gather else data
        else:
            rows = self._search_rows(data, settings)
            index = np.random.default_rng(seed).choice(data.n_samples, rows, replace=False)
            search = data.subset(np.sort(index))

        def starter(r: np.random.Generator) -> Params:
            return initial_params(search, self.n_components, "k-means++", r, settings)
        return _em.Search(search, starter)

    def _initial_state(self, data: Data, settings: Settings, rng: np.random.Generator,
                       warm: bool) -> _em.State:
        """The engine's state at the start of one initialisation (its start
        computed on ``data``: the search data, a subsample of large data)."""
        if warm:
            be = data.backend
            covs = settings.covariance.stored(to_host(self.covariances_))
            start = Params(be.asarray(to_host(self.weights_)),
                           (be.asarray(to_host(self.means_)) - data.shift) / data.scale,
                           be.asarray(covs) / data.scale**2)
            return _em.State.start(start, settings, self.lower_bound_, warm=True)
        start = initial_params(data, self.n_components, self.init_params, rng, settings,
                               *self._user_init(data, data.n_features))
        return _em.State.start(start, settings)

    def _validate_X(self, X, reset: bool):
        """X validated where it lives: a torch tensor on its device, anything
        else as a host NumPy array (see :meth:`_check_X`); sets or checks
        ``n_features_in_``."""
        if is_torch_tensor(X):
            return self._check_tensor(X, reset)
        if is_dask_array(X):
            X = check_dask_array(X, reset)
            self._check_n_features(X.shape[1], reset)
            return X
        if is_dask_collection(X):
            raise TypeError(f"X is a {type(X).__name__}, a Dask collection other than a dask "
                            "array; pass a dask array of known chunk sizes (for a dask "
                            "DataFrame: X.to_dask_array(lengths=True)).")
        if dispatching() and is_foreign_array(X):
            X = to_host(X)
        return self._check_X(X, reset)

    def _check_tensor(self, X, reset: bool):
        """A torch tensor checked on its device (one host synchronisation for
        the finiteness test); integer, boolean and half-precision tensors
        become float64."""
        import torch

        if X.layout != torch.strided:
            raise TypeError("A sparse torch tensor was passed, but dense data is required; "
                            "use X.to_dense().")
        if X.ndim != 2:
            raise ValueError(f"Expected a 2-dimensional tensor (n_samples, n_features); got "
                             f"shape {tuple(X.shape)}.")
        if X.is_complex():
            raise ValueError("Complex data not supported.")
        if X.dtype not in (torch.float32, torch.float64):
            X = X.to(torch.float64)
        check_sizes(tuple(X.shape), reset)
        if not bool(torch.isfinite(X).all()):
            raise ValueError("Input X contains NaN or infinity.")
        self._check_n_features(X.shape[1], reset)
        return X

    def _check_n_features(self, D: int, reset: bool) -> None:
        """Set ``n_features_in_`` (a fit of an array without column names), or
        check D against it (what ``validate_data`` does for NumPy input)."""
        if reset:
            self.n_features_in_ = D
            self.__dict__.pop("feature_names_in_", None)
        elif D != self.n_features_in_:
            raise ValueError(f"X has {D} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")

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
            restarts=self.restarts,
            restart_iter=self.restart_iter,
            fade=self.smoothing_fade,
            moves=self.moves,
            covariance_type=self.covariance_type,
        )

    def _user_init(self, data: Data, D: int):
        """``weights_init``, ``means_init`` and ``precisions_init`` checked and
        mapped into internal units (None where not given)."""
        K = self.n_components
        shift = data.backend.to_numpy(data.shift)
        weights = means = covs = None
        # the errors say what scikit-learn's say (its tests match them), after
        # the name of the parameter here
        if self.weights_init is not None:
            weights = _as_array("weights_init", self.weights_init, (K,), "weights")
            if np.any(weights < 0) or np.any(weights > 1):
                raise _init_error("weights_init", "The parameter 'weights' should be in the "
                                  f"range [0, 1], but got min value {weights.min():.5f}, "
                                  f"max value {weights.max():.5f}.")
            if abs(weights.sum() - 1.0) > 1e-6:
                raise _init_error("weights_init", "The parameter 'weights' should be normalized, "
                                  f"but got sum(weights) = {weights.sum():.5f}.")
        if self.means_init is not None:
            means = (_as_array("means_init", self.means_init, (K, D), "means") - shift
                     ) / data.scale
        if self.precisions_init is not None:
            kind = self.covariance_type
            cov = _covariance_type(kind)
            prec = cov.stored(_as_array("precisions_init", self.precisions_init,
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

    def _iteration_callback(self, init: int):
        """What runs after each outer or polish iteration: ``callback`` and the
        ``verbose=2`` line."""
        if self.verbose < 2 and self.callback is None:
            return None

        def report(rec: dict) -> None:
            if self.verbose >= 2 and rec["iteration"] % self.verbose_interval == 0:
                ll = rec["log_likelihood"]
                print(f"init {init} iter {rec['iteration']:5d} {rec['kind']:8s} m={rec['m']:4d} "
                      + ("" if ll is None else f"LL={ll:.6f}"))
            if self.callback is not None:
                self.callback(dict(rec, init=init))
        return report

    def _set_params_from(self, params: Params, data: Data, dtype, returns: Returns) -> None:
        """Fitted attributes in the units of X and its dtype, as ``returns`` hands them out."""
        be = data.backend
        cov = _covariance_type(self.covariance_type)
        means = be.to_numpy(params.means * data.scale + data.shift)
        covs = be.to_numpy(params.covs) * data.scale**2
        if covs.ndim == 3:
            covs = 0.5 * (covs + np.swapaxes(covs, -1, -2))
        prec_chol = precision_cholesky(covs)
        precisions = prec_chol**2 if covs.ndim < 3 else prec_chol @ np.swapaxes(prec_chol, -1, -2)
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
            setattr(self, name, returns(np.ascontiguousarray(value, dtype=dtype)))
        # what the fitted arrays are, whatever covariance_type is set to later
        self._covariance_type = self.covariance_type

    # ------------------------------------------------------------- inference
    def _inference_input(self, X, method: str):
        """X validated for ``method``, and how its results go back."""
        check_is_fitted(self)
        returns = Returns.like(X)
        if dispatching():
            fitted, given = namespace_name(self.means_), namespace_name(X)
            if fitted != given or (given != "numpy"
                                   and str(self.means_.device) != str(X.device)):
                where = "" if fitted == "numpy" else f" on {self.means_.device}"
                raise ValueError(
                    f"{type(self).__name__}.{method}(): X must use the same namespace and "
                    f"device as the arrays the model was fitted on ({fitted}{where}); got "
                    f"{given}" + ("" if given == "numpy" else f" on {X.device}") + ".")
        return self._validate_X(X, reset=False), returns

    def _inference_backend(self, X) -> Backend:
        return select_backend(self.device, X, self.dtype, self.device_budget,
                              self.n_components)

    def _per_row(self, X, what: str) -> Any:
        """``what`` for every row of validated X, as an array of its backend (a
        lazy dask array for a dask array): "labels" (N,), the most probable
        component; "log_density" (N,); "proba" (N, K), the posteriors."""
        be = self._inference_backend(X)

        def param(a):
            return be.asarray(a if be.name == "torch" and is_torch_tensor(a) else to_host(a))

        cov = _covariance_type(self._fitted_type())
        prec_chol = cov.factors(be, cov.stored(param(self.precisions_cholesky_)),
                                *self.means_.shape)
        wh = be.whitener(param(self.weights_), param(self.means_), prec_chol, inference=True)
        data = Data.unscaled(X, self.chunk_size, be, self.n_components)
        width = self.n_components if what == "proba" else None
        return data.map_rows(_rows_of, (wh, what, not be.in_process), width,
                             np.int64 if what == "labels" else np.float64)

    def score_samples(self, X):
        """Log-density of each sample, shape (N,)."""
        X, returns = self._inference_input(X, "score_samples")
        return returns(self._per_row(X, "log_density"), self._model_dtype())

    def score(self, X, y=None) -> float:
        """Mean log-density of the samples."""
        X, _ = self._inference_input(X, "score")
        out = self._per_row(X, "log_density")
        # the mean of the values score_samples returns (in the model's dtype)
        if is_dask_array(out):
            return float(out.astype(self._model_dtype()).mean().compute())
        return float(to_host(out).astype(self._model_dtype(), copy=False).mean())

    def predict(self, X):
        """Most probable component of each sample, shape (N,)."""
        X, returns = self._inference_input(X, "predict")
        return self._predict(X, returns)

    def _predict(self, X, returns: Returns):
        return returns(self._per_row(X, "labels"))

    def predict_proba(self, X):
        """Posterior probability of each component, shape (N, K)."""
        X, returns = self._inference_input(X, "predict_proba")
        return returns(self._per_row(X, "proba"), self._model_dtype())

    def _model_dtype(self) -> np.dtype:
        """The NumPy dtype of the fitted arrays (those of X at fit time)."""
        return _numpy_dtype(self.means_)

    def sample(self, n_samples: int = 1):
        """Draw samples from the fitted mixture: X (n_samples, D), labels (n_samples,).

        The component counts and the standard normal numbers come from
        ``random_state`` on the host and are transformed by each component's
        Cholesky factor, on the host or on the model's torch device: one
        ``random_state`` gives the same samples on every backend (to
        rounding). Under ``array_api_dispatch`` the results are arrays of the
        fitted arrays' namespace.
        """
        check_is_fitted(self)
        # scikit-learn's words ("Invalid value for 'n_samples'"), then what is expected
        what = f"Invalid value for 'n_samples': {n_samples!r}; it must be an int >= 1."
        if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool):
            raise TypeError(what)
        if n_samples < 1:
            raise ValueError(what)
        returns = Returns.like(self.means_)
        weights, means, covs = (to_host(a).astype(float) for a in
                                (self.weights_, self.means_, self.covariances_))
        cov = _covariance_type(self._fitted_type())
        covs = cov.dense(cov.stored(covs), *means.shape)
        # a Generator cannot seed a RandomState; both offer multinomial and standard_normal
        rs = self.random_state
        rng = rs if isinstance(rs, np.random.Generator) else check_random_state(rs)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        y = np.concatenate([np.full(c, k, dtype=int) for k, c in enumerate(counts)])
        be = self._inference_backend(self.means_)
        z = be.asarray(rng.standard_normal((n_samples, means.shape[1])))
        lower = be.cholesky(be.asarray(covs))
        mu = be.asarray(means)
        X = be.concat([mu[k] + z[s - c : s] @ lower[k].T
                       for k, (c, s) in enumerate(zip(counts, np.cumsum(counts)))])
        return returns(X, self._model_dtype()), returns(y)

    def _fitted_type(self) -> str:
        """The covariance type of the fitted arrays (a model saved by a
        version without covariance types has full ones)."""
        return getattr(self, "_covariance_type", "full")

    def _n_parameters(self) -> int:
        K, D = self.means_.shape
        return _covariance_type(self._fitted_type()).n_parameters(K, D) + K * D + K - 1

    def bic(self, X) -> float:
        """Bayesian information criterion of the model on X (lower is better)."""
        return self._bic(self.score(X), _n_rows(X))

    def _bic(self, mean_log_density: float, n: int) -> float:
        """The BIC of n samples whose mean log-density (``score``) is known."""
        return -2.0 * mean_log_density * n + self._n_parameters() * np.log(n)

    def aic(self, X) -> float:
        """Akaike information criterion of the model on X (lower is better)."""
        return -2.0 * self.score(X) * _n_rows(X) + 2.0 * self._n_parameters()

    # ------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the fitted model to ``path`` as an ``.npz`` archive with JSON
        metadata (no pickle); :func:`biglearn_em.load` reads it back."""
        persist.save(self, path)


def load(path) -> BigLearnGaussianMixture:
    """Read a model written by :meth:`BigLearnGaussianMixture.save` (or
    ``biglearn-em fit --out``): a fitted estimator whose ``predict``,
    ``predict_proba`` and ``score_samples`` give exactly what the saved model
    gave. :mod:`.persist` describes the file.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a biglearn-em model, is damaged or truncated, was
        written by a newer format version, or holds inconsistent values.
    """
    return load_with_meta(path)[0]


def load_with_meta(path) -> tuple[BigLearnGaussianMixture, dict[str, Any]]:
    """:func:`load`, also returning the file's ``meta`` record (versions and all)."""
    return persist.load_with_meta(path, BigLearnGaussianMixture)


def _rows_of(part: Data, wh, what: str, unvalidated: bool) -> Any:
    """``what`` (see ``_per_row``) for the rows of one part of the data, chunk
    by chunk; ``unvalidated``: raise on NaN or infinity here (a dask array's
    blocks are checked as they are computed, not when X is validated)."""
    be = part.backend
    out = []
    for Z in part.chunks():
        if unvalidated and not np.isfinite(Z).all():
            raise ValueError("Input X contains NaN or infinity.")
        log_prob = be.log_prob(Z, wh)
        if what == "labels":
            out.append(log_prob.argmax(0))
            continue
        norm = be.log_normalize(log_prob)
        out.append(norm if what == "log_density" else be.exp(log_prob.T))
    return be.concat(out)


def _n_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _numpy_dtype(a) -> np.dtype:
    """The NumPy dtype of an array of any supported namespace."""
    try:
        return np.dtype(a.dtype)
    except TypeError:  # torch.float32, array_api_strict.float64, ...
        return np.dtype(str(a.dtype).rsplit(".", 1)[-1])


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


class _Checkpointer:
    """Saves and resumes a fit when the estimator has a ``checkpoint`` path."""

    def __init__(self, model: BigLearnGaussianMixture, X, rng: np.random.Generator,
                 backend: Backend) -> None:
        self.path = model.checkpoint
        self.backend = backend
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
            self.key = _checkpoint.fingerprint(X, params)

    def resume(self) -> tuple[_em.State | None, int, _em.State | None]:
        """The best finished state, the initialisation to continue and its state."""
        if self.path is None or not os.path.exists(self.path):
            return None, 0, None
        state, rng_state, init, best = _checkpoint.load(self.path, self.key,
                                                        self.backend.asarray)
        self.rng.bit_generator.state = rng_state
        return best, init, state

    def after_iteration(self, init: int, best: _em.State | None):
        if self.path is None:
            return None

        def save(state: _em.State) -> None:
            now = time.monotonic()
            if state.phase == "done" or now - self.last >= self.interval:
                _checkpoint.save(self.path, state, self.rng, init, best, self.key,
                                 self.backend.to_numpy)
                self.last = now
        return save


def _best_so_far(finished: _em.State | None, running: _em.State | None, data: Data,
                 settings: Settings) -> _em.State:
    """The better of the best finished initialisation and the best parameters
    the running one has seen (its snapshot during the views phase, otherwise
    its current parameters), as a stopped state."""
    if running is not None:
        running = replace(running)
        _em.stop(running, data, settings)
    candidates = [s for s in (finished, running) if s is not None]
    return max(candidates, key=lambda s: s.lower_bound)
