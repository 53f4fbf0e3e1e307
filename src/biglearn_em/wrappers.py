"""scikit-learn estimators that answer conditional questions with a fitted
mixture: :class:`GaussianMixtureImputer` fills missing values with their
conditional means (or draws), :class:`GaussianMixtureRegressor` predicts
``E[y | x]`` from a mixture of the joint ``[X, y]`` (Gaussian mixture
regression). Both fit a :class:`~biglearn_em.BigLearnGaussianMixture` (``mixture_``)
and compute with :mod:`biglearn_em.conditional`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from . import conditional
from .mixture import BigLearnGaussianMixture

#: The mixture's parameters the wrappers take themselves; ``mixture_params`` the others.
OWN = ("n_components", "covariance_type", "reg_covar", "eig_floor", "max_iter", "tol", "n_init",
       "random_state")

_PARAMETERS = """n_components : int, default=1
        Mixture components K.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    reg_covar : float >= 0, default=0.0
    eig_floor : "auto" or float >= 0, default="auto"
    max_iter : int, default=1000
    tol : float >= 0, default=1e-3
    n_init : int >= 1, default=1
    random_state : None, int, RandomState or Generator, default=None
        These are :class:`~biglearn_em.BigLearnGaussianMixture`'s parameters,
        with its meanings and defaults."""

_MIXTURE_PARAMS = """mixture_params : dict or None, default=None
        Any other parameters of the mixture (``restarts``, ``moves``,
        ``device``, ...), by name; not those above."""


def _mixture(wrapper) -> BigLearnGaussianMixture:
    """The unfitted mixture a wrapper's parameters describe."""
    own = {name: getattr(wrapper, name) for name in OWN}
    others = dict(wrapper.mixture_params or {})
    twice = sorted(set(others) & set(own))
    if twice:
        raise ValueError(f"mixture_params sets {twice}, which are parameters of "
                         f"{type(wrapper).__name__} itself; set them there.")
    return BigLearnGaussianMixture().set_params(**own, **others)


def _shared_parameters(cls: type) -> type:
    """``cls`` with the parameters both wrappers share written into its docstring
    (none under ``python -OO``, which strips docstrings)."""
    if cls.__doc__ is not None:
        cls.__doc__ = cls.__doc__.replace("{parameters}", _PARAMETERS).replace(
            "{mixture_params}", _MIXTURE_PARAMS)
    return cls


@_shared_parameters
class GaussianMixtureImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Fill missing values (NaN) with their conditional law under a Gaussian mixture.

    ``fit`` fits a :class:`~biglearn_em.BigLearnGaussianMixture` on X, NaN
    included: each row informs the fit through its observed values (EM under
    values missing at random). ``transform`` replaces each NaN by its conditional mean given the
    observed values of its row (:meth:`BigLearnGaussianMixture.impute`): the
    mean of a mixture whose components are re-weighted by how well each
    explains the observed part. With ``sample_posterior=True`` each NaN is
    instead one draw from that conditional law; imputers with different
    ``random_state`` then give the draws of a multiple imputation.

    Parameters
    ----------
    {parameters}
    sample_posterior : bool, default=False
        Fill with one draw from the conditional law instead of its mean. The
        draws come from ``random_state``: an int gives the same draws at every
        ``transform`` of the same X, a ``RandomState`` or ``Generator`` new
        ones, None fresh entropy.
    {mixture_params}

    Attributes
    ----------
    mixture_ : BigLearnGaussianMixture
        The fitted mixture of the columns of X.
    n_iter_ : int
        The mixture's ``n_iter_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names of X, when it had them.
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 reg_covar: float = 0.0, eig_floor: str | float = "auto", max_iter: int = 1000,
                 tol: float = 1e-3, n_init: int = 1, random_state=None,
                 sample_posterior: bool = False, mixture_params: dict[str, Any] | None = None
                 ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.eig_floor = eig_floor
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state
        self.sample_posterior = sample_posterior
        self.mixture_params = mixture_params

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y=None) -> GaussianMixtureImputer:
        """Fit the mixture on X (n_samples, n_features), which may hold NaN
        (not infinities; every row and column needs an observed value); ``y``
        is ignored. Returns self."""
        X = validate_data(self, X, dtype="numeric", ensure_all_finite="allow-nan",
                          ensure_min_samples=2)
        self.mixture_ = _mixture(self).fit(X.astype(np.float64))
        self.n_iter_ = self.mixture_.n_iter_
        return self

    def transform(self, X) -> np.ndarray:
        """X with every NaN filled (each row needs one observed value), a NumPy
        array of X's float dtype (float32 stays so, anything else float64)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype="numeric", ensure_all_finite="allow-nan")
        draws = conditional.random_generator(self.random_state) if self.sample_posterior else None
        return self.mixture_.impute(X, draws)


@_shared_parameters
class GaussianMixtureRegressor(RegressorMixin, BaseEstimator):
    """Gaussian mixture regression: ``E[y | x]`` under a mixture of ``[X, y]``.

    ``fit`` fits a :class:`~biglearn_em.BigLearnGaussianMixture` to the
    joint rows ``[x, y]`` (y of one or several columns); ``predict`` returns
    the mean of the conditional law of y given x, a mixture whose components
    are re-weighted by their density of x and whose means move with x along
    each component's regression line (not with "diag" or "spherical"
    covariances: x and y are then independent within a component, and only
    the weights move). One full component is linear regression (least squares
    with an intercept; exactly so with ``eig_floor=0``); more follow
    non-linear relations.

    Parameters
    ----------
    {parameters}
    {mixture_params}

    Attributes
    ----------
    mixture_ : BigLearnGaussianMixture
        The fitted mixture of the ``n_features_in_`` columns of X followed by the
        columns of y.
    n_iter_ : int
        The mixture's ``n_iter_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names of X, when it had them.
    """

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 reg_covar: float = 0.0, eig_floor: str | float = "auto", max_iter: int = 1000,
                 tol: float = 1e-3, n_init: int = 1, random_state=None,
                 mixture_params: dict[str, Any] | None = None) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.eig_floor = eig_floor
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state
        self.mixture_params = mixture_params

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y) -> GaussianMixtureRegressor:
        """Fit the mixture of ``[X, y]``: X (n_samples, n_features), y
        (n_samples,) or (n_samples, n_targets). Returns self."""
        X, y = validate_data(self, X, y, dtype="numeric", multi_output=True, y_numeric=True,
                             ensure_min_samples=2)
        self._one_target = y.ndim == 1  # predictions take y's shape
        joint = np.hstack([X, y.reshape(len(y), -1)]).astype(np.float64)
        self.mixture_ = _mixture(self).fit(joint)
        self.n_iter_ = self.mixture_.n_iter_
        return self

    def predict(self, X, return_std: bool = False):
        """``E[y | x]`` for each row of X, of y's shape ((n_samples,) or
        (n_samples, n_targets)); with ``return_std`` also the standard
        deviations of the conditional law (of each target: the square root of
        the diagonal of the mixture's covariance), of the same shape."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype="numeric").astype(np.float64)
        D = self.n_features_in_
        mix = conditional.mixture_of(self.mixture_)
        mean, var = conditional.moments(mix, np.arange(D), X, np.arange(D, mix.means.shape[1]))
        if self._one_target:
            mean, var = mean[:, 0], var[:, 0]
        return (mean, np.sqrt(var)) if return_std else mean
