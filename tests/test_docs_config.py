"""The documentation build's own logic (docs/conf.py), without running Sphinx.

``make docs`` builds the site with warnings as errors; these tests check the two
pieces of conf.py that decide what the site contains: the API pages generated from
the modules' ``__all__`` and the rewriting of Markdown links to repository files.
"""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def conf():
    spec = importlib.util.spec_from_file_location("skood_docs_conf", ROOT / "docs" / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _autosummary_names(page):
    text = page.read_text()
    return set(re.findall(r"^   (\w+)$", text, flags=re.MULTILINE))


def test_api_pages_list_every_public_class_and_function(conf, tmp_path):
    documented = conf.write_api_pages(tmp_path)
    assert "skood.detectors" in documented and "skood.density" in documented
    pages = sorted(tmp_path.glob("skood*.rst"))
    assert len(pages) == len(documented)
    # The file names keep API_MODULES' order under the glob toctree.
    order = [name for name, _ in conf.API_MODULES if name in documented]
    assert [p.stem.split("_", 1)[1] for p in pages] == [n.replace(".", "_") for n in order]
    detectors = importlib.import_module("skood.detectors")
    page = tmp_path / f"skood{[n for n, _ in conf.API_MODULES].index('skood.detectors'):02d}" \
        "_skood_detectors.rst"
    assert _autosummary_names(page) == set(detectors.__all__)


def test_missing_module_is_skipped_and_broken_one_raises(conf, tmp_path):
    modules = [("skood.no_such_module", "Nothing"), ("skood.adapters", "Adapters")]
    assert conf.write_api_pages(tmp_path, modules) == ["skood.adapters"]
    assert [p.name for p in tmp_path.glob("skood*.rst")] == ["skood01_skood_adapters.rst"]
    assert _autosummary_names(tmp_path / "skood01_skood_adapters.rst") == {"PyODAdapter"}
    # A module that exists but fails to import is an error, not a silent omission.
    broken = tmp_path / "skood_docs_broken_pkg"
    broken.mkdir()
    (broken / "__init__.py").write_text("import skood_docs_not_installed\n")
    import sys
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError, match="skood_docs_not_installed"):
            conf.write_api_pages(tmp_path, [("skood_docs_broken_pkg", "Broken")])
    finally:
        sys.path.remove(str(tmp_path))


def test_links_to_repository_markdown_become_downloads(conf):
    docs = ROOT / "docs"
    text = ("[table](../benchmarks/results/tabular.md), [conv](conventions.md), "
            "![roc](../benchmarks/results/plots/x.png), [web](https://example.org/a.md), "
            "[gone](../no/such/file.md)")
    out = conf.outside_links_to_downloads(text, docs)
    assert "[table](path:../benchmarks/results/tabular.md)" in out
    assert "[conv](conventions.md)" in out  # a page of the site stays a page
    assert "![roc](../benchmarks/results/plots/x.png)" in out  # files: already downloads
    assert "[web](https://example.org/a.md)" in out
    assert "[gone](../no/such/file.md)" in out  # broken links stay visible to -W
    assert out.count("path:") == 1
