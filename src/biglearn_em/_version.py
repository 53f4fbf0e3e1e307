"""The installed version of biglearn-em (its own module, so that the modules
of the core that record it, such as model files and the CLI, need not import
the package's ``__init__``, which imports them; the experiments' reports,
outside the core, read it there)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("biglearn-em")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"
