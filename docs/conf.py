"""Sphinx configuration of the agn-saliency documentation (built by tests/test_docs.py with -W).

Pages are Markdown (MyST-Parser), so prose moved out of the README stays Markdown and reads the
same on GitHub. The API reference is autodoc + autosummary with numpydoc, because the library's
docstrings are numpydoc and this is the astronomy Python norm (astropy, specutils, sunpy).
No intersphinx: the build must not reach the network (CI has none but the package registries).
"""

from __future__ import annotations

import agn_saliency

project = "agn-saliency"
author = "agn-saliency contributors"
copyright = "agn-saliency contributors"
release = agn_saliency.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: slugs for headings down to ###, so [text](page.md#a-heading) works here as on GitHub.
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# API reference: one generated page per module (docs/api/generated/, not committed).
autosummary_generate = True
autosummary_imported_members = False
# Each object is documented once, on the page of the module that defines it: a package that
# re-exports its submodules' names in __all__ would otherwise describe them a second time.
autodoc_default_options = {"members": True, "member-order": "bysource", "ignore-module-all": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections already give the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "alabaster"  # Sphinx's own: no theme package to install
# Wide enough for the README's pipeline diagram and the wide tables without scrolling.
html_theme_options = {"page_width": "1240px", "sidebar_width": "230px", "body_max_width": "none"}
html_title = "agn-saliency"
html_static_path: list[str] = []


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Document what agn_saliency defines, not what a base class generates into it.

    scikit-learn's ``BaseEstimator`` adds ``set_*_request`` methods (metadata routing) to every
    estimator subclass; their docstrings point into scikit-learn's own documentation (glossary
    terms, labels) that does not exist here. They are scikit-learn's API, not this package's.
    """
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module.split(".")[0] == "sklearn":
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
