"""biglearn-em: Gaussian mixtures fitted by BigLearn-EM."""

from importlib.metadata import PackageNotFoundError, version

from .mixture import BigLearnGaussianMixture
from .persist import load
from .selection import ModelSelection, select_model

try:
    __version__ = version("biglearn-em")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["BigLearnGaussianMixture", "ModelSelection", "__version__", "load", "select_model"]
