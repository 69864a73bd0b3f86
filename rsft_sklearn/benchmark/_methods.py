"""The compared methods: one network, many ways of handling the data."""

import ast
import difflib
import numbers
import warnings
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted

from .._epochs import warmup_epoch_count
from ._rivals import history_rows

__all__ = [
    "ALIASES",
    "ALL_METHODS",
    "CONTROLS",
    "EXTRA_METHODS",
    "METHODS",
    "NEURAL_METHODS",
    "RESAMPLERS",
    "RIVALS",
    "RSFT_METHODS",
    "UNAVAILABLE",
    "MatchedRandomMask",
    "applicable",
    "make_method",
    "method_label",
    "parse_method",
    "parse_methods",
]

REFERENCE = "RSFT"

# RSFT and its variants.
RSFT_METHODS = (
    REFERENCE,
    "RSFT warm-up",
    "RSFT + logit-adjusted loss",
    "RSFT grid M",
    "RSFT hardness=0",
)

# What a user with an imbalanced problem would otherwise reach for (see
# docs/user_guide/related_methods.rst); the neural ones drive the same net.
RIVALS = (
    "post-hoc logit adjustment",
    "post-hoc logit adjustment tuned",
    "logit-adjusted loss",
    "deferred re-weighting",
    "classifier re-training",
    "focal loss",
    "threshold tuning",
    "BalancedRandomForest",
    "EasyEnsemble",
    "BalancedBagging",
    "RUSBoost",
    "HistGradientBoosting balanced",
)

# Controls that isolate one ingredient of RSFT, and the resamplers of
# imbalanced-learn driving the same net.
CONTROLS = ("class-weighted loss", "random mask")
RESAMPLERS = (
    "RandomUnderSampler",
    "RandomOverSampler",
    "SMOTE",
    "TomekLinks",
    "EditedNearestNeighbours",
)

METHODS = (
    # A grid search over M fits ten networks per fold, a quarter of the
    # default run's time; it stays selectable with --methods.
    *(name for name in RSFT_METHODS if name != "RSFT grid M"),
    *RIVALS[:7],
    *CONTROLS,
    *RESAMPLERS,
    *RIVALS[7:],
    "LogisticRegression",
)

# Selectable with --methods but not part of the default run: variants, and
# resamplers that cost several times random over-sampling without beating it
# in the committed report.
EXTRA_METHODS = (
    "RSFT grid M",
    "RSFT rejection=epoch",
    "ADASYN",
    "BorderlineSMOTE",
    "NearMiss",
    "SMOTEENN",
    "SMOTETomek",
    "RejectionSampler",
    "RejectionSampler + BalancedRandomForest",
)

ALL_METHODS = METHODS + EXTRA_METHODS

# The methods whose classifier is the benchmark's network.
NEURAL_METHODS = tuple(
    name
    for name in ALL_METHODS
    if name
    not in (
        "BalancedRandomForest",
        "EasyEnsemble",
        "BalancedBagging",
        "RUSBoost",
        "HistGradientBoosting balanced",
        "LogisticRegression",
        "RejectionSampler + BalancedRandomForest",
    )
)

# Other names accepted by --methods, mapped to the name in reports.
ALIASES = {
    "plain net": "post-hoc logit adjustment",
    "Balanced Softmax": "logit-adjusted loss",
    "DRW": "deferred re-weighting",
    "cRT": "classifier re-training",
}

# Rivals the benchmark would carry but cannot run, with the reason.
UNAVAILABLE = {
    "SelfPacedEnsemble": (
        "Self-paced Ensemble (Liu et al., ICDE 2020) is implemented in "
        "imbalanced-ensemble, which pins scikit-learn 1.6.0 and fails to import "
        "with the scikit-learn this package needs (ImportError: cannot import "
        "name '_print_elapsed_time' from 'sklearn.utils')."
    ),
}

# Methods that decide by a threshold on one probability.
BINARY_ONLY = ("threshold tuning",)

M_GRID = (0.5, 1.0, 2.0)


def _post_warmup_class_rates(net):
    """Per-class acceptance rate averaged over the epochs after the warm-up."""
    epochs = net.history[warmup_epoch_count(net.warmup_epochs, net.max_epochs) :]
    if not epochs:
        raise ValueError(
            "The reference classifier has no epoch after its warm-up, so it "
            "measured no acceptance rate."
        )
    return np.array(
        [
            np.mean([epoch[f"acceptance_rate[{label}]"] for epoch in epochs])
            for label in net.classes_
        ]
    )


class MatchedRandomMask(ClassifierMixin, BaseEstimator):
    """Random mask that keeps each class at the rate RSFT keeps it.

    ``fit`` first trains ``reference`` on the same data and reads its
    per-class acceptance rate (averaged over the epochs after the warm-up;
    a reference that trained no longer than its warm-up rejected nothing,
    and its last epoch's rates, 1 for every class, are taken), then trains a
    copy of the same network whose mask ignores the model (``hardness=0``)
    but keeps class ``c`` at that rate ``r_c``. Comparing it
    with RSFT measures what the model's feedback adds beyond the class mix.

    Parameters
    ----------
    reference : RSFTClassifier
        The RSFT classifier whose acceptance rates are matched.

    Attributes
    ----------
    reference_ : RSFTClassifier
        The fitted reference.
    keep_rate_ : ndarray of shape (n_classes,)
        Matched per-class keep rate, in the order of ``classes_``.
    estimator_ : RSFTClassifier
        The fitted random-mask classifier.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    reference_fit_time_ : float
        Seconds spent fitting the reference, which the benchmark does not
        count as this method's cost.
    backward_rows_ : int
        Backward-pass rows of the random-mask fit (the reference left out,
        as from the fit time).

    Examples
    --------
    >>> import numpy as np
    >>> from rsft_sklearn import RSFTClassifier
    >>> from rsft_sklearn.benchmark._methods import MatchedRandomMask
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 3)).astype("float32")
    >>> y = np.r_[np.zeros(100, int), np.ones(20, int)]
    >>> X[y == 1] += 2
    >>> reference = RSFTClassifier(max_epochs=3, warmup_epochs=0, random_state=0)
    >>> clf = MatchedRandomMask(reference)
    >>> clf.fit(X, y).keep_rate_.shape
    (2,)
    """

    def __init__(self, reference):
        self.reference = reference

    def fit(self, X, y):
        from time import perf_counter

        start = perf_counter()
        self.reference_ = clone(self.reference).fit(X, y)
        self.reference_fit_time_ = perf_counter() - start
        self.classes_ = self.reference_.classes_
        reference = self.reference_
        warmup = warmup_epoch_count(reference.warmup_epochs, reference.max_epochs)
        if len(reference.history) > warmup:
            rates = _post_warmup_class_rates(self.reference_)
        else:
            # A fit no longer than the reference's warm-up (a short run under
            # the default warm-up, such as the benchmark's --quick mode) has
            # no epoch that rejected: fall back to the last epoch's rates,
            # which kept every class whole, so the matched mask keeps every
            # row as the reference did.
            last = self.reference_.history[-1]
            rates = np.array(
                [last[f"acceptance_rate[{label}]"] for label in self.classes_]
            )
        rates = np.clip(rates, 1e-6, 1.0)
        self.keep_rate_ = rates
        self.estimator_ = clone(self.reference).set_params(
            hardness=0.0,
            target={label: float(r) for label, r in zip(self.classes_, rates)},
            M=float(1.0 / rates.max()),
        )
        self.estimator_.fit(X, y)
        self.backward_rows_ = history_rows(self.estimator_)
        return self

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)


def _oversample_small_classes(sampler_class, seed, X, y):
    """Over-sample with at most as many neighbours as the rarest class allows.

    The neighbour count is ``min(5, n_min - 1)``. A class of a single row
    has no neighbour to interpolate towards: the fit fails, and the fold is
    recorded as a failed fit, as imbalanced-learn's own samplers fail (it
    was returned unchanged, so the method trained the plain network and was
    scored as if it had over-sampled).
    """
    labels, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        single = labels[counts < 2].tolist()
        raise ValueError(
            f"{sampler_class.__name__} needs at least 2 rows in every class to "
            f"interpolate between neighbours; class(es) {single} have 1 "
            "training row."
        )
    n_min = int(counts.min())
    k = min(5, n_min - 1)
    key = "n_neighbors" if sampler_class.__name__ == "ADASYN" else "k_neighbors"
    params = {key: k}
    if sampler_class.__name__ == "BorderlineSMOTE":
        params["m_neighbors"] = min(10, max(1, n_min - 1))
    return sampler_class(random_state=seed, **params).fit_resample(X, y)


def _sampler(name, seed):
    from imblearn import FunctionSampler, combine, over_sampling, under_sampling

    seeded = {
        "RandomUnderSampler": under_sampling.RandomUnderSampler,
        "RandomOverSampler": over_sampling.RandomOverSampler,
        "SMOTE": over_sampling.SMOTE,
        "ADASYN": over_sampling.ADASYN,
        "BorderlineSMOTE": over_sampling.BorderlineSMOTE,
        "SMOTEENN": combine.SMOTEENN,
        "SMOTETomek": combine.SMOTETomek,
    }
    if name in ("SMOTE", "ADASYN", "BorderlineSMOTE"):
        # Their default of five neighbours needs six rows in every class to
        # over-sample; long-tailed folds have classes smaller than that.
        return FunctionSampler(
            func=partial(_oversample_small_classes, seeded[name], seed),
            validate=False,
        )
    if name in seeded:
        return seeded[name](random_state=seed)
    return {
        "NearMiss": under_sampling.NearMiss,
        "TomekLinks": under_sampling.TomekLinks,
        "EditedNearestNeighbours": under_sampling.EditedNearestNeighbours,
    }[name]()


# ----------------------------------------------------------------------
# Method specs: a name, optionally with parameters of its network
# ----------------------------------------------------------------------

# skorch routes a parameter "<prefix>__<name>" to one of the net's parts.
_ROUTED_PREFIXES = (
    "module",
    "criterion",
    "optimizer",
    "iterator_train",
    "iterator_valid",
    "dataset",
    "callbacks",
    "compile",
)

_SPEC_EXAMPLE = "'RSFT(warmup_epochs=10, hardness=0.5)'"


def _lookup(text):
    """The reported name of a method name or alias (any case), or None."""
    key = " ".join(text.split()).lower()
    lookup = {name.lower(): name for name in ALL_METHODS}
    lookup.update({alias.lower(): name for alias, name in ALIASES.items()})
    return lookup.get(key)


def _unknown_names_message(names, prefix="Unknown method(s)"):
    hints = []
    for name in names:
        close = difflib.get_close_matches(name, [*ALL_METHODS, *ALIASES], n=2)
        if close:
            hints.append(f"for {name!r} did you mean {' or '.join(map(repr, close))}?")
    hint = f" ({'; '.join(hints)})" if hints else ""
    return f"{prefix} {names}{hint}; choose from {list(ALL_METHODS)}."


def _known_name(text):
    name = _lookup(text)
    if name is not None:
        return name
    for unavailable, reason in UNAVAILABLE.items():
        if " ".join(text.split()).lower() == unavailable.lower():
            raise ValueError(f"Method {unavailable!r} is not available: {reason}")
    raise ValueError(_unknown_names_message([text.strip()]))


def _literal_parameters(args, spec):
    if not args.strip():
        return {}
    try:
        call = ast.parse(f"f({args})", mode="eval").body
    except SyntaxError as exc:
        raise ValueError(
            f"Cannot read the parameters of {spec!r} ({exc.msg}); write them as "
            f"name=value pairs, as in {_SPEC_EXAMPLE}."
        ) from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)) or (
        call.args
    ):
        raise ValueError(
            f"The parameters of {spec!r} must be name=value pairs, as in "
            f"{_SPEC_EXAMPLE}."
        )
    params = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise ValueError(f"{spec!r}: '**' is not allowed in a method spec.")
        if keyword.arg in params:
            raise ValueError(f"{spec!r} sets {keyword.arg!r} twice.")
        try:
            params[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            raise ValueError(
                f"{spec!r}: the value of {keyword.arg!r} must be a Python literal "
                f"(number, string, tuple, list, dict, True/False/None), got "
                f"{ast.unparse(keyword.value)!r}."
            ) from None
    return params


# What a method's wrapper sets on its network when it fits, whatever the
# spec says. (The logit adjustment's tau of "RSFT + logit-adjusted loss" is
# the wrapper's own, and criterion__tau in its spec goes there.)
_WRAPPER_PARAMETERS = {
    "RSFT + logit-adjusted loss": {
        "criterion",
        "predict_nonlinearity",
        "probability",
        "prior_correction",
    },
    "classifier re-training": {
        "warmup_epochs",
        "hardness",
        "M",
        "target",
        "rejection",
        "probability",
        "module",
    },
}


def _check_net_parameters(name, params, spec):
    if not params:
        return
    if name not in NEURAL_METHODS:
        raise ValueError(
            f"{spec!r}: {name!r} has no network, so it takes no parameters; "
            "parameters in a method spec go to its RSFTClassifier."
        )
    from .. import RSFTClassifier

    known = set(RSFTClassifier().get_params(deep=False))
    unknown = [
        key
        for key in params
        if key not in known
        and not ("__" in key and key.split("__", 1)[0] in _ROUTED_PREFIXES)
    ]
    if unknown:
        hints = {
            key: difflib.get_close_matches(key, sorted(known), n=1) for key in unknown
        }
        hint = "; ".join(
            f"{key!r}" + (f" (did you mean {match[0]!r}?)" if match else "")
            for key, match in hints.items()
        )
        raise ValueError(
            f"{spec!r}: unknown RSFTClassifier parameter(s) {hint}; a part of "
            f"the net takes '<part>__<name>' for a part in {list(_ROUTED_PREFIXES)}."
        )
    owned = sorted(set(params) & _WRAPPER_PARAMETERS.get(name, set()))
    if owned:
        raise ValueError(
            f"{spec!r}: {name!r} sets {owned} itself when it fits, so a spec "
            "cannot change them (the report would name settings that never "
            "trained)."
        )
    if "random_state" in params:
        raise ValueError(
            f"{spec!r}: the run's --seed sets random_state (each repeat trains "
            "from a seed of its own); leave it out of the spec."
        )
    if "classes" in params:
        raise ValueError(
            f"{spec!r}: each data set's labels set classes; leave it out of the spec."
        )
    literal_parts = [key for key in _CLASS_PARAMETERS if params.get(key) is not None]
    if literal_parts:
        raise ValueError(
            f"{spec!r}: {literal_parts} take a class or a callable, and a spec "
            "holds literals only; set the part's own parameters as "
            "'<part>__<name>'."
        )
    # Values are checked now, not in every fit of the run.
    constraints = RSFTClassifier._parameter_constraints
    checked = {key: value for key, value in params.items() if key in constraints}
    try:
        validate_parameter_constraints(
            {key: constraints[key] for key in checked}, checked, "RSFTClassifier"
        )
    except ValueError as exc:
        raise ValueError(f"{spec!r}: {exc}") from None
    # An estimator takes these (an untrained net is a valid estimator), but
    # a benchmark row from them would score a network that never learnt.
    if params.get("max_epochs", 1) < 1:
        raise ValueError(f"{spec!r}: max_epochs must be >= 1 in a benchmark.")
    if "lr" in params and not params["lr"] > 0:
        raise ValueError(f"{spec!r}: lr must be > 0 in a benchmark.")
    _check_by_initializing(spec, params)


# Parameters whose values are classes or callables, which no literal is.
_CLASS_PARAMETERS = tuple(
    part for part in _ROUTED_PREFIXES if part not in ("callbacks", "compile")
)


def _check_by_initializing(spec, params):
    """Build the net of the spec's own parameters once, so that settings that
    disagree (``M="auto"`` without ``target_acceptance``) are named now and
    do not fail every fold. The parts' parameters (``module__...``) are left
    out: they belong to the network and optimiser each data set and recipe
    bring."""
    import torch

    from .. import RSFTClassifier

    own = {key: value for key, value in params.items() if "__" not in key}
    trial = RSFTClassifier(
        **own, module__n_features=2, module__n_classes=2, classes=[0, 1]
    )
    try:
        # The trial draws its weights from a copy of torch's random state:
        # a fit seeded before its method is built starts where it would.
        with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
            warnings.simplefilter("ignore")
            trial.initialize()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{spec!r}: {exc}") from None


def parse_method(spec):
    """Read a method spec: a method name, optionally with network parameters.

    A spec is a name from :data:`ALL_METHODS` (or :data:`ALIASES`, any case),
    optionally followed by parameters of its
    :class:`~rsft_sklearn.RSFTClassifier` in parentheses, as Python keyword
    arguments whose values are literals: ``"RSFT(warmup_epochs=10,
    hardness=0.5)"``. The parameters override those the method sets, so a
    study can sweep RSFT's settings through the benchmark.

    Parameters
    ----------
    spec : str
        The method spec.

    Returns
    -------
    name : str
        The method's name as reports show it.
    params : dict
        The parameters, in the order given.

    Raises
    ------
    ValueError
        For an unknown or unavailable method, unreadable parameters, a
        parameter RSFTClassifier does not have, or parameters given to a
        method without a network.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._methods import parse_method
    >>> parse_method("rsft(warmup_epochs=10, hardness=0.5)")
    ('RSFT', {'warmup_epochs': 10, 'hardness': 0.5})
    >>> parse_method("plain net")
    ('post-hoc logit adjustment', {})
    """
    if not isinstance(spec, str):
        raise TypeError(f"A method spec must be a str, got {type(spec).__name__}.")
    text = spec.strip()
    if "(" not in text and ")" not in text:
        return _known_name(text), {}
    opening = text.find("(")
    if opening <= 0 or not text.endswith(")"):
        raise ValueError(
            f"Cannot read the method spec {spec!r}; write a name, optionally "
            f"followed by parameters in parentheses, as in {_SPEC_EXAMPLE}."
        )
    name = _known_name(text[:opening])
    params = _literal_parameters(text[opening + 1 : -1], spec)
    _check_net_parameters(name, params, spec)
    return name, params


def method_label(name, params=None):
    """The spec of a method as results and reports name it.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._methods import method_label
    >>> method_label("RSFT", {"warmup_epochs": 10, "target": "uniform"})
    "RSFT(warmup_epochs=10, target='uniform')"
    """
    if not params:
        return name
    return f"{name}({', '.join(f'{key}={value!r}' for key, value in params.items())})"


def _split_top_level(text):
    """Split at the commas that are outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_methods(text):
    """Read a comma-separated list of method specs (``--methods``).

    Commas inside a spec's parentheses do not separate methods.

    Parameters
    ----------
    text : str
        For example ``"RSFT, RSFT(warmup_epochs=10, hardness=0.5), SMOTE"``.

    Returns
    -------
    methods : list of str
        Every spec in its reported form (:func:`method_label`).

    Raises
    ------
    ValueError
        For an empty list, a spec that :func:`parse_method` refuses, or a
        method named twice.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._methods import parse_methods
    >>> parse_methods("RSFT, rsft(M=2.0, hardness=0), plain net")
    ['RSFT', 'RSFT(M=2.0, hardness=0)', 'post-hoc logit adjustment']
    """
    specs = [part.strip() for part in _split_top_level(text) if part.strip()]
    if not specs:
        raise ValueError("--methods got no names.")
    heads = [spec.split("(", 1)[0].strip() for spec in specs]
    unknown = [
        head
        for head in heads
        if _lookup(head) is None
        and head.lower() not in {name.lower() for name in UNAVAILABLE}
    ]
    if unknown:
        raise ValueError(
            _unknown_names_message(unknown, "--methods: unknown method(s)")
        )
    parsed = [parse_method(spec) for spec in specs]
    methods = [method_label(*spec) for spec in parsed]
    # The same settings written another way (M=2 and M=2.0, another order)
    # are the same method.
    keys = [_settings_key(*spec) for spec in parsed]
    repeated = sorted(
        {method for method, key in zip(methods, keys) if keys.count(key) > 1}
    )
    if repeated:
        raise ValueError(f"--methods names a method twice: {repeated}.")
    return methods


def method_key(label):
    """What a method label sets, whatever its spelling (``M=2`` and
    ``M=2.0``, another order of its parameters): equal for two spellings of
    one method; None for a label this version cannot read."""
    try:
        return _settings_key(*parse_method(label))
    except ValueError:
        return None


def spelt_as_finished(methods, labels):
    """``methods``, each spelt as the one of ``labels`` (the methods of
    finished runs) that sets the same settings, if any: results kept by
    label would otherwise train a method spelt another way again, under a
    second label. A label this version cannot read matches no method."""
    known = {method_key(label): label for label in labels}
    known.pop(None, None)
    return [known.get(method_key(method), method) for method in methods]


def _settings_key(name, params):
    """What a spec sets, whatever its spelling: numbers by value, parameters
    in any order."""

    def value(v):
        if isinstance(v, numbers.Real) and not isinstance(v, bool):
            return ("number", float(v))
        if isinstance(v, (list, tuple)):
            return (type(v).__name__, tuple(value(item) for item in v))
        return (type(v).__name__, repr(v))

    return name, tuple(sorted((key, value(v)) for key, v in params.items()))


def applicable(method, n_classes):
    """Whether a method can run on data with ``n_classes`` classes.

    The runner skips a method on the data sets where this is False (for
    example ``threshold tuning``, which moves the threshold of a binary
    decision, on multiclass data) instead of recording an error.

    Parameters
    ----------
    method : str
        A method spec.
    n_classes : int
        Number of classes of the data set.

    Returns
    -------
    applicable : bool

    Examples
    --------
    >>> from rsft_sklearn.benchmark._methods import applicable
    >>> applicable("threshold tuning", 2), applicable("threshold tuning", 3)
    (True, False)
    """
    name, _ = parse_method(method)
    return not (name in BINARY_ONLY and n_classes != 2)


# ----------------------------------------------------------------------
# Building a method
# ----------------------------------------------------------------------


def make_method(name, *, max_epochs, batch_size, seed, net_params=None):
    """Build the pipeline of one method.

    Every neural method uses the same default network, optimiser, number of
    epochs, batch size and seed; only the handling of the data (or the loss,
    or the decision) differs.

    Parameters
    ----------
    name : str
        A method spec (see :func:`parse_method`): one of :data:`ALL_METHODS`,
        optionally with parameters of its network.
    max_epochs : int
        Training epochs of every network.
    batch_size : int
        Mini-batch size of every network.
    seed : int
        Seed of every random step.
    net_params : dict or None, default=None
        Parameters of the data set's network and recipe (its ``module``,
        ``optimizer``, ``lr``, ``callbacks``...), given to every neural
        method's RSFTClassifier before the method's own: a method's callbacks
        are added to these, other parameters of the method win.

    Returns
    -------
    estimator : imblearn.pipeline.Pipeline or GridSearchCV
        An unfitted classifier.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._methods import make_method
    >>> pipe = make_method("SMOTE", max_epochs=5, batch_size=64, seed=0)
    >>> [step for step, _ in pipe.steps]
    ['scale', 'sample', 'clf']
    >>> make_method("RSFT(warmup_epochs=2)", max_epochs=5, batch_size=64,
    ...             seed=0)["clf"].warmup_epochs
    2
    """
    from imblearn import FunctionSampler
    from imblearn.ensemble import (
        BalancedBaggingClassifier,
        BalancedRandomForestClassifier,
        EasyEnsembleClassifier,
        RUSBoostClassifier,
    )
    from imblearn.pipeline import Pipeline
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from .. import RejectionSampler, RSFTClassifier
    from ._losses import FocalLoss, LogitAdjustedLoss, LogitAdjustmentPrior, softmax
    from ._rivals import (
        ClassifierRetraining,
        LogitAdjustedRSFT,
        TunedLogitAdjustment,
        TunedThresholdNet,
    )

    name, overrides = parse_method(name)
    epochs = overrides.get("max_epochs", max_epochs)

    shared = dict(net_params or {})

    def net(**params):
        settings = {"max_epochs": max_epochs, "batch_size": batch_size, **shared}
        merged = {**settings, **params, **overrides}
        if "callbacks" in shared and "callbacks" in {**params, **overrides}:
            merged["callbacks"] = [*shared["callbacks"], *merged["callbacks"]]
        return RSFTClassifier(random_state=seed, **merged)

    def pipeline(clf, sampler=None):
        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("sample", FunctionSampler() if sampler is None else sampler),
                ("clf", clf),
            ]
        )

    def forest():
        return BalancedRandomForestClassifier(
            n_estimators=100,
            sampling_strategy="all",
            replacement=True,
            bootstrap=False,
            random_state=seed,
        )

    # Rivals train without the rule's logit adjustment and with the fully
    # balanced target wherever they re-weight: RSFT's defaults are RSFT's.
    plain = {"warmup_epochs": epochs, "prior_correction": 0.0, "target_power": 1.0}
    unadjusted = {"prior_correction": 0.0, "target_power": 1.0}
    # The late third of training re-weights (DRW); RSFT's warm-up is the
    # early third. cRT retrains its new last layer for as many epochs as the
    # first stage: a third left it under-trained on small sets.
    third = max(1, epochs // 3)
    builders = {
        REFERENCE: lambda: pipeline(net()),
        # A longer warm-up than the default third of the epochs: half,
        # rounded up (rounded down, 3 and 5 epochs gave the default's 1 and 2,
        # the same method under another name).
        "RSFT warm-up": lambda: pipeline(net(warmup_epochs=max(1, -(-epochs // 2)))),
        "RSFT + logit-adjusted loss": lambda: pipeline(
            LogitAdjustedRSFT(
                net(prior_correction=0.0),
                tau=overrides.get("criterion__tau", 1.0),
            )
        ),
        "RSFT grid M": lambda: GridSearchCV(
            pipeline(net()),
            {"clf__M": list(M_GRID)},
            scoring="balanced_accuracy",
            cv=StratifiedKFold(3, shuffle=True, random_state=seed),
        ),
        # Random under-sampling by RSFT's tempered class weights, masked per
        # step from the first epoch, with RSFT's logit adjustment (balanced
        # under-sampling needs target_power=1 and prior_correction=0 too).
        "RSFT hardness=0": lambda: pipeline(
            net(hardness=0.0, M=1.0, rejection="sample", warmup_epochs=0)
        ),
        "RSFT rejection=epoch": lambda: pipeline(net(rejection="epoch")),
        # The balanced decision of the plain network is post-hoc logit
        # adjustment with tau = 1.
        "post-hoc logit adjustment": lambda: pipeline(net(**plain)),
        "post-hoc logit adjustment tuned": lambda: pipeline(
            TunedLogitAdjustment(net(**plain, probability="raw"), random_state=seed)
        ),
        "logit-adjusted loss": lambda: pipeline(
            net(
                **plain,
                criterion=LogitAdjustedLoss,
                predict_nonlinearity=softmax,
                callbacks=[("logit_adjustment_prior", LogitAdjustmentPrior())],
                probability="raw",
            )
        ),
        # Expected rejection with hardness 0 and M 1 weights every loss by
        # the normalised 1 / n_k: class-weighted cross-entropy after the
        # plain warm-up epochs.
        "deferred re-weighting": lambda: pipeline(
            net(
                warmup_epochs=epochs - third,
                rejection="expected",
                hardness=0.0,
                M=1.0,
                **unadjusted,
            )
        ),
        "classifier re-training": lambda: pipeline(
            ClassifierRetraining(net(**plain), retrain_epochs=epochs)
        ),
        "focal loss": lambda: pipeline(
            net(
                **plain,
                criterion=FocalLoss,
                criterion__gamma=2.0,
                predict_nonlinearity=softmax,
                probability="raw",
            )
        ),
        "threshold tuning": lambda: pipeline(
            TunedThresholdNet(
                net(**plain, probability="raw"),
                scoring="balanced_accuracy",
                cv=0.25,
                random_state=seed,
            )
        ),
        "class-weighted loss": lambda: pipeline(
            net(
                rejection="expected",
                hardness=0.0,
                M=1.0,
                warmup_epochs=0,
                **unadjusted,
            )
        ),
        "random mask": lambda: pipeline(MatchedRandomMask(net())),
        "BalancedRandomForest": lambda: pipeline(forest()),
        "EasyEnsemble": lambda: pipeline(EasyEnsembleClassifier(random_state=seed)),
        "BalancedBagging": lambda: pipeline(
            BalancedBaggingClassifier(random_state=seed)
        ),
        "RUSBoost": lambda: pipeline(RUSBoostClassifier(random_state=seed)),
        "HistGradientBoosting balanced": lambda: pipeline(
            HistGradientBoostingClassifier(class_weight="balanced", random_state=seed)
        ),
        "RejectionSampler": lambda: pipeline(
            net(**plain), RejectionSampler(random_state=seed)
        ),
        "RejectionSampler + BalancedRandomForest": lambda: pipeline(
            forest(), RejectionSampler(random_state=seed)
        ),
        "LogisticRegression": lambda: pipeline(
            LogisticRegression(class_weight="balanced", max_iter=1000)
        ),
    }
    if name not in builders:
        return pipeline(net(**plain), _sampler(name, seed))
    return builders[name]()
