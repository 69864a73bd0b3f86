"""The numpydoc sections of the public API parse as their authors meant:
every entry has a description (prose indented under a section becomes
nameless entries on the API page), and no type names a class that the
reference does not document."""

import importlib
import inspect
import pkgutil
import re
import warnings

import pytest

import rsft_sklearn

numpydoc_docscrape = pytest.importorskip("numpydoc.docscrape")

SECTIONS = ("Parameters", "Other Parameters", "Returns", "Yields", "Attributes")


def _public_objects():
    """Every name of ``rsft_sklearn.__all__``, and the methods and
    properties its classes define in this package."""
    for name in rsft_sklearn.__all__:
        obj = getattr(rsft_sklearn, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        yield name, obj
        if not inspect.isclass(obj):
            continue
        for klass in obj.__mro__:
            if not klass.__module__.startswith("rsft_sklearn"):
                continue
            for attr, value in vars(klass).items():
                if attr.startswith("_"):
                    continue
                if isinstance(value, (classmethod, staticmethod)):
                    value = value.__func__
                if isinstance(value, property):
                    value = value.fget
                if inspect.isfunction(value) and value.__doc__:
                    yield f"{name}.{attr}", value


def _private_classes():
    """Names of the classes that the package defines but does not export."""
    exported = set(rsft_sklearn.__all__)
    names = set()
    for info in pkgutil.walk_packages(rsft_sklearn.__path__, "rsft_sklearn."):
        if ".benchmark" in info.name:
            continue
        module = importlib.import_module(info.name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and value.__module__ == info.name
                and attr not in exported
            ):
                names.add(attr.lstrip("_"))
    return names


DOCUMENTED = sorted(dict(_public_objects()).items())


def _parsed(obj):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return numpydoc_docscrape.NumpyDocString(inspect.cleandoc(obj.__doc__ or ""))


@pytest.mark.parametrize("name, obj", DOCUMENTED, ids=[n for n, _ in DOCUMENTED])
def test_every_section_entry_has_a_description(name, obj):
    doc = _parsed(obj)
    empty = [
        f"{section}: {entry.name or entry.type!r}"
        for section in SECTIONS
        for entry in doc[section]
        if not "".join(entry.desc).strip()
    ]
    assert not empty, f"{name}: entries without a description: {empty}"


def test_no_type_names_an_undocumented_class():
    private = _private_classes()
    found = []
    for name, obj in DOCUMENTED:
        doc = _parsed(obj)
        for section in SECTIONS:
            for entry in doc[section]:
                words = set(re.findall(r"[A-Za-z_]\w*", entry.type))
                found += [f"{name} {entry.name}: {w}" for w in words & private]
    assert not found, found


def test_the_scan_sees_the_select_returns():
    # The check reads what the API page shows: three named results.
    doc = _parsed(rsft_sklearn.RejectionLoss.select)
    assert [r.name for r in doc["Returns"]] == [
        "loss_weight",
        "accepted",
        "acceptance",
    ]
