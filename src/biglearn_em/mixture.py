"""``BigLearnGaussianMixture``: a scikit-learn estimator fitted by BigLearn-EM."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, DensityMixin

from . import _predict, conditional, persist
from ._inputs import (
    Returns,
    feature_attributes,
    for_inference,
    numpy_dtype,
    total_weight,
    validate_weights,
    weighted_mean,
)
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
)
from .backends import DTYPES
from .engine import COVARIANCE_TYPES, INIT_METHODS, covariance_type
from .fitting import Fit


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
        refinement's steps, of the split-and-merge proposals tried in all and
        of the final polish.
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
        Convergence threshold on the mean log-likelihood of plain EM, of the
        short runs, of the refinement and of the polish; also the improvement
        that resets ``patience``.
    patience : "auto", int >= 1 or None, default="auto"
        Stop the views when the best joint log-likelihood has not improved by
        ``tol`` for this many outer iterations (None: run ``max_iter``).
        "auto": 50, or 10 when the restarts ended by ``restart_agreement``;
        and at least twice the iterations the last improvement took, so that
        views still improving slowly go on (0.1.0's default was 50).
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
        Called with every ``history_`` record as it is made (short runs,
        refinement steps, moves, outer iterations of the views, the polish),
        plus ``init`` (e.g. to draw a progress bar).
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
    restart_agreement : int >= 1 or None, default=3
        End the restarts early once this many short runs converged (on
        ``tol``, before ``restart_iter``) within ``tol`` of the best run's
        log-likelihood: one optimum dominates, and more starts would find it
        again. None: all ``restarts`` run (0.1.0's behaviour).
    smoothing_fade : int >= 1 or None, default=None
        Outer iterations of the views over which ``weight_smoothing`` fades
        linearly to 0 (None: it stays constant, as in the paper).
    moves : int >= 0, default=5
        Split-and-merge proposals tried per round after the refinement: merge
        the pair of components that costs least to merge (in nats), split the
        component whose rows' 2-means cut gains most, run plain EM and keep the
        result if the likelihood rises; rounds continue while a proposal is
        kept. 0: none.
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
        "init_params": (Options(INIT_METHODS),),
        "weights_init": (NoneValue(), ArrayLike()),
        "means_init": (NoneValue(), ArrayLike()),
        "precisions_init": (NoneValue(), ArrayLike()),
        # inf is a valid tolerance: stop after one iteration (as in scikit-learn)
        "tol": (Real(0.0, finite=False),),
        "patience": (Options(("auto",)), NoneValue(), Integer(1)),
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
        "restart_agreement": (NoneValue(), Integer(1)),
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
        patience: str | int | None = "auto",
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
        restart_agreement: int | None = 3,
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
        self.restart_agreement = restart_agreement
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
        # NaN marks a missing value: rows are explained by their observed part
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, sample_weight=None) -> BigLearnGaussianMixture:
        """Fit the mixture to X (n_samples, n_features); returns self.

        ``sample_weight`` (n_samples,), >= 0: frequency weights, a row of
        weight w counting as w copies of itself (integer weights give the
        model of the repeated rows; weight 0 leaves a row out). For a dask X,
        a dask array (or a host array) of the rows' weights.
        """
        self.fit_predict(X, y, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit the mixture to X and return the component of every sample,
        shape (N,) (``sample_weight``: see :meth:`fit`)."""
        returns = Returns.like(X)
        started = time.monotonic()
        # validation sets n_features_in_; an interrupted fit puts them back
        features = feature_attributes(self)
        fit = Fit.prepare(self, X, sample_weight)
        best = fit.run(started, features)
        fit.write_result(best, returns, numpy_dtype(fit.X))
        # on the fit's backend, where the fit placed X: not chosen (nor placed) twice
        self.labels_ = returns(_predict.per_row(self, fit.X, "labels", fit.inference_data()))
        return self.labels_

    # ------------------------------------------------------------- inference
    def score_samples(self, X):
        """Log-density of each sample, shape (N,)."""
        X, returns = for_inference(self, X, "score_samples")
        return returns(_predict.per_row(self, X, "log_density"), self._model_dtype())

    def score(self, X, y=None, sample_weight=None) -> float:
        """Mean log-density of the samples (weighted by ``sample_weight``)."""
        X, _ = for_inference(self, X, "score")
        w = validate_weights(sample_weight, X)
        # the mean of the values score_samples returns (in the model's dtype)
        return weighted_mean(_predict.per_row(self, X, "log_density"), w, self._model_dtype())

    def predict(self, X):
        """Most probable component of each sample, shape (N,)."""
        X, returns = for_inference(self, X, "predict")
        return returns(_predict.per_row(self, X, "labels"))

    def predict_proba(self, X):
        """Posterior probability of each component, shape (N, K)."""
        X, returns = for_inference(self, X, "predict_proba")
        return returns(_predict.per_row(self, X, "proba"), self._model_dtype())

    def _model_dtype(self) -> np.dtype:
        """The NumPy dtype of the fitted arrays (those of X at fit time)."""
        return numpy_dtype(self.means_)

    def sample(self, n_samples: int = 1):
        """Draw samples from the fitted mixture: X (n_samples, D), labels (n_samples,).

        The component counts and the standard normal numbers come from
        ``random_state`` on the host and are transformed by each component's
        Cholesky factor, on the host or on the model's torch device: one
        ``random_state`` gives the same samples on every backend (to
        rounding). Under ``array_api_dispatch`` the results are arrays of the
        fitted arrays' namespace.
        """
        return _predict.sample(self, n_samples)

    # -------------------------------------------- conditional laws (conditional.py)
    def marginal(self, features) -> BigLearnGaussianMixture:
        """The fitted mixture of the columns ``features`` (indices, or names of
        ``feature_names_in_``), in that order: a fitted estimator of the same
        covariance type (``lower_bound_`` NaN: no data of its own)."""
        return conditional.marginal_model(self, features)

    def condition(self, features, values) -> BigLearnGaussianMixture:
        """The fitted mixture of the other columns (in their order) given
        ``values`` (one per feature) at ``features``; components re-weighted by
        their density of ``values``; full, tied, diag, spherical stay so."""
        return conditional.condition_model(self, features, values)

    def impute(self, X, random_state=None) -> np.ndarray:
        """X (NumPy) with each NaN replaced by its conditional mean given the
        row's observed values (each row needs one), or with ``random_state``
        (a seed or Generator) one draw from the conditional law: imputations."""
        return conditional.impute(self, X, random_state)

    def _fitted_type(self) -> str:
        """The covariance type of the fitted arrays (a model saved by a
        version without covariance types has full ones)."""
        return getattr(self, "_covariance_type", "full")

    def _n_parameters(self) -> int:
        K, D = self.means_.shape
        return covariance_type(self._fitted_type()).n_parameters(K, D) + K * D + K - 1

    def bic(self, X, sample_weight=None) -> float:
        """Bayesian information criterion of the model on X (lower is better);
        with ``sample_weight``, of the rows each counted that many times."""
        return self.bic_from_score(self.score(X, sample_weight=sample_weight),
                                   total_weight(X, sample_weight))

    def bic_from_score(self, mean_log_density: float, n_samples: float) -> float:
        """The BIC of ``n_samples`` rows whose mean log-density (``score``) is
        already known: ``bic(X)`` without another pass over X (a large or
        streamed X, scored once for several purposes)."""
        n = n_samples
        return -2.0 * mean_log_density * n + self._n_parameters() * np.log(n)

    def aic(self, X, sample_weight=None) -> float:
        """Akaike information criterion of the model on X (lower is better);
        with ``sample_weight``, of the rows each counted that many times."""
        n = total_weight(X, sample_weight)
        return -2.0 * self.score(X, sample_weight=sample_weight) * n + 2.0 * self._n_parameters()

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
