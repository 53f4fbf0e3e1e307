"""Equal starts: BigLearn-EM against scikit-learn's ``GaussianMixture`` of the
same covariance type, both fitted from one shared start.

The start of a covariance type is the one BigLearn-EM computes itself: k-means
labels drawn from the seed, then one M-step of that type (the covariances'
eigenvalues floored at the experiment's floor). ``BigLearnGaussianMixture``
with ``max_iter=0`` returns exactly that start as its fitted arrays, and both
estimators receive it as ``weights_init``, ``means_init`` and
``precisions_init`` (scikit-learn's shapes for every type). Each estimator
then scores that start itself (:func:`start_log_likelihood`), so a report can
show that both began at the same likelihood.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from ..mixture import BigLearnGaussianMixture


@dataclass(frozen=True)
class Start:
    """One start of a mixture of a given covariance type.

    Attributes
    ----------
    covariance_type : str
        One of :data:`biglearn_em.engine.COVARIANCE_TYPES`.
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    precisions : ndarray
        Inverse covariances of scikit-learn's shape for the type: (K, D, D)
        "full", (D, D) "tied", (K, D) "diag", (K,) "spherical".
    """

    covariance_type: str
    weights: np.ndarray
    means: np.ndarray
    precisions: np.ndarray

    def params(self) -> dict:
        """The start as estimator parameters, the same names for
        ``BigLearnGaussianMixture`` and scikit-learn's ``GaussianMixture``.

        Returns
        -------
        dict
            ``covariance_type``, ``weights_init``, ``means_init`` and
            ``precisions_init``.
        """
        return {"covariance_type": self.covariance_type, "weights_init": self.weights,
                "means_init": self.means, "precisions_init": self.precisions}


def shared_start(n_components: int, covariance_type: str, X: np.ndarray, seed: int,
                 eig_floor: float) -> Start:
    """The k-means start of one covariance type, computed by BigLearn-EM's own
    initialisation (a fit with ``max_iter=0`` runs no iteration).

    Parameters
    ----------
    n_components : int
        K.
    covariance_type : str
        One of :data:`biglearn_em.engine.COVARIANCE_TYPES`.
    X : ndarray of shape (N, D)
        Training data.
    seed : int
        ``random_state`` of the k-means labels.
    eig_floor : float
        Eigenvalue (variance) floor of the start's covariances.

    Returns
    -------
    Start
    """
    model = BigLearnGaussianMixture(n_components, covariance_type=covariance_type, max_iter=0,
                                    init_params="kmeans", eig_floor=eig_floor,
                                    random_state=seed).fit(X)
    return Start(covariance_type, model.weights_, model.means_, model.precisions_)


def timed_fit(model, X: np.ndarray) -> float:
    """Fit ``model`` to ``X``; a budget-capped fit's ConvergenceWarning is
    part of the experiment and silenced.

    Parameters
    ----------
    model : estimator
    X : ndarray of shape (N, D)

    Returns
    -------
    float
        Wall time of the fit in seconds.
    """
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    return time.perf_counter() - start


def start_log_likelihood(model, X: np.ndarray) -> float:
    """Mean log-likelihood of ``X`` under the parameters a fitted ``model``
    started from, as the model's own library computes it.

    scikit-learn: the first entry of ``lower_bounds_`` (its first E-step
    scores the start). BigLearn-EM: a copy of the model with ``max_iter=0``
    (its start, no iteration) scoring ``X``.

    Parameters
    ----------
    model : fitted GaussianMixture or BigLearnGaussianMixture
    X : ndarray of shape (N, D)
        The training data the model was fitted on.

    Returns
    -------
    float
    """
    if isinstance(model, GaussianMixture):
        return float(model.lower_bounds_[0])
    return float(clone(model).set_params(max_iter=0).fit(X).score(X))
