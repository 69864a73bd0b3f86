"""Interrupted and resumed training.

An uninterrupted fit of ``a + b`` epochs is the reference: training stopped
after ``a`` epochs (cleanly or by Ctrl-C in the middle of the next one) and
resumed from a skorch ``Checkpoint`` with ``LoadInitState`` for ``b`` more
epochs must end with exactly the same parameters, on CPU with a fixed seed.
"""

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE
from sklearn.datasets import make_classification
from skorch.callbacks import Callback, Checkpoint, LoadInitState

from rsft_sklearn import RSFTClassifier

PARAMS = dict(
    random_state=0, batch_size=64, module__hidden_layer_sizes=(16,), **SAMPLE_RULE
)
EPOCHS_BEFORE, EPOCHS_AFTER = 3, 3


@pytest.fixture(scope="module")
def data():
    return make_classification(
        n_samples=400, n_features=6, weights=[0.85], flip_y=0.02, random_state=1
    )


@pytest.fixture(scope="module")
def uninterrupted(data):
    return RSFTClassifier(max_epochs=EPOCHS_BEFORE + EPOCHS_AFTER, **PARAMS).fit(*data)


class InterruptAt(Callback):
    """Raise KeyboardInterrupt after ``batch`` batches of epoch ``epoch``."""

    def __init__(self, epoch, batch):
        self.epoch = epoch
        self.batch = batch

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        row = net.history[-1]
        if len(net.history) == self.epoch and len(row["batches"]) == self.batch:
            raise KeyboardInterrupt


def _checkpoint(dirname, **kwargs):
    return Checkpoint(monitor=None, dirname=str(dirname), **kwargs)


def _same_parameters(a, b):
    pa, pb = a.module_.state_dict(), b.module_.state_dict()
    return pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)


def _resume(data, dirname, **params):
    checkpoint = _checkpoint(dirname, f_generators="generators.pt")
    clf = RSFTClassifier(
        max_epochs=EPOCHS_AFTER,
        callbacks=[checkpoint, LoadInitState(checkpoint)],
        **{**PARAMS, **params},
    )
    return clf.fit(*data)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"hardness": 0.0},
        # The warm-up ends inside the resumed run: the loaded history decides.
        {"warmup_epochs": 4},
        {"loss_normalization": "batch", "optimizer": torch.optim.SGD},
    ],
    ids=["default", "hardness0", "warmup-across-resume", "batch-norm-sgd"],
)
def test_resumed_training_ends_where_uninterrupted_training_ends(
    data, tmp_path, params
):
    full = RSFTClassifier(
        max_epochs=EPOCHS_BEFORE + EPOCHS_AFTER, **{**PARAMS, **params}
    )
    full.fit(*data)

    checkpoint = _checkpoint(tmp_path, f_generators="generators.pt")
    RSFTClassifier(
        max_epochs=EPOCHS_BEFORE, callbacks=[checkpoint], **{**PARAMS, **params}
    ).fit(*data)
    resumed = _resume(data, tmp_path, **params)

    assert _same_parameters(full, resumed)
    assert len(resumed.history) == len(full.history)
    for key in ("acceptance_rate", "acceptance_rate[0]", "acceptance_rate[1]"):
        assert resumed.history[:, key] == full.history[:, key]
    np.testing.assert_array_equal(
        resumed.predict_proba(data[0]), full.predict_proba(data[0])
    )


@pytest.mark.parametrize("rejection", ["sample", "expected"])
def test_resumed_adaptive_M_continues_where_it_stopped(data, tmp_path, rejection):
    # The adaptive M lives in the loss module's buffers: Checkpoint saves them
    # with f_criterion, and LoadInitState puts them back before the first
    # step of the resumed run.
    params = {"M": "auto", "target_acceptance": 0.4, "rejection": rejection}
    full = RSFTClassifier(
        max_epochs=EPOCHS_BEFORE + EPOCHS_AFTER, **{**PARAMS, **params}
    )
    full.fit(*data)

    files = {"f_criterion": "criterion.pt", "f_generators": "generators.pt"}
    checkpoint = _checkpoint(tmp_path, **files)
    first = RSFTClassifier(
        max_epochs=EPOCHS_BEFORE, callbacks=[checkpoint], **{**PARAMS, **params}
    ).fit(*data)
    assert "log_M" in first.criterion_.state_dict()
    checkpoint = _checkpoint(tmp_path, **files)
    resumed = RSFTClassifier(
        max_epochs=EPOCHS_AFTER,
        callbacks=[checkpoint, LoadInitState(checkpoint)],
        **{**PARAMS, **params},
    ).fit(*data)

    assert _same_parameters(full, resumed)
    for key in ("M_effective", "acceptance_rate", "acceptance_rate[1]"):
        assert resumed.history[:, key] == full.history[:, key]
    assert torch.equal(resumed.criterion_.log_M, full.criterion_.log_M)
    assert resumed.final_M_ == full.final_M_


def test_without_the_loss_state_adaptive_M_starts_afresh(data, tmp_path):
    params = {"M": "auto", "target_acceptance": 0.4}
    full = RSFTClassifier(
        max_epochs=EPOCHS_BEFORE + EPOCHS_AFTER, **{**PARAMS, **params}
    )
    full.fit(*data)
    checkpoint = _checkpoint(tmp_path, f_criterion=None, f_generators="generators.pt")
    RSFTClassifier(
        max_epochs=EPOCHS_BEFORE, callbacks=[checkpoint], **{**PARAMS, **params}
    ).fit(*data)
    resumed = RSFTClassifier(
        max_epochs=EPOCHS_AFTER,
        callbacks=[checkpoint, LoadInitState(checkpoint)],
        **{**PARAMS, **params},
    ).fit(*data)
    assert resumed.history[-1, "M_effective"] != full.history[-1, "M_effective"]


def test_keyboard_interrupt_leaves_a_usable_model_and_consistent_history(
    data, uninterrupted, tmp_path
):
    X, y = data
    stop_epoch, stop_batch = EPOCHS_BEFORE + 1, 2
    checkpoint = _checkpoint(tmp_path, f_generators="generators.pt")
    clf = RSFTClassifier(
        max_epochs=EPOCHS_BEFORE + EPOCHS_AFTER,
        callbacks=[checkpoint, InterruptAt(stop_epoch, stop_batch)],
        **PARAMS,
    )
    assert clf.fit(X, y) is clf

    # Finished epochs are complete rows; the interrupted one holds exactly
    # the batches that were trained, and no epoch-level numbers.
    assert len(clf.history) == stop_epoch
    for row in clf.history[:-1]:
        assert {"train_loss", "acceptance_rate", "M_effective"} <= row.keys()
        assert len(row["batches"]) == -(-len(X) // PARAMS["batch_size"])
    assert len(clf.history[-1]["batches"]) == stop_batch
    assert "acceptance_rate" not in clf.history[-1]
    # The cut epoch's batch losses are numbers (they were placeholders that
    # JSON could not write: a truncated history.json, and a resume from it
    # failed), so the history saves and loads.
    assert all(
        type(batch["train_loss"]) is float for batch in clf.history[-1]["batches"]
    )
    clf.history.to_file(str(tmp_path / "history.json"))
    assert len(clf.history[:, "acceptance_rate"]) == EPOCHS_BEFORE

    # The model predicts and its parameters are finite.
    assert all(torch.isfinite(p).all() for p in clf.module_.parameters())
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(clf.predict(X)) <= set(clf.classes_)

    # A new process resumes from the last finished epoch's checkpoint.
    assert _same_parameters(uninterrupted, _resume(data, tmp_path))

    # Training goes on in the same process after the interrupt
    # (it moves the checkpoint on, so it comes last).
    before = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    clf.partial_fit(X, y)
    assert len(clf.history) == stop_epoch + clf.max_epochs
    assert not all(
        torch.equal(before[k], v) for k, v in clf.module_.state_dict().items()
    )


def test_resume_without_the_generator_state_draws_another_stream(
    data, uninterrupted, tmp_path
):
    # Why the generator state belongs in the checkpoint: without it, the
    # resumed run restarts the shuffles and masks from the seed.
    full = uninterrupted
    checkpoint = _checkpoint(tmp_path)
    RSFTClassifier(max_epochs=EPOCHS_BEFORE, callbacks=[checkpoint], **PARAMS).fit(
        *data
    )
    resumed = RSFTClassifier(
        max_epochs=EPOCHS_AFTER,
        callbacks=[checkpoint, LoadInitState(checkpoint)],
        **PARAMS,
    ).fit(*data)
    assert len(resumed.history) == len(full.history)
    assert not _same_parameters(full, resumed)


def test_generator_state_round_trips_through_save_params(data, tmp_path):
    X, y = data
    clf = RSFTClassifier(max_epochs=2, warm_start=True, **PARAMS).fit(X, y)
    path = tmp_path / "generators.pt"
    clf.save_params(f_params=tmp_path / "params.pt", f_generators=path)
    states = {k: v.clone() for k, v in clf.generators_.state_dict().items()}
    seed = states.pop("init_seed_")
    assert seed.dtype == torch.int64 and seed.tolist() == [clf.init_seed_]
    assert set(states) == {"mask_generator_", "shuffle_generator_"}
    assert all(
        s.dtype == torch.uint8 and s.device.type == "cpu" for s in states.values()
    )

    clf.fit(X, y)  # warm start: moves the generators on
    assert not torch.equal(clf.mask_generator_.get_state(), states["mask_generator_"])
    clf.load_params(f_generators=path)
    for name, state in states.items():
        assert torch.equal(getattr(clf, name).get_state(), state)


def test_generators_attribute_needs_an_initialised_estimator():
    clf = RSFTClassifier()
    assert not hasattr(clf, "generators_")
    with pytest.raises(AttributeError, match="un-initiali[sz]ed"):
        clf.save_params(f_generators="never-written.pt")


def test_a_pickle_taken_during_the_fit_leaves_the_fit_state_out(data, tmp_path):
    # Checkpoint(f_pickle=...) pickled the training data and the list of
    # modules that switches train and eval mode: loaded and refitted with a
    # rebuilt module, predict ran with dropout on.
    import pickle

    X, y = data
    checkpoint = _checkpoint(tmp_path, f_pickle="net.pkl")
    clf = RSFTClassifier(
        max_epochs=2, module__dropout=0.0, callbacks=[checkpoint], **PARAMS
    ).fit(X, y)
    with open(tmp_path / "net.pkl", "rb") as f:
        loaded = pickle.load(f)
    assert "fit_state_" not in vars(loaded)
    loaded.set_params(module__dropout=0.5, warm_start=False, callbacks=None).fit(X, y)
    np.testing.assert_array_equal(loaded.predict_proba(X), loaded.predict_proba(X))
    assert "fit_state_" not in vars(clf)


class Scripted(Callback):
    """Record ``values[epoch]`` in the history's column ``key``, for
    EarlyStopping or Checkpoint to read."""

    def __init__(self, key, values):
        self.key = key
        self.values = values

    def on_epoch_end(self, net, **kwargs):
        net.history.record(self.key, self.values[len(net.history) - 1])


@pytest.mark.parametrize(
    "params",
    [
        {"M": "auto", "target_acceptance": 0.5},
        {"warmup_epochs": 3},
        {"rejection": "expected", "prior_correction": 1.0, "M": 2.0},
    ],
    ids=["auto-M", "best-is-warmup", "prior-correction"],
)
def test_early_stopping_load_best_predicts_as_a_fit_stopped_there(data, params):
    # EarlyStopping(load_best=True) puts back the best epoch's weights; the
    # output must then be corrected with that epoch's rule, not the last
    # epoch's (the balanced output was off by up to 0.06).
    from skorch.callbacks import EarlyStopping

    params = {**PARAMS, "warmup_epochs": 1, **params}
    stop = EarlyStopping(monitor="score", patience=3, load_best=True)
    scores = [5.0, 4.0, 1.0, 3.0, 3.0, 3.0]
    early = RSFTClassifier(
        max_epochs=len(scores), callbacks=[Scripted("score", scores), stop], **params
    ).fit(*data)
    assert stop.best_epoch_ == 3 and len(early.history) == 6
    at_best = RSFTClassifier(max_epochs=3, **params).fit(*data)
    assert _same_parameters(early, at_best)
    X = data[0]
    np.testing.assert_array_equal(early.predict_proba(X), at_best.predict_proba(X))
    assert early.final_M_ == at_best.final_M_
    # What continued training starts from is that epoch's too.
    for name in ("_acceptance_rates", "_trained_rows"):
        np.testing.assert_array_equal(
            getattr(early, name, None), getattr(at_best, name, None)
        )
    # The last epoch's own output differs: the check has something to see.
    last = RSFTClassifier(max_epochs=len(scores), **params).fit(*data)
    assert not np.allclose(last.predict_proba(X), at_best.predict_proba(X))


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"f_history": None},
        {"event_name": None},
        {"event_name": None, "f_history": None},
        {"f_params": None, "f_module": "module.pt"},
    ],
    ids=["default", "no-history", "no-event", "neither", "f_module"],
)
def test_checkpoint_load_best_predicts_as_a_fit_stopped_there(data, tmp_path, files):
    # Checkpoint(load_best=True) loads its last checkpoint's weights (and
    # history) when training ends; final_M_ stayed the last epoch's.
    events = [True, False, True, False, False, False]
    params = {**PARAMS, "warmup_epochs": 1, "M": lambda epoch: 1.0 + 2.0 * epoch}
    best = Checkpoint(monitor="good", load_best=True, dirname=str(tmp_path), **files)
    clf = RSFTClassifier(
        max_epochs=len(events), callbacks=[Scripted("good", events), best], **params
    ).fit(*data)
    at_best = RSFTClassifier(max_epochs=3, **params).fit(*data)
    assert _same_parameters(clf, at_best)
    assert clf.final_M_ == at_best.final_M_ == 5.0
    X = data[0]
    np.testing.assert_array_equal(clf.predict_proba(X), at_best.predict_proba(X))


def test_a_fresh_fit_stopped_in_its_first_epoch_keeps_no_earlier_rule(data):
    # A refit interrupted before its first epoch ended kept the earlier fit's
    # final_M_, prior_correction and prior after rejection, and corrected
    # the new network's output with them.
    clf = RSFTClassifier(
        max_epochs=2, **{**PARAMS, "prior_correction": 1.0, "warmup_epochs": 1}
    ).fit(*data)
    assert clf.final_M_ == 1.0 and hasattr(clf, "loss_class_prior_")
    clf.set_params(prior_correction=0.0, callbacks=[InterruptAt(epoch=1, batch=1)])
    clf.fit(*data)
    assert len(clf.history) == 1
    # No epoch ended: no rule, and the fit's own prior_correction.
    assert clf.final_M_ is None and clf.final_prior_correction_ == 0.0
    assert not hasattr(clf, "loss_class_prior_")
    proba = clf.predict_proba(data[0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_resume_with_dropout_and_no_random_state_matches_the_uninterrupted_fit(
    data, tmp_path
):
    # Every epoch reseeds torch's global generator (dropout) from init_seed_,
    # which a resumed estimator drew anew when random_state is None: the
    # resumed fit ended 0.015 away in a parameter.
    X, y = data
    params = dict(module__dropout=0.3, batch_size=32, warmup_epochs=1)
    # random_state=None draws the seeds from NumPy's global generator: the
    # same start for the full fit and the first half.
    np.random.seed(0)  # noqa: NPY002
    full = RSFTClassifier(max_epochs=4, **params).fit(X, y)
    np.random.seed(0)  # noqa: NPY002
    checkpoint = Checkpoint(
        monitor=None,
        f_params="params.pt",
        f_optimizer="optimizer.pt",
        f_criterion="criterion.pt",
        f_history="history.json",
        f_generators="generators.pt",
        dirname=str(tmp_path),
    )
    RSFTClassifier(max_epochs=2, callbacks=[checkpoint], **params).fit(X, y)
    resumed = RSFTClassifier(
        max_epochs=2, callbacks=[checkpoint, LoadInitState(checkpoint)], **params
    ).fit(X, y)
    assert len(resumed.history) == 4
    for a, b in zip(full.module_.parameters(), resumed.module_.parameters()):
        assert torch.equal(a, b)
