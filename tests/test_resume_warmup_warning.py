"""The warm-up across resumed and short fits, and ramps checked per epoch.

A fit resumed with skorch's ``LoadInitState`` warns, as continued training
in the same process does, where its warm-up comes back after epochs that
rejected; a fractional warm-up that rounds to every epoch of a fit warns
(not a ``partial_fit``, whose training later calls continue); a ramp given
as ``M`` or ``hardness`` is checked in each epoch as it begins, as any
schedule is, so that a fit stopped (or a schedule replaced) before an epoch
out of range trains.
"""

import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, LoadInitState

from rsft_sklearn import LinearRamp, RSFTClassifier, RSFTWarning

PARAMS = dict(
    rejection="sample",
    M=3.0,
    random_state=0,
    batch_size=32,
    module__hidden_layer_sizes=(8,),
)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=200,
        n_features=6,
        n_informative=4,
        n_classes=3,
        weights=[0.7, 0.2, 0.1],
        random_state=1,
    )
    return X.astype(np.float32), y


def _checkpoint(dirname):
    return Checkpoint(monitor=None, dirname=str(dirname), f_generators="g.pt")


def _same_parameters(a, b):
    pa, pb = a.module_.state_dict(), b.module_.state_dict()
    return pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)


def _first_part(data, dirname, **params):
    """Three epochs (a warm-up of one, then two that reject), saved."""
    return RSFTClassifier(
        max_epochs=3,
        warmup_epochs=1,
        callbacks=[_checkpoint(dirname)],
        **{**PARAMS, **params},
    ).fit(*data)


def _resumed(data, dirname, **params):
    checkpoint = _checkpoint(dirname)
    return RSFTClassifier(
        callbacks=[checkpoint, LoadInitState(checkpoint)], **{**PARAMS, **params}
    ).fit(*data)


def _rule_warnings(record):
    return [str(w.message) for w in record if issubclass(w.category, RSFTWarning)]


def test_resumed_warm_up_after_rejecting_epochs_warns_as_continued_training(
    data, tmp_path
):
    # The resumed fit brought the warm-up back (epochs 4 and 5 trained
    # without the rule) without a word: whether the last epoch rejected was
    # known only to the estimator that trained it.
    first = _first_part(data, tmp_path)
    with warnings.catch_warnings(record=True) as resumed_warnings:
        warnings.simplefilter("always")
        resumed = _resumed(data, tmp_path, max_epochs=3, warmup_epochs=5)
    with warnings.catch_warnings(record=True) as continued_warnings:
        warnings.simplefilter("always")
        first.set_params(warmup_epochs=5, callbacks=None).partial_fit(*data)
    seen = _rule_warnings(resumed_warnings)
    assert seen == _rule_warnings(continued_warnings)
    assert len(seen) == 1
    assert seen[0].startswith(
        "Epochs 4 to 5 (counted from 1) are warm-up epochs (warmup_epochs=5), "
        "after epochs that rejected"
    )
    assert "at most 3, the epochs trained so far" in seen[0]
    # The history says which epochs were warm-up epochs; the numbers are
    # those of the continuation in the same process.
    assert resumed.history[:, "warmup"] == [True, False, False, True, True, False]
    rates = resumed.history[:, "acceptance_rate"]
    assert rates == first.history[:, "acceptance_rate"]
    assert rates[0] == rates[3] == rates[4] == 1.0
    assert max(rates[1:3]) < 1.0 and rates[5] < 1.0


def test_resumed_fractional_warm_up_after_rejecting_epochs_warns(data, tmp_path):
    # A fresh estimator takes a third of its own max_epochs=15 (5 epochs)
    # as the warm-up, past the 3 loaded epochs, of which 2 rejected.
    _first_part(data, tmp_path)
    with pytest.warns(RSFTWarning) as record:
        resumed = _resumed(data, tmp_path, max_epochs=15, warmup_epochs=1 / 3)
    (message,) = _rule_warnings(record)
    assert message.startswith(
        "Epochs 4 to 5 (counted from 1) are warm-up epochs (warmup_epochs="
        f"{1 / 3!r} of 15 epochs), after epochs that rejected"
    )
    assert resumed.history[:, "warmup"][:6] == [True, False, False] + [True] * 2 + [
        False
    ]


def test_resumed_fit_that_goes_on_rejecting_does_not_warn(data, tmp_path):
    first = _first_part(data, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        resumed = _resumed(data, tmp_path, max_epochs=3, warmup_epochs=1)
        first.set_params(callbacks=None).partial_fit(*data)
    assert resumed.history[:, "warmup"] == [True] + [False] * 5
    assert first.history[:, "warmup"] == [True] + [False] * 5
    # The resumed fit ends as the uninterrupted one.
    full = RSFTClassifier(max_epochs=6, warmup_epochs=1, **PARAMS).fit(*data)
    assert _same_parameters(resumed, full)


def test_a_history_saved_without_the_warmup_key_still_resumes(data, tmp_path):
    # A history written by a version that did not record the key: it loads
    # and resumes as before, to the same numbers (the warning needs the key,
    # and is not given).
    _first_part(data, tmp_path / "new")
    shutil.copytree(tmp_path / "new", tmp_path / "old")
    path = tmp_path / "old" / "history.json"
    rows = json.loads(path.read_text())
    for row in rows:
        del row["warmup"]
    path.write_text(json.dumps(rows))
    with pytest.warns(RSFTWarning, match="Epochs 4 to 5"):
        new = _resumed(data, tmp_path / "new", max_epochs=3, warmup_epochs=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        old = _resumed(data, tmp_path / "old", max_epochs=3, warmup_epochs=5)
    assert ["warmup" in row for row in old.history] == [False] * 3 + [True] * 3
    assert [row["warmup"] for row in old.history[3:]] == [True, True, False]
    assert old.history[:, "acceptance_rate"] == new.history[:, "acceptance_rate"]
    assert _same_parameters(old, new)


@pytest.mark.parametrize(
    ("max_epochs", "warmup_epochs", "share", "count"),
    [(1, 0.5, "0.5", 0), (2, 0.75, "0.75", 1), (3, 0.9, "0.833", 2)],
)
def test_fractional_warm_up_of_every_epoch_warns(
    data, max_epochs, warmup_epochs, share, count
):
    # M, hardness and target had no effect, without a word: the share
    # rounded to every epoch.
    params = dict(PARAMS, max_epochs=max_epochs)
    with pytest.warns(RSFTWarning) as record:
        fractional = RSFTClassifier(warmup_epochs=warmup_epochs, **params).fit(*data)
    epochs = f"{max_epochs} epoch" + ("s" if max_epochs > 1 else "")
    assert _rule_warnings(record) == [
        f"warmup_epochs={warmup_epochs!r}, a share of {epochs}, rounds to "
        f"{max_epochs}: every epoch of the training is a warm-up epoch, which "
        "applies no rule, so M, hardness and target have no effect. Give a "
        f"smaller share (below {share}) or a count (warmup_epochs={count} "
        "leaves the last epoch to the rule), or train more epochs; an integer "
        "warmup_epochs of all the epochs trains without the rule without this "
        "warning."
    ]
    assert fractional.history[:, "warmup"] == [True] * max_epochs
    # Training is as before: that of the integer count of every epoch.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        plain = RSFTClassifier(warmup_epochs=max_epochs, **params).fit(*data)
    assert _same_parameters(fractional, plain)
    # Below the share shown, the last epoch rejects.
    below = float(share) - 0.001
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        rejecting = RSFTClassifier(warmup_epochs=below, **params).fit(*data)
    assert rejecting.history[-1, "warmup"] is False
    assert rejecting.history[-1, "acceptance_rate"] < 1.0


@pytest.mark.parametrize(
    ("max_epochs", "warmup_epochs", "warm_up"),
    [
        (1, 1 / 3, 0),
        (2, 1 / 3, 1),
        (3, 1 / 3, 1),
        (5, 0.8, 4),
        (1, 1, 1),
        (2, 2, 2),
        (2, 5, 2),
        (3, 3, 3),
    ],
)
def test_default_and_integer_warm_ups_do_not_warn(
    data, max_epochs, warmup_epochs, warm_up
):
    # The default third never rounds to every epoch (of one epoch it is
    # none, and the epoch rejects); an integer count of them all is plain
    # training, as the benchmark's rivals ask for it.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        clf = RSFTClassifier(
            max_epochs=max_epochs, warmup_epochs=warmup_epochs, **PARAMS
        ).fit(*data)
    assert clf.history[:, "warmup"] == [True] * warm_up + [False] * (
        max_epochs - warm_up
    )
    rates = clf.history[:, "acceptance_rate"]
    assert all(rate == 1.0 for rate in rates[:warm_up])
    assert all(rate < 1.0 for rate in rates[warm_up:])


def test_partial_fit_loop_over_a_warm_up_share_does_not_warn(data):
    # Each call's epoch is a warm-up epoch, but the share is one of
    # max_epochs=9: the rule starts at the fourth call.
    loop = RSFTClassifier(max_epochs=9, warmup_epochs=1 / 3, **PARAMS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        for _ in range(5):
            loop.partial_fit(*data, epochs=1)
    assert loop.history[:, "warmup"] == [True] * 3 + [False] * 2


def test_first_partial_fit_of_more_epochs_than_the_share_does_not_warn(data):
    # The share is one of max_epochs=2 (two warm-up epochs), and the call
    # trains five: the last three reject. It warned that every epoch was a
    # warm-up epoch.
    clf = RSFTClassifier(max_epochs=2, warmup_epochs=0.75, **PARAMS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        clf.partial_fit(*data, classes=[0, 1, 2], epochs=5)
    assert clf.history[:, "warmup"] == [True, True, False, False, False]
    rates = clf.history[:, "acceptance_rate"]
    assert rates[:2] == [1.0, 1.0]
    assert all(rate < 1.0 for rate in rates[2:])


@pytest.mark.parametrize("epochs", [None, 1])
def test_partial_fit_loop_whose_first_call_is_the_warm_up_does_not_warn(data, epochs):
    # warmup_epochs=0.5 of max_epochs=1 is the first call's epoch, and the
    # calls after it reject: the first call warned that every epoch was a
    # warm-up epoch.
    loop = RSFTClassifier(max_epochs=1, warmup_epochs=0.5, **PARAMS)
    fit_params = {} if epochs is None else {"epochs": epochs}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        for _ in range(3):
            loop.partial_fit(*data, classes=[0, 1, 2], **fit_params)
    assert loop.history[:, "warmup"] == [True, False, False]
    rates = loop.history[:, "acceptance_rate"]
    assert rates[0] == 1.0 and rates[1] < 1.0 and rates[2] < 1.0


def test_fit_of_fewer_epochs_than_max_epochs_warns_of_its_own(data):
    # A fit's share is one of the epochs it trains (epochs=1), not of
    # max_epochs=10: its one epoch is the warm-up.
    with pytest.warns(RSFTWarning) as record:
        clf = RSFTClassifier(max_epochs=10, warmup_epochs=0.5, **PARAMS).fit(
            *data, epochs=1
        )
    (message,) = _rule_warnings(record)
    assert message.startswith(
        "warmup_epochs=0.5, a share of 1 epoch, rounds to 1: every epoch of the "
        "training is a warm-up epoch"
    )
    assert clf.history[:, "warmup"] == [True]
    # Of two epochs, the second rejects, without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        clf = RSFTClassifier(max_epochs=1, warmup_epochs=0.5, **PARAMS).fit(
            *data, epochs=2
        )
    assert clf.history[:, "warmup"] == [True, False]


def test_a_fit_stopped_before_its_ramp_leaves_the_range_trains(data):
    # M reaches 0 in epoch 6 of 10, but EarlyStopping ends the fit after
    # three epochs: it was refused before training.
    stop = EarlyStopping(monitor="train_loss", patience=2, threshold=100.0)
    clf = RSFTClassifier(
        max_epochs=10,
        warmup_epochs=0,
        callbacks=[stop],
        **{**PARAMS, "M": LinearRamp(2.0, 0.0, n_epochs=6)},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RSFTWarning)
        clf.fit(*data)
    assert len(clf.history) == 3
    assert clf.history[:, "M_effective"] == pytest.approx([2.0, 5 / 3, 4 / 3])


class _FixM(Callback):
    """Replaces the ramp by a fixed M after two epochs."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            net.set_params(M=2.0)


def test_a_ramp_replaced_during_the_fit_is_checked_per_epoch(data):
    # The ramp reaches 0 in epoch 4, after a callback replaced it (as
    # set_params may between epochs): it was refused before training.
    clf = RSFTClassifier(
        max_epochs=6,
        warmup_epochs=0,
        callbacks=[_FixM()],
        **{**PARAMS, "M": LinearRamp(2.0, 0.0, n_epochs=4)},
    )
    clf.fit(*data)
    assert clf.history[:, "M_effective"] == [2.0, 1.5, 2.0, 2.0, 2.0, 2.0]


def test_a_ramp_that_leaves_the_range_fails_in_that_epoch(data):
    # hardness 5e-31 in epoch 19 is refused when that epoch begins (the
    # values between 0 and 1e-30 are: the rule's float32 arithmetic).
    clf = RSFTClassifier(
        max_epochs=21,
        warmup_epochs=0,
        **{**PARAMS, "hardness": LinearRamp(1e-29, 0.0, n_epochs=20)},
    )
    with pytest.raises(ValueError) as caught:
        clf.fit(*data)
    assert str(caught.value).startswith(
        "Epoch 19 (counted from 0) of the schedule given as M or hardness: "
        "hardness is 5e-31: it must be 0 or within [1e-30, "
    )
