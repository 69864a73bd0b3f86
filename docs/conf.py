"""Sphinx configuration of the rsft-sklearn documentation.

Build with ``docs/build.sh`` (or ``make docs``): it builds a copy of this
folder inside ``docs/_build`` with warnings as errors and no network access.
"""

import os
import sys
from pathlib import Path

# Importing the inventory writer next to this file must not leave a
# __pycache__ in the source tree.
sys.dont_write_bytecode = True

DOCS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS_DIR))

import jinja2
from offline_inventories import BASE_URLS, write_inventories
from sphinx.util import logging

import rsft_sklearn

logger = logging.getLogger(__name__)

# The repository root: build.sh links CHANGES.md and examples/ next to the
# copy it builds, so the same relative paths work in place and in the copy.
ROOT_DIR = DOCS_DIR.parent

project = "rsft-sklearn"
author = "rsft-sklearn developers"
copyright = "rsft-sklearn developers"
version = release = rsft_sklearn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # Ships MathJax with the site (docs/_build/html/_static/mathjax) and points
    # mathjax_path at it, so formulas render without network.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/README.rst", "**/GALLERY_HEADER.rst"]
templates_path = ["_templates"]
default_role = "literal"
nitpicky = False

# -- Pages that depend on what the repository holds ---------------------------

BENCHMARK_DOCS = sorted(
    p.relative_to(DOCS_DIR).with_suffix("").as_posix()
    for p in (DOCS_DIR / "benchmark").glob("**/*")
    if p.suffix in {".rst", ".md"}
)
HAS_CHANGES = (ROOT_DIR / "CHANGES.md").is_file()
# Written by benchmarks/speed.py; listed on the benchmark page when present.
HAS_SPEED_REPORT = (DOCS_DIR / "speed.md").is_file()

# Reading order of the user guide. Pages that other tools or later work add
# to user_guide/ are listed after these, so that none is left out of the
# navigation.
USER_GUIDE_ORDER = [
    "when_to_use",
    "rejection_rule",
    "fixed_point",
    "choosing_m",
    "multimodal",
    "text",
    "groups",
    "fine_tuning",
    "skorch",
    "speed",
    "distributed",
    "rejection_sampler",
    "related_methods",
    "source_code",
]
_user_guide_present = {p.stem for p in (DOCS_DIR / "user_guide").glob("*.rst")}
USER_GUIDE_PAGES = [p for p in USER_GUIDE_ORDER if p in _user_guide_present] + sorted(
    _user_guide_present - set(USER_GUIDE_ORDER) - {"index"}
)


def _check_api_page(app):
    """Fail the build while a public name is missing from ``api.rst``."""
    listed = set()
    in_autosummary = False
    for line in (Path(app.srcdir) / "api.rst").read_text().splitlines():
        if line.startswith(".. autosummary::"):
            in_autosummary = True
        elif (
            in_autosummary
            and line.startswith("   ")
            and not line.strip().startswith(":")
        ):
            listed.add(line.strip())
        elif line and not line.startswith(" "):
            in_autosummary = False
    public = {name for name in rsft_sklearn.__all__ if not name.startswith("_")}
    for name in sorted(public - listed):
        logger.warning(
            "rsft_sklearn.%s is in __all__ but not listed in docs/api.rst", name
        )
    for name in sorted(listed - public):
        logger.warning(
            "docs/api.rst lists %s, which is not in rsft_sklearn.__all__", name
        )


def _has_gallery_header(folder):
    return any(folder.glob("README.*")) or any(folder.glob("GALLERY_HEADER.*"))


# Pages listed here are rendered with Jinja first, so that their toctrees and
# tables can follow the package and the repository.
JINJA_CONTEXT = {
    "user_guide_pages": USER_GUIDE_PAGES,
    "has_distributed_examples": _has_gallery_header(
        ROOT_DIR / "examples" / "distributed"
    ),
    "benchmark_docs": BENCHMARK_DOCS,
    "has_changes": HAS_CHANGES,
    "has_speed_report": HAS_SPEED_REPORT,
}
JINJA_PAGES = {
    "benchmark",
    "changes",
    "user_guide/index",
    "user_guide/distributed",
    "user_guide/speed",
}


def _render_jinja(app, docname, source):
    if docname in JINJA_PAGES:
        template = jinja2.Environment(undefined=jinja2.StrictUndefined)
        source[0] = template.from_string(source[0]).render(**JINJA_CONTEXT)


# -- HTML -------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"rsft-sklearn {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": [], "quick_start": [], "changes": []}
html_static_path = ["_static"]
html_css_files = ["rsft.css"]
html_show_sourcelink = False
html_copy_source = False

# -- API reference ----------------------------------------------------------

autosummary_generate = True
# Inherited members stay out by default; an explicit "inherited-members": False
# here would also override the option of the class template, which shows
# RSFTClassifier's methods from its private base class.
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "Tensor": "torch.Tensor",
    "torch.Tensor": "torch.Tensor",
    "Generator": "torch.Generator",
    "ndarray": "numpy.ndarray",
    "RandomState": "numpy.random.RandomState",
    "estimator": "sklearn.base.BaseEstimator",
    "Dataset": "torch.utils.data.Dataset",
    "Subset": "torch.utils.data.Subset",
    "float32": "numpy.float32",
    "float64": "numpy.float64",
    "int64": "numpy.int64",
}
numpydoc_xref_ignore = {
    "of",
    "or",
    "and",
    "shape",
    "default",
    "optional",
    "instance",
    "object",
    "class",
    "n_samples",
    "n_features",
    "n_classes",
    "n_outputs",
    "array-like",
    "sparse",
    "matrix",
    "callable",
    "iterable",
    "generator",
    "criterion",
    "optimizer",
    "torch",
    # Words of the prose in type lines, and the sizes in their shapes.
    "to",
    "those",
    "one",
    "tensor",
    "n_groups",
    "n_rows",
    "length",
    "vocab_size",
    "embedding_dim",
}
# Every public class and function shows its use; methods are documented
# through the class example.
numpydoc_validation_checks = {"EX01", "GL08"}
numpydoc_validation_exclude = {r"\.[A-Z]\w*\.\w+$"}

# -- Cross-project links without network -------------------------------------

INVENTORY_DIR = DOCS_DIR / "_build" / "inventories"
_inventories = write_inventories(INVENTORY_DIR)
intersphinx_mapping = {
    project_key: (url, str(_inventories[project_key]))
    for project_key, url in BASE_URLS.items()
}

# -- Example gallery ----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT_DIR / "examples"),
    "gallery_dirs": "auto_examples",
    # Only plot_*.py files run; other scripts (a distributed launcher, say)
    # are shown but not executed.
    "filename_pattern": r"[\\/]plot_",
    "ignore_pattern": r"__init__\.py|[\\/]_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": os.environ.get("RSFT_DOCS_RUN_EXAMPLES", "True"),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "capture_repr": ("_repr_html_", "__repr__"),
    "matplotlib_animations": False,
    "min_reported_time": 1,
    # The execution-times page loads jQuery and DataTables from CDNs; the site
    # must not load anything from the network.
    "write_computation_times": False,
    # Each API page ends with the gallery examples that use the object.
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("rsft_sklearn",),
}

# -- Figures ------------------------------------------------------------------

plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]

# -- Markdown -------------------------------------------------------------------

myst_heading_anchors = 3


def _reread_jinja_pages(app, env, added, changed, removed):
    # Their text depends on the repository, not only on their source file.
    return [name for name in JINJA_PAGES if name in env.found_docs]


def _public_bases(app, name, obj, options, bases):
    # "Bases:" names the public class a user looks up, not a private base of
    # this package: RSFTClassifier shows skorch's NeuralNetClassifier.
    for i, base in enumerate(bases):
        if base.__module__.startswith("rsft_sklearn") and (
            base.__name__ not in rsft_sklearn.__all__
        ):
            bases[i] = next(
                klass
                for klass in base.__mro__
                if not klass.__module__.startswith("rsft_sklearn")
            )


def setup(app):
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("builder-inited", _check_api_page)
    app.connect("source-read", _render_jinja)
    app.connect("env-get-outdated", _reread_jinja_pages)
