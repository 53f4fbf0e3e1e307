"""Sphinx configuration of the biglearn-em site.

Build (offline; warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import inspect
import os
import re
import sys

import matplotlib
from sphinx.pycode import ModuleAnalyzer
from sphinx_gallery.sorting import ExplicitOrder

import biglearn_em

# the gallery's examples draw off-screen: a build machine has no display
matplotlib.use("Agg")

project = "biglearn-em"
author = "the biglearn-em authors"
copyright = "the biglearn-em authors"
release = biglearn_em.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# everything under docs/ that is not a page: the build output, the figures (images, linked from
# the pages), the templates
exclude_patterns = ["_build", "_templates", "figures", "Thumbs.db", ".DS_Store"]

# offline: no intersphinx, nothing is fetched

# the API pages: one page per public name, generated at each build into docs/generated
autosummary_generate = True
autosummary_imported_members = True
# a public submodule's page lists the names of its __all__ (its face), not everything it imports
autosummary_ignore_module_all = False
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
numpydoc_show_class_members = False  # the class template lists the members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# figures drawn at build time from the scripts in docs/figures/ (a few seconds each, fixed seeds):
# the image only, no link to the script or other formats
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]

# the gallery (issue 23): the scripts of examples/ at the repository root (scikit-learn's
# layout), run at each build into pages, figures and downloads under docs/auto_examples
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # run the plot_*.py scripts; any other (gpu_fit.py: the build machines have no GPU) is
    # rendered without being run
    "filename_pattern": re.escape(os.sep) + "plot_",
    # an example that raises stops the build at once, as a failure (the CI runs the build)
    "abort_on_example_error": True,
    # offline: no Binder or JupyterLite buttons, and no links from the code into other
    # projects' documentation (they would need those projects' inventories)
    "binder": {},
    "jupyterlite": None,
    "doc_module": (),
    "backreferences_dir": None,
    # no "computation times" pages: they load scripts and styles from CDNs (the site must work
    # offline); the build's log lists each example's time, and each page ends with its own
    "write_computation_times": False,
    # the order of the gallery: the paper's case first, measurements last; an example not
    # named here goes at the end
    "within_subsection_order": ExplicitOrder([
        "plot_grid25_bad_start.py", "plot_fit_views.py", "plot_select_k.py",
        "plot_covariance_types.py", "plot_faithful.py", "plot_conditional.py",
        "plot_missing_values.py", "plot_dask_fit.py", "gpu_fit.py",
        "plot_speed_vs_sklearn.py", "plot_hard_mixtures.py", "*"]),
}

# Markdown: heading anchors for the in-page links ([Installing](#installing)), $...$ maths
myst_heading_anchors = 4
myst_enable_extensions = ["dollarmath", "colon_fence"]

html_theme = "pydata_sphinx_theme"
html_title = f"biglearn-em {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path = []


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods (metadata routing): their
    docstrings point into scikit-learn's own documentation, and they are scikit-learn's API."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _comment_of_a_reexported_constant(app, what, name, obj, options, lines):
    """A constant that a face re-exports (``biglearn_em.engine.COVARIANCE_TYPES``) is documented
    by the ``#:`` comment where it is defined. autodoc reads comments only in the face, finds
    none and falls back to the docstring of the value's type (tuple's, frozenset's): take the
    comment from the package's module that defines the constant instead."""
    if what != "data" or inspect.cleandoc(type(obj).__doc__ or "") != "\n".join(lines).strip():
        return
    short = name.rsplit(".", 1)[-1]
    del lines[:]
    # the defining module may name it otherwise (engine's COVARIANCE_TYPES is covariance.NAMES)
    homes = [(module_name, attribute) for module_name, module in sorted(sys.modules.items())
             if module_name.startswith("biglearn_em.")
             for attribute, value in list(vars(module).items()) if value is obj]
    for module_name, attribute in sorted(homes, key=lambda home: home[1] != short):
        comment = ModuleAnalyzer.for_module(module_name).find_attr_docs().get(("", attribute))
        if comment:
            lines.extend(comment)
            return


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    # before numpydoc (priority 500), which reformats the lines this compares
    app.connect("autodoc-process-docstring", _comment_of_a_reexported_constant, priority=400)
