"""Networks and inputs of kinds beyond a plain module on float32 arrays:
TorchScript modules, bfloat16 tensors, complex outputs, a device set after
the fit, a network that returns the wrong number of rows."""

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from rsft_sklearn import RejectionLoss, RSFTClassifier
from rsft_sklearn._rejection import acceptance_probability

SMALL = dict(max_epochs=3, warmup_epochs=0, random_state=0)
MLP = dict(SMALL, module__hidden_layer_sizes=(8,))


class Net(torch.nn.Module):
    def __init__(self, n_in=6, n_out=3):
        super().__init__()
        self.l1 = torch.nn.Linear(n_in, 16)
        self.l2 = torch.nn.Linear(16, n_out)

    def forward(self, X):
        return self.l2(torch.relu(self.l1(X)))


class Holder(torch.nn.Module):
    """A plain module around a scripted one."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, X):
        return self.backbone(X)


class ComplexOut(Net):
    def forward(self, X):
        return super().forward(X).to(torch.complex64)


class FewerRows(Net):
    def forward(self, X):
        return super().forward(X)[:-1]


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=200,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        random_state=0,
    )
    return X.astype(np.float32), y


def _proba_bytes(est, X):
    return est.predict_proba(X).tobytes()


# --- TorchScript modules ---------------------------------------------------


# torch deprecates TorchScript, which users still hand in.
jit_deprecated = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"
)

_SCRIPTED = {
    "script": torch.jit.script,
    "trace": lambda net: torch.jit.trace(net, torch.zeros(4, 6)),
    "scripted submodule": lambda net: Holder(torch.jit.script(net)),
}


@jit_deprecated
@pytest.mark.parametrize("kind", sorted(_SCRIPTED))
def test_scripted_module_instance_trains_as_the_plain_one(data, kind):
    # Failed with torch.optim's "can't optimize a non-leaf Tensor": the
    # deep copy that a fit trains cloned the ScriptModule's parameters with
    # autograd tracking.
    X, y = data
    torch.manual_seed(0)
    net = Net()
    scripted = _SCRIPTED[kind](copy.deepcopy(net))
    before = {name: p.detach().clone() for name, p in scripted.named_parameters()}
    est = RSFTClassifier(scripted, **SMALL).fit(X, y)
    trained = dict(est.module_.named_parameters())
    assert trained.keys() == before.keys()
    for name, parameter in trained.items():
        assert parameter.is_leaf and parameter.requires_grad
        assert not torch.equal(parameter.detach(), before[name]), name
    # The instance passed in is untouched (a refit starts from it).
    for name, parameter in scripted.named_parameters():
        assert torch.equal(parameter.detach(), before[name])
        assert parameter.is_leaf
    plain = RSFTClassifier(copy.deepcopy(net), **SMALL).fit(X, y)
    np.testing.assert_allclose(
        est.predict_proba(X), plain.predict_proba(X), rtol=1e-5, atol=1e-6
    )
    assert est.history[-1, "train_loss"] == pytest.approx(
        plain.history[-1, "train_loss"], rel=1e-5
    )
    # A refit starts again from the instance's weights.
    assert _proba_bytes(est.fit(X, y), X) == _proba_bytes(
        RSFTClassifier(scripted, **SMALL).fit(X, y), X
    )


@jit_deprecated
def test_frozen_layer_of_a_scripted_module_stays_frozen(data):
    X, y = data
    scripted = torch.jit.script(Net())
    scripted.l1.weight.requires_grad_(False)
    frozen = scripted.l1.weight.detach().clone()
    est = RSFTClassifier(scripted, **SMALL).fit(X, y)
    assert not est.module_.l1.weight.requires_grad
    assert torch.equal(est.module_.l1.weight.detach(), frozen)
    assert est.module_.l2.weight.requires_grad
    assert scripted.l1.weight.requires_grad is False


class CrossTied(torch.nn.Module):
    """A scripted layer whose weight a plain layer shares (or, with
    ``siblings``, two scripted layers sharing one weight)."""

    def __init__(self, siblings=False):
        super().__init__()
        self.inner = torch.jit.script(torch.nn.Linear(6, 6))
        other = torch.nn.Linear(6, 6)
        self.other = torch.jit.script(other) if siblings else other
        self.other.weight = self.inner.weight
        self.head = torch.nn.Linear(6, 3)

    def forward(self, X):
        return self.head(torch.relu(self.inner(X)) + self.other(X))


@jit_deprecated
def test_a_parameter_tied_across_a_scripted_part_is_refused(data):
    # torch copies a ScriptModule apart from the rest of the deep copy: the
    # shared weight became two, and the fit trained another network (6
    # parameters for 5) without a word.
    X, y = data
    torch.manual_seed(0)
    with pytest.raises(TypeError, match="shared between a TorchScript part"):
        RSFTClassifier(CrossTied(), **SMALL).fit(X, y)
    # Parameters over one storage within the plain part, beside a scripted
    # part that shares nothing: fitted as before (the deep copy parts them,
    # as it does without a scripted part).
    holder = Holder(torch.jit.script(Net()))
    holder.a, holder.b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    holder.b.weight = torch.nn.Parameter(holder.a.weight.data)
    RSFTClassifier(holder, **SMALL).fit(X, y)
    # Ties within the scripted parts survive the copy, and train.
    est = RSFTClassifier(CrossTied(siblings=True), **SMALL).fit(X, y)
    assert len(list(est.module_.parameters())) == 5
    assert est.module_.inner.weight.data_ptr() == est.module_.other.weight.data_ptr()


# --- Tensors of dtypes NumPy lacks -----------------------------------------


_LOW_PRECISION = [torch.bfloat16] + [
    getattr(torch, name) for name in ("float8_e4m3fn",) if hasattr(torch, name)
]


@pytest.mark.parametrize("dtype", _LOW_PRECISION, ids=str)
@pytest.mark.parametrize("as_dict", [False, True])
def test_low_precision_tensor_input_reads_as_its_float32_values(data, dtype, as_dict):
    # Failed inside NumPy: "Got unsupported ScalarType BFloat16".
    X, y = data
    X_low = torch.from_numpy(X).to(dtype)
    X_float = X_low.float()

    def wrap(Z):
        return {"X": Z} if as_dict else Z

    est = RSFTClassifier(**MLP).fit(wrap(X_low), y)
    reference = RSFTClassifier(**MLP).fit(wrap(X_float), y)
    proba = reference.predict_proba(wrap(X_float))
    assert est.predict_proba(wrap(X_low)).tobytes() == proba.tobytes()
    # Either way round: a float32 fit predicts on the low-precision tensor.
    assert reference.predict_proba(wrap(X_low)).tobytes() == proba.tobytes()
    np.testing.assert_array_equal(
        est.predict(wrap(X_low)), reference.predict(wrap(X_float))
    )


@pytest.mark.parametrize(
    "weight_of",
    [
        pytest.param(lambda w: w.bfloat16(), id="bfloat16"),
        pytest.param(lambda w: w.clone().requires_grad_(True), id="requires_grad"),
    ],
)
@pytest.mark.parametrize("rejection", ["expected", "pool"])
def test_sample_weight_tensor_reads_as_its_values(data, weight_of, rejection):
    # Failed inside NumPy: "Got unsupported ScalarType BFloat16", "Can't
    # call numpy() on Tensor that requires grad".
    X, y = data
    weight = torch.from_numpy(np.random.default_rng(0).uniform(0.2, 3.0, len(y)))
    weight = weight.float().bfloat16().float()  # exact in bfloat16
    given = weight_of(weight)
    est = RSFTClassifier(rejection=rejection, **MLP).fit(X, y, sample_weight=given)
    reference = RSFTClassifier(rejection=rejection, **MLP).fit(
        X, y, sample_weight=weight.numpy()
    )
    assert _proba_bytes(est, X) == _proba_bytes(reference, X)
    # The weights count: unweighted, the fit differs.
    assert _proba_bytes(est, X) != _proba_bytes(
        RSFTClassifier(rejection=rejection, **MLP).fit(X, y), X
    )


# --- Complex outputs -------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(rejection="sample"),
        dict(rejection="sample", compact=True),
        dict(rejection="expected"),
        dict(rejection="pool"),
        dict(rejection="epoch"),
        dict(rejection="budget"),
    ],
    ids=str,
)
def test_complex_logits_are_refused_in_every_mode(data, kwargs):
    # Refused by the loss under "sample" and "expected"; the scoring pass of
    # the other modes failed inside torch: '"max_values_cpu" not implemented
    # for 'ComplexFloat''.
    X, y = data
    est = RSFTClassifier(ComplexOut, **SMALL, **kwargs)
    with pytest.raises(
        TypeError,
        match=r"logits must be floating-point scores, got dtype torch\.complex64",
    ):
        est.fit(X, y)


# --- A device set after the fit --------------------------------------------


@pytest.mark.parametrize(
    "device, match",
    [
        ("meta", "device='meta' holds no data"),
        ("bogus", "device='bogus' is not a torch device"),
    ],
)
@pytest.mark.parametrize("method", ["predict_proba", "predict", "score"])
def test_prediction_checks_the_device_as_fit_does(data, device, match, method):
    # predict_proba failed inside torch ("Tensor on device cpu is not on the
    # expected device meta!", "Expected one of cpu, cuda, ...").
    X, y = data
    est = RSFTClassifier(**MLP).fit(X, y)
    proba = est.predict_proba(X)
    est.set_params(device=device)
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(*args)
    # None leaves the network where it is, as in skorch.
    est.set_params(device=None)
    assert est.predict_proba(X).tobytes() == proba.tobytes()


# --- A network that returns the wrong number of rows -----------------------


_ROWS = (
    r"logits have 127 rows but y holds 128 labels: the network must return "
    "one row of logits per input row"
)


@pytest.mark.parametrize("rejection", ["expected", "sample"])
def test_wrong_row_count_names_both_counts(data, rejection):
    # Blamed y: "y must be a 1-d tensor of 127 class indices (one per row
    # of logits), got shape (128,)".
    X, y = data
    est = RSFTClassifier(FewerRows, batch_size=128, **SMALL, rejection=rejection)
    with pytest.raises(ValueError, match=_ROWS):
        est.fit(X, y)


def test_wrong_row_count_names_both_counts_in_the_pooled_modes(data):
    X, y = data
    est = RSFTClassifier(FewerRows, **SMALL, rejection="pool")
    with pytest.raises(ValueError, match="logits have 199 rows but y holds 200 labels"):
        est.fit(X, y)


def test_rule_functions_name_both_row_counts():
    logits, y = torch.zeros(4, 3), torch.tensor([0, 1, 2])
    match = "logits have 4 rows but y holds 3 labels"
    with pytest.raises(ValueError, match=match):
        RejectionLoss()(logits, y)
    with pytest.raises(ValueError, match=match):
        acceptance_probability(logits, y, 1.0)
    # A 2-d y is still named as such.
    with pytest.raises(ValueError, match=r"y must .*got shape \(4, 1\)"):
        RejectionLoss()(logits, torch.zeros(4, 1, dtype=torch.long))
