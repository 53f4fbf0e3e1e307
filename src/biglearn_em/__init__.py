"""biglearn-em: Gaussian mixtures fitted by BigLearn-EM."""

from importlib.metadata import PackageNotFoundError, version

from .mixture import BigLearnGaussianMixture
from .persist import load

try:
    __version__ = version("biglearn-em")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["BigLearnGaussianMixture", "__version__", "load"]
