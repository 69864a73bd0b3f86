"""The module's output checked outside training too, and the iterators'
options that change a prediction's rows.

Training refused a module output of the wrong shape, kind or dtype; the
prediction passes (``predict_proba``, ``predict``, ``score``, ``forward``) and
the validation step did not: a module that dropped a row returned 49
probabilities for 50 rows, a squeezed one failed in NumPy, and the validation
loss failed inside torch.
"""

import functools

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from torch import nn
from torch.utils.data import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
)

from rsft_sklearn import RejectionLoss, RSFTClassifier


def _data(n=200, n_classes=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 4).astype(np.float32)
    y = np.digitize(X[:, 0], [-0.5, 0.5][: n_classes - 1])
    return X, y


class EvalOutput(nn.Module):
    """Logits in training; in evaluation mode, what ``kind`` says."""

    def __init__(self, n_classes=3, kind="plain"):
        super().__init__()
        self.linear = nn.Linear(4, n_classes)
        self.kind = kind

    def forward(self, X):
        z = self.linear(X)
        if self.training or self.kind == "plain":
            return z
        return {
            "drop_zero_rows": lambda: z[X.abs().sum(1) > 0],
            "squeeze": z.squeeze,
            "extra_column": lambda: torch.cat([z, z[:, :1]], 1),
            "integer": lambda: z.round().long(),
            "first_of_tuple": lambda: (z, z.sum()),
            "drop_last_row": lambda: z[:-1],
            "one_d": lambda: z[:, 0],
            "dict": lambda: {"logits": z},
        }[self.kind]()


def _fitted(kind, probability="balanced", **params):
    X, y = _data()
    return RSFTClassifier(
        EvalOutput,
        module__kind=kind,
        max_epochs=2,
        random_state=0,
        probability=probability,
        verbose=0,
        **params,
    ).fit(X, y)


@pytest.mark.parametrize("probability", ["balanced", "raw"])
def test_prediction_refuses_a_module_that_drops_rows(probability):
    clf = _fitted("drop_zero_rows", probability)
    X, y = _data(50, seed=1)
    # Trained on rows that are never all zero: every row is scored.
    assert clf.predict_proba(X).shape == (50, 3)
    X[7] = 0.0
    # Returned 49 rows for 50, the outputs after row 7 for the wrong rows.
    message = "returned 49 rows of logits for a batch of 50 rows"
    for method in (clf.predict_proba, clf.predict):
        with pytest.raises(ValueError, match=message):
            method(X)
    with pytest.raises(ValueError, match=message):
        clf.score(X, y)
    with pytest.raises(ValueError, match=message):
        clf.forward(X)


class DictEvalOutput(nn.Module):
    """EvalOutput over the columns of two inputs, ``a`` and ``b``."""

    def __init__(self, kind="plain"):
        super().__init__()
        self.inner = EvalOutput(kind=kind)

    def forward(self, a, b):
        return self.inner(torch.cat([a, b], 1))


def _as_kind(kind, X, y):
    if kind == "dict":
        return {"a": X[:, :1], "b": X[:, 1:]}
    if kind == "sparse":
        return sp.csr_matrix(X)
    return TensorDataset(torch.as_tensor(X), torch.as_tensor(y))


@pytest.mark.parametrize("kind", ["dict", "sparse", "torch Dataset"])
def test_prediction_checks_the_output_for_every_kind_of_input(kind):
    X, y = _data()
    module = DictEvalOutput if kind == "dict" else EvalOutput
    clf = RSFTClassifier(
        module,
        module__kind="drop_zero_rows",
        max_epochs=2,
        batch_size=32,
        random_state=0,
        verbose=0,
    ).fit(_as_kind(kind, X, y), y)
    Xp, yp = _data(50, seed=1)
    assert clf.predict_proba(_as_kind(kind, Xp, yp)).shape == (50, 3)
    Xp[7] = 0.0
    # The batch of rows 32-49 is whole; that of rows 0-31 returns 31.
    message = "returned 31 rows of logits for a batch of 32 rows"
    for method in (clf.predict_proba, clf.predict):
        with pytest.raises(ValueError, match=message):
            method(_as_kind(kind, Xp, yp))
    (clf.module_.inner if kind == "dict" else clf.module_).kind = "one_d"
    with pytest.raises(ValueError, match=r"got Tensor of shape \(32,\) for a batch"):
        clf.predict_proba(_as_kind(kind, Xp, yp))


@pytest.mark.parametrize("probability", ["balanced", "raw"])
def test_prediction_names_a_squeezed_one_row_batch(probability):
    clf = _fitted("squeeze", probability, batch_size=100)
    X, _ = _data(101, seed=1)
    assert clf.predict_proba(X[:100]).shape == (100, 3)
    # A last batch of one row: "all the input arrays must have same number of
    # dimensions", or (probability="raw", one row) a 1-d "probability" row
    # and an IndexError in predict.
    for rows in (X[:1], X):
        for method in (clf.predict_proba, clf.predict):
            with pytest.raises(
                ValueError,
                match=r"got Tensor of shape \(3,\) for a batch of 1 row\. A "
                r"squeeze\(\) in forward .* squeeze\(-1\)",
            ):
                method(rows)


@pytest.mark.parametrize("probability", ["balanced", "raw", "training"])
def test_prediction_refuses_other_columns_and_integer_scores(probability):
    clf = _fitted("extra_column", probability)
    X, _ = _data(20, seed=1)
    # probability="raw" returned (20, 4) for 3 classes, the others named an
    # internal parameter ("target_weight must have one entry per class").
    with pytest.raises(ValueError, match="4 logits per sample but the data has 3"):
        clf.predict_proba(X)
    clf.module_.kind = "integer"
    # torch's "softmax_lastdim_kernel_impl" not implemented for 'Long'.
    with pytest.raises(TypeError, match="floating-point scores, got dtype torch.int64"):
        clf.predict_proba(X)


def test_prediction_reads_the_first_element_of_a_tuple_as_skorch_does():
    plain = _fitted("plain", "raw")
    clf = _fitted("first_of_tuple", "raw")
    X, _ = _data(30, seed=1)
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(proba, plain.predict_proba(X))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        # "Expected input batch_size (59) to match target batch_size (60)".
        ("drop_last_row", ValueError, "returned 59 rows of logits for a batch of 60"),
        # "log_shift must hold 4 finite values, one per class".
        ("extra_column", ValueError, "4 logits per sample but the data has 3"),
        # "Expected floating point type for target with class probabilities".
        ("one_d", ValueError, r"got Tensor of shape \(60,\) for a batch of 60"),
        # "log_softmax_lastdim_kernel_impl" not implemented for 'Long'.
        ("integer", TypeError, "floating-point scores, got dtype torch.int64"),
        # "cross_entropy_loss(): argument 'input' ... must be Tensor, not dict".
        ("dict", TypeError, r"2-d tensor of logits .*; got dict\.$"),
        ("first_of_tuple", TypeError, r"2-d tensor of logits .*; got tuple\.$"),
    ],
)
def test_validation_step_checks_the_output_before_the_criterion(kind, error, message):
    X, y = _data(240)
    clf = RSFTClassifier(
        EvalOutput,
        module__kind=kind,
        max_epochs=2,
        random_state=0,
        train_split=ValidSplit(4),
        verbose=0,
    )
    with pytest.raises(error, match=message):
        clf.fit(X, y)


def test_validation_step_of_a_plain_module_is_the_criterion_loss():
    X, y = _data(240)
    clf = RSFTClassifier(
        EvalOutput, max_epochs=2, random_state=0, train_split=ValidSplit(4), verbose=0
    ).fit(X, y)
    assert np.isfinite(clf.history[-1, "valid_loss"])
    Xv, yv = torch.as_tensor(X[:60]), torch.as_tensor(y[:60])
    step = clf.validation_step((Xv, yv))
    with torch.no_grad():
        logits = clf.module_.eval()(Xv)
    torch.testing.assert_close(step["y_pred"], logits, rtol=0, atol=0)
    torch.testing.assert_close(
        step["loss"], nn.functional.cross_entropy(logits, yv), rtol=0, atol=0
    )


# ----------------------------------------------------------------------------
# The messages: TypeError for what is no tensor, ValueError for a wrong shape
# ----------------------------------------------------------------------------
def test_loss_and_estimator_name_a_tuple_and_a_1d_output_alike():
    z = torch.randn(8, 3)
    y = torch.randint(0, 3, (8,))
    loss = RejectionLoss(n_classes=3)
    # Was a ValueError "got tuple of shape ()".
    with pytest.raises(TypeError, match=r"got tuple\.$"):
        loss((z, 0), y)
    with pytest.raises(ValueError, match=r"got Tensor of shape \(8,\)\.$"):
        loss(z[:, 0], y)

    class Tup(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 3)

        def forward(self, X):
            return (self.linear(X), 0)

    X, y3 = _data(50)
    with pytest.raises(TypeError, match=r"got tuple\.$"):
        RSFTClassifier(Tup, max_epochs=1, verbose=0).fit(X, y3)


@pytest.mark.parametrize("columns", [None, 1])
def test_one_logit_for_two_classes_gets_a_hint(columns):
    class OneLogit(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 1)

        def forward(self, X):
            z = self.linear(X)
            return z if columns else z[:, 0]

    X, y = _data(50, n_classes=2)
    # A 1-d output was a TypeError in the estimator, a ValueError in the loss.
    with pytest.raises(
        ValueError, match="With 2 classes the module must return 2 logit columns"
    ):
        RSFTClassifier(OneLogit, max_epochs=1, batch_size=50, verbose=0).fit(X, y)
    logits = torch.zeros((50, 1) if columns else (50,))
    # One hint, in the estimator's words and the loss's alike.
    with pytest.raises(
        ValueError, match="With 2 classes the module must return 2 logit columns"
    ):
        RejectionLoss(n_classes=2)(logits, torch.as_tensor(y))


# ----------------------------------------------------------------------------
# Iterators
# ----------------------------------------------------------------------------
class BatchLabels(Callback):
    def on_train_begin(self, net, **kwargs):
        self.labels = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.labels.append(batch[1].tolist())


def test_a_sampler_decides_the_order_without_the_default_shuffle():
    X, y = _data(200, n_classes=2)
    ds = TensorDataset(torch.as_tensor(X), torch.as_tensor(y))
    ones = np.flatnonzero(y == 1)
    sampler = SubsetRandomSampler(
        ones.tolist(), generator=torch.Generator().manual_seed(0)
    )
    # Was torch's "sampler option is mutually exclusive with shuffle", though
    # no shuffle was set (skorch's NeuralNetClassifier fits).
    clf = RSFTClassifier(
        module__n_features=4,
        max_epochs=1,
        random_state=0,
        batch_size=32,
        iterator_train__sampler=sampler,
        callbacks=[("labels", BatchLabels())],
        verbose=0,
    ).fit(ds, y)
    seen = sum(dict(clf.callbacks_)["labels"].labels, [])
    assert len(seen) == len(ones) and set(seen) == {1}
    # Without a sampler the rows are still shuffled by default.
    default = RSFTClassifier(
        module__n_features=4,
        max_epochs=1,
        random_state=0,
        batch_size=32,
        callbacks=[("labels", BatchLabels())],
        verbose=0,
    ).fit(ds, y)
    seen = sum(dict(default.callbacks_)["labels"].labels, [])
    assert sorted(seen) == sorted(y.tolist()) and seen != y.tolist()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("iterator_valid__shuffle", r"iterator_valid__shuffle=True returns the rows"),
        ("iterator_valid__drop_last", r"iterator_valid__drop_last=True leaves out"),
    ],
)
def test_prediction_options_that_change_the_rows_are_refused(option, message):
    X, y = _data(203, n_classes=2)
    # Refused before training, with or without a validation split (predict
    # returned rows permuted, accuracy 0.95 -> 0.63, or 192 rows of 203),
    # by partial_fit as by fit.
    for split in (None, ValidSplit(4)):
        for method in ("fit", "partial_fit"):
            clf = RSFTClassifier(
                max_epochs=1, batch_size=32, train_split=split, **{option: True}
            )
            with pytest.raises(ValueError, match=message):
                getattr(clf, method)(X, y)
            assert not hasattr(clf, "module_")
    clf = RSFTClassifier(max_epochs=2, random_state=0, batch_size=32).fit(X, y)
    before = clf.predict_proba(X)
    assert before.shape == (203, 2)
    clf.set_params(**{option: True})
    rng = torch.get_rng_state()
    for method in (clf.predict_proba, clf.predict):
        with pytest.raises(ValueError, match=message):
            method(X)
    # Refused before anything is drawn from torch's global generator.
    assert torch.equal(rng, torch.get_rng_state())
    clf.set_params(**{option: False})
    np.testing.assert_array_equal(clf.predict_proba(X), before)


@pytest.mark.parametrize(
    "settings",
    [{"batch_size": -1}, {"batch_size": 32, "iterator_valid__batch_size": -1}],
)
def test_drop_last_is_taken_where_the_prediction_batch_is_the_whole_set(settings):
    X, y = _data(203, n_classes=2)
    # One batch of every row is never incomplete (get_iterator turns
    # drop_last off for it): it was refused all the same.
    clf = RSFTClassifier(
        max_epochs=2,
        random_state=0,
        train_split=ValidSplit(4),
        iterator_valid__drop_last=True,
        **settings,
    ).fit(X, y)
    plain = RSFTClassifier(
        max_epochs=2, random_state=0, train_split=ValidSplit(4), **settings
    ).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))
    assert clf.predict_proba(X).shape == (203, 2)
    np.testing.assert_array_equal(
        clf.history[:, "valid_loss"], plain.history[:, "valid_loss"]
    )
    # A batch size of its own that is not the whole set: refused again.
    clf.set_params(iterator_valid__batch_size=32)
    with pytest.raises(ValueError, match="iterator_valid__drop_last=True leaves"):
        clf.predict_proba(X)


def _ordered_data(n=203):
    X, y = _data(n, n_classes=2)
    return X, y, TensorDataset(torch.as_tensor(X), torch.as_tensor(y))


@pytest.mark.parametrize(
    "option, make",
    [
        ("sampler", lambda ds: RandomSampler(ds)),
        ("sampler", lambda ds: SubsetRandomSampler(range(20))),
        (
            "batch_sampler",
            lambda ds: BatchSampler(SequentialSampler(ds), 32, drop_last=True),
        ),
    ],
)
def test_a_prediction_sampler_is_refused(option, make):
    X, y, ds = _ordered_data()
    sampler = make(ds)
    name = f"iterator_valid__{option}"
    message = f"^{name}={type(sampler).__name__}\\(\\.\\.\\.\\) decides which rows"
    # Before training, at fit and partial_fit, on a torch Dataset or arrays
    # (which the sampler does not reach), even where nothing is predicted.
    for data in (ds, X):
        for method in ("fit", "partial_fit"):
            clf = RSFTClassifier(
                module__n_features=4, max_epochs=1, train_split=None, **{name: sampler}
            )
            with pytest.raises(ValueError, match=message):
                getattr(clf, method)(data, y)
            assert not hasattr(clf, "module_")
    # Set after the fit: predict_proba returned the rows permuted (or 20 of
    # 203, or 192), refused now before anything is drawn.
    clf = RSFTClassifier(
        module__n_features=4, max_epochs=2, random_state=0, train_split=None
    ).fit(ds, y)
    before = clf.predict_proba(ds)
    clf.set_params(**{name: sampler})
    rng = torch.get_rng_state()
    for method in (clf.predict_proba, clf.predict):
        with pytest.raises(ValueError, match=message):
            method(ds)
    assert torch.equal(rng, torch.get_rng_state())
    clf.set_params(**{name: None})
    np.testing.assert_array_equal(clf.predict_proba(ds), before)


def test_a_sequential_prediction_sampler_is_taken_over_as_many_rows():
    X, y, ds = _ordered_data()
    clf = RSFTClassifier(
        module__n_features=4, max_epochs=2, random_state=0, train_split=None
    ).fit(ds, y)
    before = clf.predict_proba(ds)
    # In order over the same rows: the prediction of the default.
    clf.set_params(iterator_valid__sampler=SequentialSampler(ds))
    np.testing.assert_array_equal(clf.predict_proba(ds), before)
    # On arrays the batches are cut from memory, in order, without it.
    np.testing.assert_array_equal(clf.predict_proba(X[:50]), before[:50])
    # Over another number of rows it would return as many as it has.
    clf.set_params(iterator_valid__sampler=SequentialSampler(range(50)))
    with pytest.raises(ValueError, match="iterator_valid__sampler=SequentialSampler"):
        clf.predict_proba(ds)


def test_a_sequential_sampler_over_the_whole_set_names_the_validation_part():
    # Refused for the sampler's order, when its length was the cause: the
    # validation part of train_split holds a share of the rows it covers.
    X, y, ds = _ordered_data(60)
    clf = RSFTClassifier(
        module__n_features=4,
        max_epochs=2,
        random_state=0,
        classes=[0, 1],
        train_split=ValidSplit(3),
        iterator_valid__sampler=SequentialSampler(ds),
    )
    with pytest.raises(ValueError) as error:
        clf.fit(ds, y)
    message = str(error.value)
    assert message.startswith(
        "iterator_valid__sampler=SequentialSampler(...) visits 60 rows, but the "
        "data set it is to visit holds 20 (the validation part of train_split"
    )
    assert "order" not in message.split("Remove it")[0]
    assert "set_params(iterator_valid__sampler=None)" in message


# ----------------------------------------------------------------------------
# on_grad_computed gets skorch's (X, y)
# ----------------------------------------------------------------------------
class GradBatch(Callback):
    def on_train_begin(self, net, **kwargs):
        self.begin, self.grad = [], []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.begin.append(batch)

    def on_grad_computed(self, net, named_parameters, batch=None, **kwargs):
        Xb, yb = batch
        self.grad.append((Xb, yb))


@pytest.mark.parametrize("how", ["sample_weight", "budget"])
def test_on_grad_computed_gets_the_batch_as_the_other_hooks(how):
    X, y = _data(200, n_classes=2)
    params = {"rejection": "budget"} if how == "budget" else {}
    fit = {"sample_weight": np.linspace(0.5, 1.5, 200)} if how != "budget" else {}
    # A three-element batch (with the library's weights): "too many values
    # to unpack (expected 2)".
    clf = RSFTClassifier(
        max_epochs=1,
        random_state=0,
        batch_size=32,
        callbacks=[("grad", GradBatch())],
        verbose=0,
        **params,
    ).fit(X, y, **fit)
    cb = dict(clf.callbacks_)["grad"]
    assert len(cb.grad) == len(cb.begin) >= 2
    for (Xg, yg), (Xb, yb) in zip(cb.grad, cb.begin):
        assert torch.equal(Xg, Xb) and torch.equal(yg, yb)


# ----------------------------------------------------------------------------
# AccelerateRSFTClassifier refuses LBFGS however it is given
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "optimizer",
    [
        functools.partial(torch.optim.LBFGS, max_iter=5),
        lambda params, lr: torch.optim.LBFGS(params, lr=lr),
    ],
    ids=["partial", "factory"],
)
def test_accelerate_refuses_lbfgs_given_as_a_callable(optimizer):
    accelerate = pytest.importorskip("accelerate")
    from rsft_sklearn import AccelerateRSFTClassifier

    X, y = _data(100, n_classes=2)
    clf = AccelerateRSFTClassifier(
        accelerator=accelerate.Accelerator(cpu=True),
        max_epochs=1,
        random_state=0,
        optimizer=optimizer,
        verbose=0,
    )
    # Failed inside torch: "'NoneType' object is not callable".
    with pytest.raises(ValueError, match="LBFGS needs a closure"):
        clf.fit(X, y)
