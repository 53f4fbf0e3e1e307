"""biglearn-em: Gaussian mixtures fitted by BigLearn-EM."""

from ._version import __version__
from .mixture import BigLearnGaussianMixture, load
from .selection import ModelSelection, select_model

__all__ = ["BigLearnGaussianMixture", "ModelSelection", "__version__", "load", "select_model"]
