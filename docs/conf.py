"""Sphinx configuration of skood's documentation site.

Build it with ``make docs`` (warnings are errors; the gallery in ``examples/`` runs).
The API reference is generated from the public modules' ``__all__`` when each build
starts (see :func:`write_api_pages`), so a name added to a module appears without editing
these files, and a module that does not exist is left out.
"""

import importlib
import inspect
import os
import re
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

# The gallery trains small flows on one thread: keep it deterministic and polite on
# shared machines (the values must be set before torch is imported).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import skood  # noqa: E402

project = "skood"
author = "The skood developers"
copyright = "The skood developers"
release = skood.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["api/_templates"]
exclude_patterns = ["_build", "api/_templates", "**.ipynb_checkpoints", "auto_examples/*.md5"]

# --- API reference --------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "groupwise"}
autodoc_typehints = "none"
# numpydoc renders Parameters / Attributes / Examples; autodoc's member listing (in
# the class template) documents the methods, so numpydoc's own member tables are off.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
add_module_names = False

#: The public modules, in the order of the reference. Each one that imports is
#: documented from its ``__all__``; one that does not exist (yet) is skipped.
API_MODULES = [
    ("skood.base", "Base classes"),
    ("skood.density", "Density estimators"),
    ("skood.detectors", "Detectors"),
    ("skood.detectors.lid_calibration", "LID calibration"),
    ("skood.statistics", "Flow and diffusion statistics"),
    ("skood.flows", "Flow backbones (torch)"),
    ("skood.flows.spectral", "Jacobian spectra"),
    ("skood.diffusion", "Diffusion backbone (torch)"),
    ("skood.metrics", "Metrics and scorers"),
    ("skood.adapters", "Adapters"),
    ("skood.model_selection", "Model selection"),
    ("skood.conformal", "Conformal detection"),
    ("skood.persistence", "Saving and loading"),
    ("skood.parallel", "Parallel and out-of-core"),
    ("skood.plotting", "Plotting"),
    ("skood.datasets", "Datasets"),
    ("skood.benchmark", "Benchmark"),
    ("skood.exceptions", "Exceptions and warnings"),
]


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n for n, obj in vars(module).items()
            if not n.startswith("_") and getattr(obj, "__module__", "").startswith(module.__name__)
        ]
    return sorted(names, key=str.lower)


def _kind(obj):
    if inspect.isclass(obj):
        return "Classes"
    if inspect.isroutine(obj):
        return "Functions"
    return None


def write_api_pages(out_dir=HERE / "api", modules=None):
    """Write ``<out_dir>/skoodNN_<module>.rst`` for every importable module.

    ``modules`` defaults to :data:`API_MODULES`. Returns the names of the modules
    documented.
    """
    modules = API_MODULES if modules is None else modules
    for old in out_dir.glob("skood*.rst"):
        old.unlink()
    documented = []
    for order, (name, title) in enumerate(modules):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # the module does not exist in this version
            raise
        groups = {"Classes": [], "Functions": []}
        for public in _public_names(module):
            kind = _kind(getattr(module, public))
            if kind is not None:
                groups[kind].append(public)
        heading = f"``{name}``: {title}"
        lines = [
            f".. _api-{name}:", "", heading, "=" * len(heading), "",
            f".. automodule:: {name}", "   :no-members:", "",
            f".. currentmodule:: {name}", "",
        ]
        for kind, members in groups.items():
            if not members:
                continue
            # The stubs use api/_templates/autosummary/{class,function}.rst.
            lines += [kind, "-" * len(kind), "", ".. autosummary::",
                      "   :toctree: generated/", ""]
            lines += [f"   {m}" for m in members] + [""]
        # Index so that the glob toctree keeps API_MODULES' order.
        (out_dir / f"skood{order:02d}_{name.replace('.', '_')}.rst").write_text("\n".join(lines))
        documented.append(name)
    return documented


# --- Markdown pages (MyST) ---------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# --- Gallery -----------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 0,
    # The per-example times are printed in the build log; a page of them in the source
    # root would be picked up by the glob toctree of the Markdown pages.
    "write_computation_times": False,
}

# --- HTML --------------------------------------------------------------------------------
try:
    import pydata_sphinx_theme  # noqa: F401

    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navigation_with_keys": False,
        "show_toc_level": 2,
        "secondary_sidebar_items": ["page-toc"],
    }
except ImportError:
    html_theme = "alabaster"
html_title = f"skood {release}"
html_static_path = []
html_show_sourcelink = False

# The Markdown pages link to repository files outside docs/ (e.g. committed benchmark
# tables). They stay as they are in the repository; on the site a link to a Markdown
# or reST file there becomes a download of the file (MyST's ``path:`` links) instead of
# a reference to a page that is not part of the site (other files already are).
_LINK = re.compile(r"\]\((?!path:|[a-z][a-z0-9+.-]*://|#)([^)\s#]+)((?:#[^)\s]*)?)\)")


def outside_links_to_downloads(text, doc_dir):
    """``text`` with its links to ``.md`` / ``.rst`` files outside docs/ as ``path:`` links."""

    def fix(match):
        target = (Path(doc_dir) / match.group(1)).resolve()
        is_source = target.suffix in (".md", ".rst")
        if is_source and target.is_file() and HERE not in target.parents:
            return f"](path:{match.group(1)})"
        return match.group(0)

    return _LINK.sub(fix, text)


def _source_read(app, docname, source):
    path = Path(app.env.doc2path(docname))
    if path.suffix == ".md":
        source[0] = outside_links_to_downloads(source[0], path.parent)


def _api_pages(app, config):
    documented = write_api_pages()
    print("API reference: " + ", ".join(documented))


def setup(app):
    # Before Sphinx lists the source files (and autosummary writes its stubs).
    app.connect("config-inited", _api_pages)
    app.connect("source-read", _source_read)


# Third-party deprecation chatter is not a documentation problem.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="skorch")
