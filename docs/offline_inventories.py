"""Write intersphinx inventories for the projects the docs link to, offline.

The documentation build runs without network access, so intersphinx cannot
download ``objects.inv`` from the projects' sites. This script builds small
inventories from the public names of the *installed* packages instead, with
each name pointing at the page that documents it on the project's real site.
The links therefore go where the online inventory would send them, and the
build needs nothing but the installed packages. sphobjinv writes the files in
the format intersphinx reads.

Only names are covered that the projects document under a predictable URL;
a reference to anything else simply stays unlinked, as it would for a name
that is missing from a real inventory.

Usage::

    python docs/offline_inventories.py [OUTPUT_DIR]

``OUTPUT_DIR`` defaults to ``docs/_build/inventories``.
"""

import builtins
import importlib
import inspect
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import sphobjinv as soi

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent / "_build" / "inventories"

#: Base URL of every project, as ``intersphinx_mapping`` needs it.
BASE_URLS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "sklearn": "https://scikit-learn.org/stable/",
    "imblearn": "https://imbalanced-learn.org/stable/",
    "skorch": "https://skorch.readthedocs.io/en/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
}

DISTRIBUTIONS = {
    "python": None,
    "numpy": "numpy",
    "sklearn": "scikit-learn",
    "imblearn": "imbalanced-learn",
    "skorch": "skorch",
    "torch": "torch",
}


def _role(obj):
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj):
        return "function"
    return "data"


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        # Without ``__all__`` only what the module defines itself is public;
        # its imports are documented (and linked) where they come from.
        names = [
            n
            for n, obj in vars(module).items()
            if getattr(obj, "__module__", "").startswith(module.__name__)
        ]
    return [n for n in names if not n.startswith("_") and _attr(module, n) is not None]


def _attr(module, name):
    try:
        return getattr(module, name, None)
    except ImportError:
        # Experimental scikit-learn estimators refuse to load until they are
        # enabled explicitly; they are not worth linking to.
        return None


def _class_members(cls):
    """Public methods and properties that ``cls`` itself defines."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            yield name, "attribute"
        elif inspect.isfunction(value) or inspect.ismethoddescriptor(value):
            yield name, "method"
        elif isinstance(value, (classmethod, staticmethod)):
            yield name, "method"


def _import(name):
    try:
        return importlib.import_module(name)
    except Exception:
        # An optional backend that is not installed (imblearn.keras without
        # keras, say) only means fewer names in the inventory.
        return None


def _module_objects(module_names):
    """Yield ``(public_name, object)`` for the public names of modules."""
    for module_name in module_names:
        module = _import(module_name)
        if module is None:
            continue
        for name in _public_names(module):
            obj = _attr(module, name)
            if inspect.ismodule(obj):
                continue
            yield f"{module_name}.{name}", obj


def _generated_pages(prefix, module_names, with_members=True):
    """Entries for projects with one generated page per public object."""
    entries = []
    for full_name, obj in _module_objects(module_names):
        page = f"{prefix}{full_name}.html"
        entries.append((full_name, _role(obj), f"{page}#{full_name}"))
        if with_members and inspect.isclass(obj):
            for member, role in _class_members(obj):
                anchor = f"{full_name}.{member}"
                entries.append((anchor, role, f"{page}#{anchor}"))
    return entries


def python_entries():
    entries = []
    for name in dir(builtins):
        if name.startswith("_"):
            continue
        obj = getattr(builtins, name)
        if name in {"None", "True", "False", "NotImplemented", "Ellipsis"}:
            entries.append((name, "data", f"library/constants.html#{name}"))
        elif inspect.isclass(obj) and issubclass(obj, BaseException):
            entries.append((name, "exception", f"library/exceptions.html#{name}"))
        elif name in {"dict", "list", "tuple", "set", "frozenset", "str", "range"}:
            entries.append((name, "class", f"library/stdtypes.html#{name}"))
        elif inspect.isclass(obj):
            entries.append((name, "class", f"library/functions.html#{name}"))
        elif callable(obj):
            entries.append((name, "function", f"library/functions.html#{name}"))
    # Targets of numpydoc's default type aliases ("bool", "iterable", ...).
    entries += [
        ("bltin-boolean-values", "std:label", "library/stdtypes.html#$"),
        ("iterable", "std:term", "glossary.html#term-iterable"),
        ("sequence", "std:term", "glossary.html#term-sequence"),
        ("generator", "std:term", "glossary.html#term-generator"),
        ("contextlib.contextmanager", "function", "library/contextlib.html#$"),
        ("collections.namedtuple", "function", "library/collections.html#$"),
    ]
    for module_name in ("pathlib", "functools", "warnings", "collections.abc"):
        for full_name, obj in _module_objects([module_name]):
            uri = f"library/{module_name}.html#{full_name}"
            entries.append((full_name, _role(obj), uri))
    return entries


def numpy_entries():
    import numpy as np

    entries = _generated_pages("reference/generated/", ["numpy"], with_members=False)
    entries = [
        (name, role, "reference/constants.html#$" if role == "data" else uri)
        for name, role, uri in entries
        if name not in {"numpy.random", "numpy.linalg"}
    ]
    for member, role in _class_members(np.ndarray):
        anchor = f"numpy.ndarray.{member}"
        entries.append((anchor, role, f"reference/generated/{anchor}.html#{anchor}"))
    entries += [
        ("array_like", "std:term", "glossary.html#term-array_like"),
        ("arrays.scalars", "std:label", "reference/arrays.scalars.html"),
        ("numpy", "py:module", "reference/index.html"),
        (
            "numpy.random.RandomState",
            "class",
            "reference/random/legacy.html#numpy.random.RandomState",
        ),
        (
            "numpy.random.Generator",
            "class",
            "reference/random/generator.html#numpy.random.Generator",
        ),
        (
            "numpy.random.default_rng",
            "function",
            "reference/random/generator.html#numpy.random.default_rng",
        ),
    ]
    return entries


def sklearn_entries():
    import sklearn

    submodules = [
        n
        for n in sklearn.__all__
        if n not in {"experimental", "externals"}
        and _import(f"sklearn.{n}") is not None
    ]
    # base and utils hold clone, BaseEstimator and the validation helpers but
    # are not listed in sklearn.__all__; the text vectorizers live in a
    # submodule of feature_extraction.
    submodules += ["base", "utils", "utils.validation", "feature_extraction.text"]
    entries = _generated_pages(
        "modules/generated/", [f"sklearn.{n}" for n in submodules]
    )
    top_level = [n for n in sklearn.__all__ if n not in submodules]
    for name in top_level:
        full_name = f"sklearn.{name}"
        entries.append(
            (full_name, "function", f"modules/generated/{full_name}.html#{full_name}")
        )
    return entries


def imblearn_entries():
    import imblearn

    submodules = [
        n for n in imblearn.__all__ if inspect.ismodule(getattr(imblearn, n, None))
    ]
    entries = _generated_pages(
        "references/generated/", [f"imblearn.{n}" for n in submodules]
    )
    entries += _generated_pages("references/generated/", ["imblearn"])
    return entries


def skorch_entries():
    """skorch documents each module on one page with ``automodule``."""
    pages = [
        "net",
        "classifier",
        "regressor",
        "callbacks",
        "dataset",
        "helper",
        "hf",
        "history",
        "scoring",
        "toy",
        "utils",
        "exceptions",
    ]
    entries = []
    documented = {}
    for page in pages:
        for full_name, obj in _module_objects([f"skorch.{page}"]):
            if not full_name.startswith("skorch.callbacks.") and (
                getattr(obj, "__module__", None) != f"skorch.{page}"
            ):
                continue
            uri = f"{page}.html#{full_name}"
            documented[id(obj)] = (full_name, uri)
            entries.append((full_name, _role(obj), uri))
            if inspect.isclass(obj):
                for member, role in _class_members(obj):
                    entries.append((f"{full_name}.{member}", role, f"{uri}.{member}"))
    for alias, obj in _module_objects(["skorch"]):
        if id(obj) in documented:
            entries.append((alias, _role(obj), documented[id(obj)][1]))
    return entries


def torch_entries():
    import torch

    special = {
        "torch.Tensor": "tensors.html#torch.Tensor",
        "torch.device": "tensor_attributes.html#torch.device",
        "torch.dtype": "tensor_attributes.html#torch.dtype",
    }
    entries = [(name, "class", uri) for name, uri in special.items()]
    for member, role in _class_members(torch.Tensor):
        anchor = f"torch.Tensor.{member}"
        entries.append((anchor, role, f"generated/{anchor}.html#{anchor}"))
    generated = _generated_pages(
        "generated/",
        [
            "torch",
            "torch.nn",
            "torch.nn.functional",
            "torch.nn.parallel",
            "torch.optim",
            "torch.optim.lr_scheduler",
        ],
    )
    entries += [e for e in generated if e[0] not in special and "." in e[0]]
    for full_name, obj in _module_objects(["torch.utils.data"]):
        entries.append((full_name, _role(obj), f"data.html#{full_name}"))
    for full_name, obj in _module_objects(["torch.distributed"]):
        entries.append((full_name, _role(obj), f"distributed.html#{full_name}"))
    return entries


ENTRIES = {
    "python": python_entries,
    "numpy": numpy_entries,
    "sklearn": sklearn_entries,
    "imblearn": imblearn_entries,
    "skorch": skorch_entries,
    "torch": torch_entries,
}


def inventory_bytes(project, project_version, entries):
    """Serialise entries as a compressed Sphinx inventory (version 2)."""
    inventory = soi.Inventory()
    inventory.project = project
    inventory.version = project_version
    seen = set()
    for name, role, uri in entries:
        # The first entry of a name wins; intersphinx cannot read names with
        # spaces.
        if name in seen or " " in name:
            continue
        seen.add(name)
        domain, _, role = role.rpartition(":")
        inventory.objects.append(
            soi.DataObjStr(
                name=name,
                domain=domain or "py",
                role=role,
                priority="1",
                uri=uri,
                dispname=name,
            )
        )
    # Sorted, so that the file depends on the entries and not on the order in
    # which the packages list them.
    inventory.objects.sort(key=lambda obj: obj.data_line(contract=True))
    return bytes(soi.compress(inventory.data_file(contract=True)))


def write_inventories(output_dir=DEFAULT_OUTPUT_DIR):
    """Write one ``<project>.inv`` per project and return their paths.

    Parameters
    ----------
    output_dir : str or pathlib.Path
        Folder to write into; created if missing.

    Returns
    -------
    paths : dict
        Maps each project key of ``BASE_URLS`` to the written file.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for project, collect in ENTRIES.items():
        with warnings.catch_warnings():
            # Walking a package touches its deprecated aliases too.
            warnings.simplefilter("ignore")
            entries = collect()
        dist = DISTRIBUTIONS[project]
        project_version = (
            version(dist) if dist else ".".join(map(str, sys.version_info[:2]))
        )
        path = output_dir / f"{project}.inv"
        path.write_bytes(inventory_bytes(project, project_version, entries))
        paths[project] = path
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT_DIR
    for project, path in write_inventories(target).items():
        print(f"{project}: {path}")
