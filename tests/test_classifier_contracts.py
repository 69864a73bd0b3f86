"""RSFTClassifier's constructor parameters that skorch calls, and the
documentation of its parameters and of ``get_loss``.

skorch calls ``module``, ``dataset``, ``train_split``, ``iterator_train`` and
``iterator_valid``; a value that is none of what it calls failed deep in the
fit with Python's "'float' object is not callable", which names no parameter
(``train_split=0.2``, a fraction, is the common case), or with skorch's
message on a "non-skorch dataset" for ``dataset="x"``.
"""

import inspect
import re
import warnings
from functools import partial

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError
from skorch.dataset import Dataset, ValidSplit
from skorch.exceptions import SkorchTrainingImpossibleError
from skorch.helper import predefined_split
from torch.utils.data import DataLoader, Subset

from rsft_sklearn import BatchIterator, InMemoryDataset, RSFTClassifier

N_VALID = 12


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    X = rng.randn(60, 3).astype(np.float32)
    X[:, 0] += y
    return X, y


class _Net(torch.nn.Module):
    def __init__(self, hidden=6):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
        )

    def forward(self, X):
        return self.layers(X)


def _fit(X, y, **params):
    clf = RSFTClassifier(
        **{"module": _Net, "max_epochs": 2, "random_state": 0, **params}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y)


def _last_rows(dataset, y=None, **kwargs):
    """The first N_VALID rows validate, the others train."""
    rows = np.arange(len(dataset))
    return Subset(dataset, rows[N_VALID:]), Subset(dataset, rows[:N_VALID])


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize(
    "name, value",
    [
        ("train_split", 0.2),
        ("train_split", True),
        ("iterator_train", "x"),
        ("iterator_valid", "x"),
        ("iterator_train", None),
        ("iterator_valid", None),
        ("module", "x"),
        ("module", 3),
        ("dataset", "x"),
        ("dataset", None),
    ],
)
def test_uncallable_parameters_are_refused_by_name(data, name, value, method):
    # Before: TypeError "'float' object is not callable" (train_split, the
    # iterators, module), skorch's "non-skorch dataset" ValueError, or, for
    # iterator_valid=None, a fit that went through and a predict that
    # failed so.
    X, y = data
    clf = RSFTClassifier(max_epochs=1, random_state=0, **{name: value})
    got = re.escape(repr(value))
    match = rf"The '{name}' parameter of RSFTClassifier must be .* Got {got} instead"
    with pytest.raises(InvalidParameterError, match=match):
        getattr(clf, method)(
            X, y, **({"classes": [0, 1]} if method == "partial_fit" else {})
        )
    # Refused before the data were taken in or anything was built.
    assert "classes_" not in vars(clf)
    assert "module_" not in vars(clf)


def test_train_split_docs_say_how_to_hold_out_a_fraction():
    doc = RSFTClassifier.__doc__
    entry = doc[doc.index("    train_split : ") : doc.index("    callbacks : ")]
    assert "ValidSplit(0.2)" in entry


def test_the_module_as_class_factory_or_instance(data):
    X, y = data
    # Built under the fit's seed: the same network, whichever way it is
    # given.
    by_class = _fit(X, y, module=_Net, module__hidden=4)
    by_partial = _fit(X, y, module=partial(_Net, hidden=4))
    by_lambda = _fit(X, y, module=lambda: _Net(hidden=4))
    proba = by_class.predict_proba(X)
    np.testing.assert_array_equal(by_partial.predict_proba(X), proba)
    np.testing.assert_array_equal(by_lambda.predict_proba(X), proba)
    # An instance is copied, then trained.
    instance = _Net()
    before = [p.detach().clone() for p in instance.parameters()]
    by_instance = _fit(X, y, module=instance)
    assert by_instance.module_ is not instance
    assert all(torch.equal(p, b) for p, b in zip(instance.parameters(), before))
    assert not all(
        torch.equal(p, b) for p, b in zip(by_instance.module_.parameters(), before)
    )
    # None builds the default network.
    assert type(_fit(X, y, module=None).module_).__name__ == "MLPModule"


@pytest.mark.parametrize(
    "train_split",
    [
        partial(_last_rows),
        lambda dataset, y=None, **kwargs: _last_rows(dataset),
        ValidSplit(0.2),
    ],
    ids=["partial", "lambda", "ValidSplit"],
)
def test_train_split_callables_split(data, train_split):
    X, y = data
    clf = _fit(X, y, train_split=train_split)
    assert np.isfinite(clf.history[-1, "valid_loss"])
    if not isinstance(train_split, ValidSplit):
        # The rows it holds out are left out of what fit counts.
        np.testing.assert_allclose(
            clf.class_prior_, np.bincount(y[N_VALID:]) / (len(y) - N_VALID)
        )


def test_train_split_false_is_no_split_as_in_skorch(data):
    # skorch reads train_split by its truth value (its own tests pass
    # False): False fits as None does, and True is refused.
    X, y = data
    no_split = _fit(X, y, train_split=None)
    for value in (False, np.False_):
        false = _fit(X, y, train_split=value)
        assert "valid_loss" not in false.history[-1]
        assert false.predict_proba(X).tobytes() == no_split.predict_proba(X).tobytes()


def test_predefined_split_and_no_split(data):
    X, y = data
    valid = _fit(X, y, train_split=predefined_split(Dataset(X[:N_VALID], y[:N_VALID])))
    assert np.isfinite(valid.history[-1, "valid_loss"])
    none = _fit(X, y, train_split=None)
    assert "valid_loss" not in none.history[-1]
    np.testing.assert_allclose(none.class_prior_, np.bincount(y) / len(y))


def test_iterators_and_datasets_as_classes_factories_or_instances(data):
    X, y = data
    default = _fit(X, y).predict_proba(X)
    # Prediction batched by DataLoader or a factory of BatchIterator: the
    # same fit, the same probabilities.
    for iterator_valid in (DataLoader, partial(BatchIterator)):
        np.testing.assert_allclose(
            _fit(X, y, iterator_valid=iterator_valid).predict_proba(X),
            default,
            rtol=1e-6,
            atol=1e-7,
        )
    loader = _fit(X, y, iterator_train=DataLoader, dataset=Dataset)
    assert loader.predict_proba(X).shape == (len(X), 2)
    # InMemoryDataset is the default, named or not.
    np.testing.assert_array_equal(
        _fit(X, y, dataset=InMemoryDataset).predict_proba(X), default
    )
    # A data set instance is taken as it is, as skorch takes it.
    given = _fit(X, y, dataset=Dataset(X, y), iterator_train=DataLoader)
    assert given.predict_proba(X).shape == (len(X), 2)


def test_a_trimmed_net_still_gets_skorchs_error(data):
    # trim_for_prediction sets iterator_train to None, which a net set up
    # by hand may not have: the trimmed net is told why it cannot train.
    X, y = data
    clf = _fit(X, y)
    clf.trim_for_prediction()
    for method in ("fit", "partial_fit"):
        with pytest.raises(SkorchTrainingImpossibleError, match="trimmed"):
            getattr(clf, method)(X, y)
    assert clf.predict(X).shape == y.shape


def test_accelerate_classifier_refuses_them_too(data):
    pytest.importorskip("accelerate")
    from accelerate import Accelerator

    from rsft_sklearn import AccelerateRSFTClassifier

    X, y = data
    clf = AccelerateRSFTClassifier(
        accelerator=Accelerator(cpu=True), train_split=0.2, max_epochs=1
    )
    with pytest.raises(InvalidParameterError, match="'train_split' parameter"):
        clf.fit(X, y)


# ----------------------------------------------------------------------------
# Documentation
# ----------------------------------------------------------------------------
def _documented_parameters(doc):
    section = doc.split("Parameters\n    ----------\n", 1)[1]
    section = re.split(r"\n    \w+\n    -+\n", section, maxsplit=1)[0]
    names = re.findall(r"(?m)^    (\*\*\w+|\w+(?:, \w+)*) : ", section)
    return [name for entry in names for name in entry.split(", ")]


def test_class_docstring_lists_the_parameters_in_signature_order():
    signature = inspect.signature(RSFTClassifier.__init__)
    names = [
        ("**" + name) if p.kind is p.VAR_KEYWORD else name
        for name, p in signature.parameters.items()
        if name != "self"
    ]
    assert _documented_parameters(RSFTClassifier.__doc__) == names


def test_class_docstring_points_to_the_page_of_differences():
    doc = " ".join(RSFTClassifier.__doc__.split())
    # It named three (iterator_train, iterator_valid, predict_nonlinearity)
    # as "the few" that differ; the page lists about ten.
    assert "the few" not in doc
    assert (
        "whose defaults or meanings differ from skorch's, and why, are "
        "listed in :doc:`/user_guide/skorch`" in doc
    )


def test_get_loss_documents_its_parameters():
    validate = pytest.importorskip("numpydoc.validate").validate
    errors = validate("rsft_sklearn.RSFTClassifier.get_loss")["errors"]
    assert [e for e in errors if e[0] in ("PR01", "PR02", "PR03", "RT01")] == []
    doc = RSFTClassifier.get_loss.__doc__
    assert "sample_weight=sample_weight" in " ".join(doc.split())
