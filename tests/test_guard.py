"""The all-rejected guard: on the CPU a single torch optimiser's step is
skipped after reading the accepted count; on a device, fused optimisers
skip the step there and the others are snapshot-guarded. Every fit below
runs both ways (the device's way forced on the CPU)."""

import pickle

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE, two_class_data
from skorch.callbacks import Callback

from rsft_sklearn import MLPModule, RSFTClassifier
from rsft_sklearn._guards import (
    EmptyStepGuard,
    check_finite_parameters,
    skips_on_device,
)


@pytest.fixture(autouse=True, params=["host", "device"])
def path(request, monkeypatch):
    if request.param == "device":
        monkeypatch.setattr("rsft_sklearn._guards.HOST_READ_DEVICES", ())
    return request.param


def _data(n=96, seed=0):
    return two_class_data(n, 0.3, 5, seed)


class AcceptedPerBatch(Callback):
    """Read every step's accepted count (a test may wait for the device)."""

    def __init__(self):
        self.counts = []

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self.counts.append(int(net.criterion_.step_accepted))


def _fit(random_state=0, callbacks=(), **params):
    counter = AcceptedPerBatch()
    # hardness=0 and a large M: each row is kept with probability about 5%,
    # so most batches of 8 accept nothing.
    net = RSFTClassifier(
        M=20.0,
        hardness=0.0,
        target="uniform",
        max_epochs=2,
        batch_size=8,
        random_state=random_state,
        callbacks=[*callbacks, counter],
        **SAMPLE_RULE,
        **params,
    ).fit(*_data())
    return net, counter.counts


@pytest.mark.parametrize(
    "optimizer, params",
    [
        (torch.optim.Adam, {}),
        (torch.optim.AdamW, {"weight_decay": 0.1}),
        (torch.optim.SGD, {"momentum": 0.9, "weight_decay": 0.01}),
        (torch.optim.Adagrad, {}),
    ],
    ids=["adam", "adamw", "sgd-momentum", "adagrad"],
)
def test_fused_skip_equals_snapshot_guard(optimizer, params):
    # The first step accepts rows (the snapshot guard cannot take back the
    # optimiser state that a first step creates), many later ones do not.
    kwargs = {f"optimizer__{k}": v for k, v in params.items()}
    fused, counts = _fit(optimizer=optimizer, optimizer__fused=True, **kwargs)
    plain, counts_plain = _fit(optimizer=optimizer, optimizer__fused=False, **kwargs)
    assert counts == counts_plain
    assert counts[0] > 0
    assert 0 < sum(c > 0 for c in counts) < len(counts) - 5
    for a, b in zip(fused.module_.parameters(), plain.module_.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    state = fused.optimizer_.state_dict()["state"]
    if "step" in state[0]:
        assert float(state[0]["step"]) == sum(c > 0 for c in counts)


# random_state=3 accepts nothing in its first steps, which the snapshot
# guard of an unfused optimiser cannot take back (see above).
@pytest.mark.parametrize("fused, seed", [(True, 3), (False, 0)])
def test_host_skip_equals_device_skip(fused, seed, monkeypatch, path):
    if path == "device":
        pytest.skip("compares the two paths itself")
    host, counts = _fit(random_state=seed, optimizer__fused=fused)
    monkeypatch.setattr("rsft_sklearn._guards.HOST_READ_DEVICES", ())
    device, counts_device = _fit(random_state=seed, optimizer__fused=fused)
    assert counts == counts_device
    assert 0 < sum(c > 0 for c in counts) < len(counts) - 5
    for a, b in zip(host.module_.parameters(), device.module_.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    host_state = host.optimizer_.state_dict()["state"]
    device_state = device.optimizer_.state_dict()["state"]
    for key in host_state:
        for name, value in host_state[key].items():
            torch.testing.assert_close(value, device_state[key][name], rtol=0, atol=0)


def test_which_guards_read_the_host(path):
    adam = torch.optim.Adam(MLPModule(5, 2).parameters())
    sgd = torch.optim.SGD(MLPModule(5, 2).parameters(), lr=0.1)
    lbfgs = torch.optim.LBFGS(MLPModule(5, 2).parameters())

    class Wrapped:
        pass

    assert EmptyStepGuard([adam], "cpu").on_host is (path == "host")
    assert not EmptyStepGuard([adam, sgd], "cpu").on_host
    assert not EmptyStepGuard([lbfgs], "cpu").on_host
    assert not EmptyStepGuard([Wrapped()], "cpu").on_host
    assert not EmptyStepGuard([adam], "meta").on_host


def test_skipped_first_steps_leave_fused_adam_as_if_they_never_ran():
    # random_state=3 accepts nothing in its first six steps.
    fused, counts = _fit(random_state=3, optimizer__fused=True)
    assert counts[:6] == [0] * 6
    first = next(i for i, c in enumerate(counts) if c > 0)
    # Adam's step counter counts the steps that accepted something only,
    # so its bias correction is that of a fit without the empty steps.
    for state in fused.optimizer_.state.values():
        assert float(state["step"]) == sum(c > 0 for c in counts[first:])


def test_fused_sgd_momentum_first_steps_use_the_snapshot_guard():
    # Fused SGD allocates its momentum buffers uninitialised at its first
    # step; a skipped first step must not leave them so.
    net, counts = _fit(
        random_state=3,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__fused=True,
    )
    assert counts[0] == 0
    for state in net.optimizer_.state.values():
        assert torch.isfinite(state["momentum_buffer"]).all()
    assert all(torch.isfinite(p).all() for p in net.module_.parameters())


def test_nothing_accepted_leaves_fused_adam_untouched():
    torch.manual_seed(0)
    module = MLPModule(n_features=5, n_classes=2)
    before = [p.detach().clone() for p in module.parameters()]
    net = RSFTClassifier(
        module,
        M=1e9,
        hardness=0.0,
        max_epochs=2,
        batch_size=16,
        optimizer__fused=True,
        random_state=0,
        **SAMPLE_RULE,
    ).fit(*_data())
    assert net.history[:, "acceptance_rate"] == [0.0, 0.0]
    for a, b in zip(net.module_.parameters(), before):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for state in net.optimizer_.state.values():
        assert float(state["step"]) == 0
        assert not state["exp_avg"].any() and not state["exp_avg_sq"].any()


def test_skip_flag_does_not_stay_on_the_optimizer():
    net, _ = _fit(optimizer__fused=True)
    assert not hasattr(net.optimizer_, "found_inf")
    clone = pickle.loads(pickle.dumps(net))
    assert not hasattr(clone.optimizer_, "found_inf")
    np.testing.assert_array_equal(
        clone.predict_proba(_data()[0]), net.predict_proba(_data()[0])
    )


def test_which_optimisers_skip_on_the_device():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert skips_on_device(torch.optim.Adam(params, fused=True))
    assert skips_on_device(torch.optim.SGD(params, lr=0.1, fused=True))
    assert not skips_on_device(torch.optim.Adam(params))
    assert not skips_on_device(torch.optim.Adam(params, foreach=True))
    assert not skips_on_device(torch.optim.RMSprop(params))


def test_an_optimiser_with_an_unfused_group_does_not_skip_on_the_device():
    # Set to fused=False after a fit (or in a group of its own), a group
    # takes torch's other path, which fails on the skip flag ("Expected
    # grad_scale and found_inf to be None").
    first = torch.nn.Parameter(torch.zeros(2))
    second = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.Adam(
        [{"params": [first]}, {"params": [second], "fused": False}], fused=True
    )
    assert not skips_on_device(optimizer)
    module = MLPModule(5, 2)
    optimizer = torch.optim.Adam(module.parameters(), fused=True)
    optimizer.param_groups[0]["fused"] = False
    assert not skips_on_device(optimizer)


def test_a_group_set_to_unfused_stays_unfused():
    net, _ = _fit(optimizer__param_groups=[("layers.0.*", {"fused": False})])
    assert [group["fused"] for group in net.optimizer_.param_groups] == [False, None]


def test_continued_training_after_unfusing_the_default_adam(path):
    net, _ = _fit()
    net.set_params(optimizer__fused=False)
    before = [p.detach().clone() for p in net.module_.parameters()]
    net.partial_fit(*_data())
    assert any(not torch.equal(a, p) for a, p in zip(before, net.module_.parameters()))


def test_a_parameter_unfrozen_between_steps_is_put_back(path):
    # Unfrozen mid-fit (skorch's Unfreezer), it was missing from the copies,
    # which were reused while the state kept its size.
    torch.manual_seed(0)
    first, second = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([first, second], weight_decay=0.5)
    second.requires_grad_(False)
    guard = EmptyStepGuard([optimizer], "cpu")

    def step(n_accepted):
        guard.snapshot()
        optimizer.zero_grad()
        ((first + (second if second.requires_grad else 0)) ** 2).sum().backward()
        optimizer.step()
        guard.restore_if_none_accepted(torch.tensor(float(n_accepted)))

    step(1)
    step(1)
    second.requires_grad_(True)
    before = [first.detach().clone(), second.detach().clone()]
    step(0)
    torch.testing.assert_close(first.detach(), before[0], rtol=0, atol=0)
    torch.testing.assert_close(second.detach(), before[1], rtol=0, atol=0)


class _IntStepMomentum(torch.optim.Optimizer):
    """An optimiser from outside torch: a step count kept as a Python
    number, and a momentum tensor replaced (not written into) at every
    step."""

    def __init__(self, params, lr=0.05):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["calls"] = group.get("calls", 0) + 1
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] = state.get("step", 0) + 1
                buf = state.get("buf")
                state["buf"] = p.grad.clone() if buf is None else 0.9 * buf + p.grad
                p.add_(state["buf"], alpha=-group["lr"])
        return loss


class _StateOnEmpty(Callback):
    """The optimiser's state entries before and after every all-rejected
    step."""

    def __init__(self):
        self.changed, self.empty = [], 0

    def on_batch_begin(self, net, training=None, **kwargs):
        if training:
            self.before = self._entries(net.optimizer_)

    def on_batch_end(self, net, training=None, **kwargs):
        if training and int(net.criterion_.step_accepted) == 0:
            self.empty += 1
            after = self._entries(net.optimizer_)
            self.changed.append(after != self.before)

    @staticmethod
    def _entries(optimizer):
        state = [
            (k, v.tolist() if isinstance(v, torch.Tensor) else v)
            for p in optimizer.state
            for k, v in sorted(optimizer.state[p].items())
        ]
        groups = [g.get("calls") for g in optimizer.param_groups]
        return state, groups


def test_an_optimiser_from_outside_torch_is_left_as_it_was_on_the_cpu(path):
    if path == "device":
        pytest.skip("on a device only tensors written in place are put back")
    probe = _StateOnEmpty()
    net, counts = _fit(optimizer=_IntStepMomentum, callbacks=[probe])
    assert probe.empty > 5 and not any(probe.changed)
    taken = sum(c > 0 for c in counts)
    assert [g["calls"] for g in net.optimizer_.param_groups] == [taken]
    steps = [s["step"] for s in net.optimizer_.state.values()]
    assert steps and all(step == taken for step in steps)


def _guard_after_one_step(fused):
    torch.manual_seed(0)
    # About a million parameters.
    module = MLPModule(n_features=1000, n_classes=2, hidden_layer_sizes=(1000,))
    n_params = sum(p.numel() for p in module.parameters())
    optimizer = torch.optim.Adam(module.parameters(), fused=fused)
    module(torch.randn(4, 1000)).sum().backward()
    optimizer.step()
    guard = EmptyStepGuard([optimizer], "cpu")
    guard.snapshot()
    guard.accepted(torch.tensor(0.0))
    return guard, optimizer, n_params


def test_fused_guard_copies_nothing():
    guard, optimizer, n_params = _guard_after_one_step(fused=False)
    # Parameters and both moments (and the step counters).
    assert guard.snapshot_bytes >= 3 * 4 * n_params
    assert n_params > 1_000_000
    guard.restore_if_none_accepted(torch.tensor(0.0))

    guard, optimizer, _ = _guard_after_one_step(fused=True)
    assert guard.snapshot_bytes == 0
    assert optimizer.found_inf.item() == 1.0
    guard.restore_if_none_accepted(torch.tensor(0.0))
    assert not hasattr(optimizer, "found_inf")


def test_default_adam_runs_fused_unless_the_user_chose():
    from sklearn.base import clone

    net, _ = _fit()
    assert net.optimizer_.defaults["fused"]
    assert all(group["fused"] for group in net.optimizer_.param_groups)
    assert "optimizer__fused" not in net.get_params()
    fresh = clone(RSFTClassifier(max_epochs=1)).fit(*_data())
    assert "optimizer__fused" not in fresh.get_params()
    assert fresh.optimizer_.defaults["fused"]
    for params in (
        {"optimizer__foreach": True},
        {"optimizer__fused": False},
        {"optimizer": torch.optim.AdamW},
    ):
        other, _ = _fit(**params)
        assert not other.optimizer_.defaults.get("fused"), params
    # Training goes on with the same (fused) optimiser and its state.
    steps = float(net.optimizer_.state_dict()["state"][0]["step"])
    net.partial_fit(*_data())
    assert net.optimizer_.defaults["fused"]
    assert float(net.optimizer_.state_dict()["state"][0]["step"]) > steps


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_one_non_finite_value_anywhere_is_found(value, dtype):
    finite = [torch.zeros(0), torch.ones(3), torch.tensor(2.0)]
    check_finite_parameters(finite, epoch=1)
    broken = torch.zeros(4, 7, dtype=dtype)
    broken[2, 5] = value
    with pytest.raises(ValueError, match="stopped being finite in epoch 3"):
        check_finite_parameters([*finite, broken], epoch=3)


def test_fit_under_no_grad_trains_on_both_paths():
    # torch's optimisers call the closure with gradients on; so does the
    # CPU path that reads the accepted count.
    X, y = _data()
    plain = RSFTClassifier(max_epochs=2, random_state=0, **SAMPLE_RULE).fit(X, y)
    with torch.no_grad():
        net = RSFTClassifier(max_epochs=2, random_state=0, **SAMPLE_RULE).fit(X, y)
    for a, b in zip(net.module_.parameters(), plain.module_.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert net.history[:, "train_loss"] == plain.history[:, "train_loss"]


class _UserSGD(torch.optim.SGD):
    """An optimiser from outside torch.optim: always snapshot-guarded."""


def test_state_an_all_rejected_first_step_creates(path):
    # The copies put the parameters back, but the momentum buffers that the
    # first step created stayed, and the later steps differed from a fit
    # whose first steps never ran. On the CPU they are removed now; on an
    # accelerator that would need a host read, and they stay.
    X, y = _data()
    rule = {**SAMPLE_RULE, "warmup_epochs": 0, "hardness": 0.0}
    clf = RSFTClassifier(
        optimizer=_UserSGD,
        optimizer__momentum=0.9,
        optimizer__weight_decay=0.1,
        lr=0.1,
        max_epochs=1,
        **{**rule, "M": 1e30},
        random_state=0,
    ).fit(X, y)
    assert clf.history[-1, "acceptance_rate"] == 0.0
    assert (len(clf.optimizer_.state) == 0) == (path == "host")


def test_expected_rule_skips_a_batch_of_weights_zero():
    # Under "expected" a batch whose sample weights are all 0 accepts
    # nothing, but its step ran (Adam's step count and moments moved).
    X, y = _data(96)
    weight = np.ones(len(y))
    weight[:32] = 0.0
    params = dict(
        rejection="expected",
        warmup_epochs=0,
        max_epochs=2,
        batch_size=16,
        iterator_train__shuffle=False,
        random_state=0,
    )
    weighted = RSFTClassifier(**params).fit(X, y, sample_weight=weight)
    steps = [s["step"] for s in weighted.optimizer_.state.values()]
    # 6 batches an epoch, the first two of weight 0: 4 steps an epoch.
    assert {float(s) for s in steps} == {8.0}


class _Lazy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.LazyLinear(2)

    def forward(self, X):
        return self.linear(X)


def test_lazy_module_trains_with_the_default_optimizer():
    # Fusing the default Adam read the dtype of a parameter a lazy module has
    # not initialised yet, and the fit failed.
    X, y = _data()
    clf = RSFTClassifier(module=_Lazy, max_epochs=2, random_state=0).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()


class _ComplexWeight(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(5, 2, dtype=torch.cfloat) * 0.1)

    def forward(self, X):
        return (X.to(torch.cfloat) @ self.weight).abs()


def test_complex_parameters_pass_the_finiteness_check():
    X, y = _data()
    clf = RSFTClassifier(module=_ComplexWeight, max_epochs=2, random_state=0).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()
    bad = torch.full((2,), complex(float("nan"), 0.0))
    with pytest.raises(ValueError, match="stopped being finite"):
        check_finite_parameters([bad], 1)
