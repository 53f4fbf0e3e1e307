"""Sphinx configuration of the biglearn-em site.

Build (offline; warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import biglearn_em

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
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# everything under docs/ that is not a page: the build output, the figures (images, linked from
# the pages), the templates
exclude_patterns = ["_build", "_templates", "figures", "Thumbs.db", ".DS_Store"]

# offline: no intersphinx, nothing is fetched

# the API pages: one page per public name, generated at each build into docs/api/generated
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
numpydoc_show_class_members = False  # the class template lists the members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# figures drawn at build time from the scripts in docs/figures/ (a few seconds each, fixed seeds):
# the image only, no link to the script or other formats
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]

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


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
