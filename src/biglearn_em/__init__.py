"""biglearn-em: Gaussian mixtures fitted by BigLearn-EM."""

from ._version import __version__
from .mixture import BigLearnGaussianMixture, load
from .selection import ModelSelection, select_model
from .wrappers import GaussianMixtureImputer, GaussianMixtureRegressor

__all__ = [
    "BigLearnGaussianMixture", "GaussianMixtureImputer", "GaussianMixtureRegressor",
    "ModelSelection", "__version__", "load", "select_model",
]
