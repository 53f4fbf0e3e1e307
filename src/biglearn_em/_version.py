"""The installed version of biglearn-em (its own module, so that the modules
that record it, such as model files and reports, need not import the package's
``__init__``, which imports them)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("biglearn-em")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"
