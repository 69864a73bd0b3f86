"""The prior after rejection in continued training (``partial_fit``,
``warm_start``), and the refusal of a later chunk's unknown labels."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from rsft_sklearn import RejectionLoss, RSFTClassifier
from rsft_sklearn._validation import encode_labels

# The keys of the loss's state_dict: the background mass is not one of them.
STATE_KEYS = {
    "class_weight",
    "M",
    "log_M",
    "M_started",
    "epoch_log_M",
    "counts",
    "prior_mass",
}


class EpochRecord(Callback):
    """Per epoch: how far the parameters moved, the acceptance mass the loss
    counted, and the prior after rejection it trained against at the end."""

    def initialize(self):
        self.clear()
        self.start = None
        return self

    def clear(self):
        self.moves, self.masses, self.priors = [], [], []

    def on_epoch_begin(self, net, **kwargs):
        self.start = _parameters(net)

    def on_epoch_end(self, net, **kwargs):
        self.moves.append(float((_parameters(net) - self.start).norm()))
        loss = net.criterion_
        self.masses.append(loss.epoch_statistics()["acceptance"].numpy().copy())
        self.priors.append(loss.log_prior_after_rejection().exp().numpy().copy())


def _parameters(net):
    return torch.cat([p.detach().flatten().clone() for p in net.module_.parameters()])


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=300,
        n_features=6,
        n_informative=4,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=0,
    )
    return X.astype(np.float32), y


def _classifier(rejection="expected", **params):
    # Plain SGD: a parameter moves by the gradient, without momentum to
    # carry an earlier epoch's step into one whose loss is 0.
    settings = dict(
        max_epochs=3,
        batch_size=16,
        lr=0.05,
        optimizer=torch.optim.SGD,
        random_state=0,
        module__hidden_layer_sizes=(16,),
        warmup_epochs=0,
        rejection=rejection,
        # Under "sample", an M that rejects some rows of every class.
        M=2.0 if rejection == "sample" else 1.0,
        callbacks=[EpochRecord()],
    )
    settings.update(params)
    return RSFTClassifier(**settings)


def _record(clf):
    return dict(clf.callbacks_)["EpochRecord"]


def _one_class_chunk(data):
    """40 rows of class 2 to continue on, and the other rows of class 2."""
    X, y = data
    return (X[y == 2][:40], y[y == 2][:40]), X[y == 2][40:]


def _continue(clf, chunk, how):
    if how == "partial_fit":
        return clf.partial_fit(*chunk)
    return clf.set_params(warm_start=True).fit(*chunk)


@pytest.mark.parametrize(
    "rejection, how",
    [
        ("expected", "partial_fit"),
        ("sample", "partial_fit"),
        ("budget", "partial_fit"),
        ("expected", "warm_start"),
    ],
)
def test_a_chunk_of_one_class_trains_after_a_mixed_fit(data, rejection, how):
    # The logit adjustment removed the chunk's prior alone, 1 for its class,
    # which left its rows no loss: after the first epoch of the call no
    # parameter moved (moves 0.0037, 0, 0 under "expected"), and the mean
    # probability of class 2 on its held-out rows went from 0.556 to 0.559
    # (sample 0.654 -> 0.652, budget 0.393 -> 0.394). The prior now counts
    # the rows trained before, as prediction does: moves of 0.14, 0.10,
    # 0.09, and 0.556 -> 0.752 (sample 0.654 -> 0.821, budget 0.393 ->
    # 0.555; with prior_correction=0, 0.554 -> 0.740).
    chunk, held_out = _one_class_chunk(data)
    clf = _classifier(rejection).fit(*data)
    before = clf.predict_proba(held_out)[:, 2].mean()
    record = _record(clf)
    record.clear()
    _continue(clf, chunk, how)
    after = clf.predict_proba(held_out)[:, 2].mean()
    assert len(record.moves) == 3
    assert min(record.moves) > 0.05, record.moves
    assert after - before > 0.1, (before, after)
    # The prior it trained against is the stream's: class 2's share was 1.0
    # (0.474 now under "expected" and "budget", 0.513 under "sample").
    assert record.priors[-1][2] < 0.6, record.priors[-1]
    assert min(record.priors[-1]) > 0.2, record.priors[-1]


@pytest.mark.parametrize("rejection", ["expected", "sample", "budget"])
def test_the_training_prior_counts_the_earlier_rows_at_their_rates(data, rejection):
    # The background mass is the quantity loss_class_prior_ is the share
    # of: the rows the earlier calls trained on, times their acceptance
    # rates. It stays under the prior for the whole call, beside the last
    # finished epoch's mass (and the current epoch's).
    chunk, _ = _one_class_chunk(data)
    clf = _classifier(rejection).fit(*data)
    rows, rates = clf._trained_rows.copy(), clf._acceptance_rates.copy()
    background = rows * rates
    assert (rows > 0).all() and (background > 0).all()
    record = _record(clf)
    record.clear()
    clf.partial_fit(*chunk)
    loss = clf.criterion_
    # The third epoch started from the second's mass and the background.
    np.testing.assert_allclose(
        loss.prior_mass.numpy(), record.masses[1] + background, rtol=1e-12
    )
    total = record.masses[1] + record.masses[2] + background
    np.testing.assert_allclose(record.priors[-1], total / total.sum(), rtol=1e-5)
    # A continued call on one class: its mass is that class's alone.
    assert record.masses[2][:2].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("prior_correction", [1.0, 0.0])
def test_a_fresh_fit_trains_on_its_own_mass_alone(data, prior_correction):
    # No earlier rows, no background: the prior after rejection is the last
    # finished epoch's mass, exactly, as before. So is that of a continued
    # call without the logit adjustment, which does not read it.
    clf = _classifier(prior_correction=prior_correction).fit(*data)
    record = _record(clf)
    np.testing.assert_array_equal(clf.criterion_.prior_mass.numpy(), record.masses[1])
    if prior_correction:
        return
    record.clear()
    clf.partial_fit(*_one_class_chunk(data)[0])
    np.testing.assert_array_equal(clf.criterion_.prior_mass.numpy(), record.masses[1])


def test_a_continued_call_on_the_same_data_keeps_the_datas_prior(data):
    # Rows of classes 0, 1 and 2 at about 0.6, 0.3 and 0.1.
    X, y = data
    rows = np.r_[
        np.where(y == 0)[0], np.where(y == 1)[0][:50], np.where(y == 2)[0][:15]
    ]
    clf = _classifier(lr=0.01, optimizer=torch.optim.Adam).fit(X[rows], y[rows])
    record = _record(clf)
    # The fit's prior after rejection: 0.545, 0.327, 0.128 at its end.
    fitted = record.priors[-1]
    np.testing.assert_allclose(fitted, clf.loss_class_prior_, atol=0.01)
    record.clear()
    clf.partial_fit(X[rows], y[rows])
    # The continued call's: 0.544, 0.317, 0.139 to 0.547, 0.309, 0.143, as
    # its rows and the earlier ones are the same (the rates move as the
    # network trains).
    for prior in record.priors:
        np.testing.assert_allclose(prior, fitted, atol=0.03)
    np.testing.assert_allclose(record.priors[-1], clf.loss_class_prior_, atol=0.01)


def test_a_pickled_estimator_from_before_goes_on_training(data):
    # An estimator pickled before its loss kept a background mass lacks the
    # attribute: its continued training counts the earlier rows all the same.
    chunk, held_out = _one_class_chunk(data)
    clf = _classifier().fit(*data)
    before = clf.predict_proba(held_out)[:, 2].mean()
    blob = pickle.dumps(clf)
    old = pickle.loads(blob)
    del old.criterion_._buffers["_prior_background"]
    old.criterion_._non_persistent_buffers_set.discard("_prior_background")
    old = pickle.loads(pickle.dumps(old))
    assert old.criterion_._prior_background is None
    assert set(old.criterion_.state_dict()) == STATE_KEYS
    old.partial_fit(*chunk)
    new = pickle.loads(blob).partial_fit(*chunk)
    assert set(new.criterion_.state_dict()) == STATE_KEYS
    np.testing.assert_array_equal(
        old.predict_proba(held_out), new.predict_proba(held_out)
    )
    assert old.predict_proba(held_out)[:, 2].mean() - before > 0.1


def _stand_alone_loss():
    # Logits of 0 and class weights of 1 at M=1: every row is accepted
    # (min(1, 1 / 0.5)), so each adds 1 to its class's mass.
    loss = RejectionLoss(n_classes=2, rejection="expected", prior_correction=1.0)
    loss.train()
    return loss


def _step(loss, y):
    logits = torch.zeros(len(y), 2, requires_grad=True)
    loss(logits, torch.tensor(y)).backward()


def _prior(loss):
    return loss.log_prior_after_rejection().exp().tolist()


def test_a_stand_alone_loss_keeps_its_prior_without_background():
    loss = _stand_alone_loss()
    loss.set_class_prior([0.75, 0.25])
    assert _prior(loss) == pytest.approx([0.75, 0.25])
    _step(loss, [0, 0, 1])
    assert _prior(loss) == pytest.approx([2.75 / 4, 1.25 / 4])
    loss.begin_epoch()
    assert loss.prior_mass.tolist() == [2.0, 1.0]
    assert _prior(loss) == pytest.approx([2 / 3, 1 / 3])
    assert set(loss.state_dict()) == STATE_KEYS


def test_a_background_mass_stays_under_the_prior():
    loss = _stand_alone_loss()
    loss.set_class_prior([0.75, 0.25], background=[10.0, 0.0])
    assert loss.prior_mass.tolist() == [10.75, 0.25]
    _step(loss, [0, 0, 1])
    assert _prior(loss) == pytest.approx([12.75 / 14, 1.25 / 14])
    loss.begin_epoch()
    assert loss.prior_mass.tolist() == [12.0, 1.0]
    # An epoch without rows keeps the prior; the next counts its own rows
    # beside the background, which is added once.
    loss.begin_epoch()
    assert loss.prior_mass.tolist() == [12.0, 1.0]
    _step(loss, [1])
    loss.begin_epoch()
    assert loss.prior_mass.tolist() == [10.0, 1.0]
    assert _prior(loss) == pytest.approx([10 / 11, 1 / 11])
    assert set(loss.state_dict()) == STATE_KEYS
    # A new prior without one, or new class weights, drop it.
    loss.set_class_prior([0.5, 0.5])
    _step(loss, [1])
    loss.begin_epoch()
    assert loss.prior_mass.tolist() == [0.0, 1.0]
    loss.set_class_prior([0.5, 0.5], background=[4.0, 4.0])
    loss.set_class_weight([1.0, 1.0])
    loss.set_class_prior([0.5, 0.5])
    assert loss.prior_mass.tolist() == [0.5, 0.5]


def test_a_loss_pickled_with_the_background_as_an_attribute_keeps_it():
    # The form of the loss before the background mass was a buffer.
    loss = _stand_alone_loss()
    loss.set_class_prior([0.5, 0.5], background=[3.0, 1.0])
    loss.__dict__["_prior_background"] = loss._buffers.pop("_prior_background")
    loss._non_persistent_buffers_set.discard("_prior_background")
    loaded = pickle.loads(pickle.dumps(loss))
    assert "_prior_background" not in loaded.__dict__
    assert loaded._buffers["_prior_background"].tolist() == [3.0, 1.0]
    assert set(loaded.state_dict()) == STATE_KEYS
    _step(loaded, [0, 1])
    loaded.begin_epoch()
    assert loaded.prior_mass.tolist() == [4.0, 2.0]


def test_the_background_keeps_its_dtype_and_values_when_the_loss_is_cast():
    loss = _stand_alone_loss()
    loss.set_class_prior([0.5, 0.5], background=[1.0 + 2.0**-30, 2049.0])
    loss.half()
    assert loss._prior_background.dtype == torch.float64
    assert loss._prior_background.tolist() == [1.0 + 2.0**-30, 2049.0]
    # A loss without a background casts as before.
    _stand_alone_loss().half()


def test_a_failed_continued_call_leaves_the_background_as_it_was(data):
    # A partial_fit that failed at its first batch is undone, its loss's
    # buffers put back, but the background mass was a plain attribute: after
    # fit (200 rows) and partial_fit (33 rows of class 2), a failing
    # partial_fit left its own mass, [64, 69, 100], for the [64, 69, 67] of
    # the fit's rows that the loss held before it.
    X, y = data
    clf = _classifier(callbacks=None).fit(X[:200], y[:200])
    rest = slice(200, None)
    clf.partial_fit(X[rest][y[rest] == 2], y[rest][y[rest] == 2])
    loss = clf.criterion_
    before = loss._prior_background.clone()
    assert before.tolist() == [64.0, 69.0, 67.0]
    prior_before = loss.prior_mass.clone()

    class Fails(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                raise RuntimeError("the first batch fails")

    clf.set_params(callbacks=[("fails", Fails())])
    with pytest.raises(RuntimeError, match="the first batch fails"):
        clf.partial_fit(X[200:250], y[200:250])
    assert clf.criterion_ is loss
    assert torch.equal(loss._prior_background, before)
    assert torch.equal(loss.prior_mass, prior_before)


def test_a_loss_without_classes_keeps_the_background_until_its_first_batch():
    loss = RejectionLoss(rejection="expected", prior_correction=1.0).train()
    loss.set_class_prior([0.5, 0.5], background=[3.0, 1.0])
    _step(loss, [0, 1])
    assert _prior(loss) == pytest.approx([4.5 / 7, 2.5 / 7])
    loss.begin_epoch()
    assert loss.prior_mass.tolist() == [4.0, 2.0]


@pytest.mark.parametrize(
    "background", [[1.0], [1.0, -1.0], [1.0, float("nan")], [[1.0, 1.0]]]
)
def test_a_bad_background_is_refused(background):
    loss = _stand_alone_loss()
    with pytest.raises(ValueError, match="background must hold one finite"):
        loss.set_class_prior([0.5, 0.5], background=background)
    # Refused before anything changed.
    assert loss.prior_mass.tolist() == [0.0, 0.0]


def test_a_later_chunk_with_a_new_label_names_the_classes_and_the_fix(data):
    # It said "y contains labels not seen during fit: [5]." alone.
    X, y = data
    clf = RSFTClassifier(max_epochs=1, random_state=0).partial_fit(
        X, y, classes=[0, 1, 2]
    )
    with pytest.raises(
        ValueError,
        match=(
            r"not seen during fit: \[5\]\. .*classes_=\[0, 1, 2\]\. Name every "
            r"class .* at the first call \(partial_fit's classes=, "
        ),
    ):
        clf.partial_fit(X[:10], np.where(y[:10] == 0, 5, y[:10]))


def test_many_classes_are_shown_shortened():
    with pytest.raises(
        ValueError,
        match=r"classes_=\[0, 1, 2, 3, 4, 5, \.\.\., 37, 38, 39\] \(40 classes\)\.",
    ):
        encode_labels(np.array([99]), np.arange(40), continued=True)
    with pytest.raises(ValueError, match=r"\['z'\]\. .*classes_=\['a', 'b'\]\."):
        encode_labels(np.array(["z"]), np.array(["a", "b"]), continued=True)


def test_a_warm_start_fit_with_a_new_label_names_the_fix(data):
    X, y = data
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    clf.set_params(warm_start=True)
    with pytest.raises(
        ValueError,
        match=r"not seen during fit: \[7\]\. .*classes_=\[0, 1, 2\]\. .*fit afresh\.$",
    ):
        clf.fit(X[:10], np.where(y[:10] == 0, 7, y[:10]))


def _encoded_split(dataset, y=None, **kwargs):
    # A training part built anew from the class indices that train_split is
    # given, not the labels of fit's y.
    return Dataset(dataset.X[:40], np.arange(40) % 3), None


@pytest.mark.filterwarnings("ignore:train_split returned a training part")
def test_train_split_labels_outside_the_classes_are_not_told_to_fit_afresh():
    # A first fit whose validation set held a label outside y's was told
    # that the classes are "fixed by its first fit or partial_fit call" and
    # to "fit afresh"; a training part of encoded labels got that advice
    # beside the one that names its cause.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.array(["a", "b", "c"])[np.arange(60) % 3]
    valid = Dataset(X[:10], np.array(["a", "z"] * 5))
    with pytest.raises(ValueError) as info:
        RSFTClassifier(
            max_epochs=1, random_state=0, train_split=predefined_split(valid)
        ).fit(X, y)
    assert str(info.value) == (
        "The validation set of train_split: y contains labels not seen during "
        "fit: ['z']."
    )
    with pytest.raises(ValueError) as info:
        RSFTClassifier(max_epochs=1, random_state=0, train_split=_encoded_split).fit(
            X, y
        )
    message = str(info.value)
    assert message.startswith(
        "The training part of train_split: y contains labels not seen during "
        "fit: [0, 1, 2]. A new skorch Dataset that train_split returns holds "
        "the labels as y of fit holds them"
    )
    assert "fit afresh" not in message and "fixed by" not in message
    # A fitted estimator's get_split_datasets, given other labels.
    fitted = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError) as info:
        fitted.get_split_datasets(X[:4], np.array(["a", "b", "c", "q"]))
    assert str(info.value) == "y contains labels not seen during fit: ['q']."
