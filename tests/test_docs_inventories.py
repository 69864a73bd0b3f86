"""The offline intersphinx inventories that the documentation build writes."""

import importlib.util
import zlib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _read_inventory(path, base):
    """Parse a version-2 inventory as intersphinx does: ``{role: {name: uri}}``."""
    raw = path.read_bytes()
    header = raw.split(b"\n", 4)
    assert header[0] == b"# Sphinx inventory version 2"
    assert header[3] == b"# The remainder of this file is compressed using zlib."
    entries = {}
    for line in zlib.decompress(header[4]).decode("utf-8").splitlines():
        name, role, priority, uri, display = line.split(" ", 4)
        assert priority.lstrip("-").isdigit() and display
        if uri.endswith("$"):
            uri = uri[:-1] + name
        entries.setdefault(role, {})[name] = base + uri
    return entries


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """``(paths by project, base URLs by project)`` of freshly written files."""
    spec = importlib.util.spec_from_file_location(
        "offline_inventories", DOCS / "offline_inventories.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    paths = module.write_inventories(tmp_path_factory.mktemp("inventories"))
    return paths, module.BASE_URLS


@pytest.fixture(scope="module")
def inventories(written):
    paths, base_urls = written
    return {
        project: _read_inventory(path, base_urls[project])
        for project, path in paths.items()
    }


def test_sphinx_reads_them(written):
    inventory = pytest.importorskip("sphinx.util.inventory")
    paths, _ = written
    with open(paths["sklearn"], "rb") as stream:
        inv = inventory.InventoryFile.load(stream, "https://x/", lambda a, b: a + b)
    # Sphinx 8.2 wraps the mapping in an object; older versions return it.
    data = getattr(inv, "data", inv)
    assert "sklearn.pipeline.Pipeline" in data["py:class"]


@pytest.mark.parametrize(
    "project, role, name, uri",
    [
        (
            "sklearn",
            "py:class",
            "sklearn.pipeline.Pipeline",
            "https://scikit-learn.org/stable/modules/generated/"
            "sklearn.pipeline.Pipeline.html#sklearn.pipeline.Pipeline",
        ),
        (
            "sklearn",
            "py:function",
            "sklearn.base.clone",
            "https://scikit-learn.org/stable/modules/generated/"
            "sklearn.base.clone.html#sklearn.base.clone",
        ),
        (
            "imblearn",
            "py:class",
            "imblearn.under_sampling.RandomUnderSampler",
            "https://imbalanced-learn.org/stable/references/generated/"
            "imblearn.under_sampling.RandomUnderSampler.html"
            "#imblearn.under_sampling.RandomUnderSampler",
        ),
        (
            "skorch",
            "py:class",
            "skorch.NeuralNetClassifier",
            "https://skorch.readthedocs.io/en/stable/classifier.html"
            "#skorch.classifier.NeuralNetClassifier",
        ),
        (
            "torch",
            "py:class",
            "torch.Tensor",
            "https://docs.pytorch.org/docs/stable/tensors.html#torch.Tensor",
        ),
        (
            "numpy",
            "py:class",
            "numpy.ndarray",
            "https://numpy.org/doc/stable/reference/generated/"
            "numpy.ndarray.html#numpy.ndarray",
        ),
        (
            "python",
            "py:exception",
            "ValueError",
            "https://docs.python.org/3/library/exceptions.html#ValueError",
        ),
        (
            "python",
            "std:label",
            "bltin-boolean-values",
            "https://docs.python.org/3/library/stdtypes.html#bltin-boolean-values",
        ),
    ],
)
def test_names_point_at_the_projects_pages(inventories, project, role, name, uri):
    assert inventories[project][role][name] == uri


def test_re_exports_are_not_listed_under_the_importing_module(inventories):
    # sklearn.calibration imports clone but does not document it.
    assert "sklearn.calibration.clone" not in inventories["sklearn"]["py:function"]
