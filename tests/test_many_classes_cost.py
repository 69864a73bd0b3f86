"""Costs that grew with large tables or many text labels: the numbers stay
those of the straightforward computations they replace."""

import numpy as np
import pandas as pd
import pytest

from rsft_sklearn import _decision, _validation, correct_proba
from rsft_sklearn._decision import decision_proba
from rsft_sklearn._validation import check_labels, fit_classes


def _table(n_rows, n_classes, seed=0):
    """A float32 table of probabilities: positive rows that sum to 1."""
    rng = np.random.default_rng(seed)
    table = rng.random((n_rows, n_classes)).astype(np.float32) + 0.01
    return table / table.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("M", [2.0, None])
def test_correct_proba_in_row_blocks(monkeypatch, M):
    proba = _table(250, 9)
    rng = np.random.default_rng(1)
    weight, prior = rng.random(9) + 0.1, rng.random(9) + 0.1
    shift = rng.normal(size=9)
    args = (proba, weight, M, 0.7)
    kwargs = dict(class_prior=prior / prior.sum(), log_shift=shift)
    whole = correct_proba(*args, **kwargs)
    blocks = []
    real = _decision._corrected
    monkeypatch.setattr(
        _decision,
        "_corrected",
        lambda proba, *a, **k: blocks.append(len(proba)) or real(proba, *a, **k),
    )
    monkeypatch.setattr(_decision, "_BLOCK_ENTRIES", 9 * 40)
    blocked = correct_proba(*args, **kwargs)
    # Seven blocks of at most 40 rows, not one table of 250.
    assert blocks == [40] * 6 + [10]
    np.testing.assert_array_equal(blocked, whole)
    # The unblocked computation of before, on the float64 table.
    expected = real(
        proba.astype(np.float64),
        np.log(weight if M is not None else np.ones(9)),
        M if M is not None else 1.0,
        0.7 if M is not None else 0.0,
        kwargs["class_prior"],
        shift,
    )
    np.testing.assert_array_equal(blocked, expected)
    # decision_proba, blocked by the same helper, agrees (its shift is the
    # log of exp(shift), equal to within rounding).
    np.testing.assert_allclose(
        decision_proba(
            proba,
            "balanced",
            weight,
            kwargs["class_prior"],
            M,
            0.7,
            prior_correction=1.0,
            loss_prior=np.exp(shift),
        ),
        blocked,
        rtol=1e-12,
    )


def test_correct_proba_checks_every_block(monkeypatch):
    monkeypatch.setattr(_decision, "_BLOCK_ENTRIES", 3 * 10)
    proba = _table(95, 3).astype(np.float64)
    proba[93] = [0.5, 0.6, 0.1]
    with pytest.raises(ValueError, match="finite probabilities in"):
        correct_proba(proba, np.ones(3))
    proba[93] = [0.5, 0.5, 0.0]
    # An invalid table is named before a wrong target_weight, as before.
    proba[2, 0] = np.nan
    with pytest.raises(ValueError, match="finite probabilities in"):
        correct_proba(proba, np.ones(4))
    with pytest.raises(ValueError, match="2-d"):
        correct_proba(proba[0], np.ones(3))
    assert correct_proba(np.empty((0, 3)), np.ones(3)).shape == (0, 3)


def _text_labels():
    rng = np.random.default_rng(0)
    names = np.array(["b", "a", "ab", "B", "é", "", "a b", "zz"])
    return names[rng.integers(0, len(names), 500)].astype(object)


@pytest.mark.parametrize("wrap", [np.asarray, pd.Series])
def test_text_labels_classes_as_np_unique(monkeypatch, wrap):
    y = _text_labels()
    expected = np.unique(y)
    # No sort of all the Python strings (the distinct ones only): the
    # distinct labels are found by a set.
    calls = []
    real = np.unique
    monkeypatch.setattr(
        np,
        "unique",
        lambda a, *r, **k: calls.append(np.asarray(a)) or real(a, *r, **k),
    )
    checked = check_labels(wrap(y))
    found = fit_classes(checked)
    assert not [a for a in calls if a.dtype.kind == "O" and len(a) > len(expected)]
    assert found.dtype == object
    assert found.tolist() == expected.tolist()
    assert {type(label) for label in found} == {str}


def test_text_classes_only_for_plain_str():
    assert _validation.text_classes(np.array(["a", "b"])) is None  # '<U1'
    mixed = np.array(["b", np.str_("a"), "a"], dtype=object)
    assert _validation.text_classes(mixed) is None
    assert _validation.text_classes(np.array([1, "a"], dtype=object)) is None
    assert _validation.text_classes(np.array([], dtype=object)) is None
    # Trailing NULs, which NumPy's fixed-width strings would drop, stay.
    y = np.array(["a\x00", "a", "a\x00"], dtype=object)
    assert _validation.text_classes(y).tolist() == np.unique(y).tolist()


def test_text_label_checks_unchanged():
    with pytest.raises(ValueError, match="one class only"):
        fit_classes(check_labels(np.array(["a"] * 5, dtype=object)))
    with pytest.warns(UserWarning, match="more than half of its"):
        check_labels(np.array([f"c{i}" for i in range(30)], dtype=object))
    with pytest.raises(ValueError, match="missing label"):
        check_labels(np.array(["a", None, "b"], dtype=object))
    assert check_labels(np.array(["a", "b", "a"], dtype=object)).dtype == object
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        check_labels(np.array([0.5, 1.5, 2.0]))
    with pytest.raises(ValueError, match="Unknown label type: unknown.*of one kind"):
        check_labels(np.array([1, "a", 2, "b"], dtype=object))
