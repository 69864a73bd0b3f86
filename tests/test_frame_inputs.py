"""Data frames and series as inputs: integer ids in a dict, 1-d values of a
dict for the default MLP (and the MLP's own inputs of fewer than two axes),
lazy queries, and NumPy float scalars as parameters.

The polars and pyarrow cases are skipped where those packages are missing;
the pandas ones check the same rules without them.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from rsft_sklearn import EmbeddingBagModule, MLPModule, RSFTClassifier
from rsft_sklearn._validation import check_X_dict, real_as_float, validate_parameter

BIG = 2**24
IDS = BIG + 1 + np.arange(60) % 3  # distinct ids float32 rounds to two values
Y = np.arange(60) % 2


def _clf(**params):
    settings = dict(max_epochs=1, batch_size=60, random_state=0, verbose=0)
    return RSFTClassifier(**{**settings, **params})


class Recorder(torch.nn.Module):
    """Records the first batch it is given; logits from the input's sum."""

    def __init__(self, n_classes=2):
        super().__init__()
        self.head = torch.nn.Linear(1, n_classes)
        self.seen = []

    def forward(self, X):
        self.seen.append(X.detach().clone())
        flat = X.reshape(len(X), -1).sum(1, keepdim=True)
        return self.head(flat / 1e6)


# ----------------------------------------------------------------------
# Integer ids above 2**24 in a dict are refused, whatever holds them
# ----------------------------------------------------------------------
REFUSED = "holds integers above 2[*][*]24"


def _pandas_frames():
    f = np.linspace(-1, 1, 60)
    return {
        "categorical ids beside floats": pd.DataFrame(
            {"id": pd.Categorical(IDS), "f": f}
        ),
        "object ids beside floats": pd.DataFrame(
            {"id": pd.Series(IDS, dtype=object), "f": f}
        ),
        "object ids alone": pd.DataFrame({"id": pd.Series(IDS, dtype=object)}),
        "categorical series": pd.Series(pd.Categorical(IDS)),
        "object array of ints": np.array(IDS.tolist(), dtype=object),
    }


@pytest.mark.parametrize("kind", list(_pandas_frames()))
def test_big_integer_ids_in_pandas_object_or_categorical_are_refused(kind):
    # They reached the network rounded (16777217, ..., 16777219 as 16777216,
    # 16777218, 16777220), where the guide says they are refused.
    X = {"X": _pandas_frames()[kind]}
    with pytest.raises(ValueError, match=REFUSED):
        check_X_dict(X)
    with pytest.raises(ValueError, match=REFUSED):
        _clf(module=Recorder).fit(X, Y)


def test_ids_within_float32_in_pandas_object_or_categorical_reach_the_network():
    # Up to 2**24 an integer is exact in float32: taken, value for value.
    ids = BIG - np.arange(60) % 3
    frame = pd.DataFrame(
        {"a": pd.Categorical(ids), "b": pd.Series(ids, dtype=object), "f": 0.5}
    )
    out = check_X_dict({"X": frame})["X"]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0].astype(np.int64), ids)
    np.testing.assert_array_equal(out[:, 1].astype(np.int64), ids)
    net = _clf(module=Recorder, predict_nonlinearity=None).fit({"X": frame}, Y)
    # (The rows come shuffled.)
    np.testing.assert_array_equal(
        np.sort(net.module_.seen[0][:, 0].numpy()), np.sort(ids)
    )


def test_floats_beyond_2_24_in_an_object_column_are_not_ids():
    # A float is rounded to float32 whatever its column's dtype; only
    # integers are ids. (A column of Python floats and one int small enough.)
    column = pd.Series([3e7 + 0.5] * 30 + [7] * 30, dtype=object)
    out = check_X_dict({"X": pd.DataFrame({"a": column})})["X"]
    np.testing.assert_array_equal(
        out[:, 0], np.array([3e7 + 0.5] * 30 + [7] * 30, dtype=np.float32)
    )


class CountedNumber:
    """A cell of an object column that counts its conversions to float."""

    conversions = 0

    def __init__(self, value):
        self.value = value

    def __float__(self):
        CountedNumber.conversions += 1
        return float(self.value)


def test_object_cells_are_converted_to_float_once():
    # The id check converted an object column to float64 again after
    # check_array had (every cell's __float__ called twice; 34.8 ms on a
    # 1e6-row frame): it now reads check_array's floats, and the cells
    # themselves only where those are beyond 2**24 (ints there are ids).
    values = [*range(50), *[3e7 + 0.5] * 10]
    cells = [CountedNumber(value) for value in values]
    column = pd.Series(cells, dtype=object)
    for X in (
        pd.DataFrame({"a": column, "f": np.linspace(0, 1, 60)}),
        column,
        np.array(cells, dtype=object),
    ):
        CountedNumber.conversions = 0
        out = check_X_dict({"X": X})["X"]
        assert CountedNumber.conversions == 60
        np.testing.assert_array_equal(
            out.reshape(60, -1)[:, 0], np.array(values, dtype=np.float32)
        )


def test_big_ids_in_a_polars_series_or_mixed_frame_are_refused():
    pl = pytest.importorskip("polars")
    f = np.linspace(-1, 1, 60)
    for value in (
        pl.Series(IDS),
        pl.DataFrame({"id": IDS, "f": f}),
        pl.DataFrame({"id": IDS.astype(np.uint32), "f": f.astype(np.float32)}),
    ):
        with pytest.raises(ValueError, match=REFUSED):
            check_X_dict({"X": value})
    with pytest.raises(ValueError, match=REFUSED):
        _clf(module=Recorder).fit({"X": pl.DataFrame({"id": IDS, "f": f})}, Y)


def test_big_ids_in_a_pyarrow_mixed_table_are_refused():
    pa = pytest.importorskip("pyarrow")
    f = np.linspace(-1, 1, 60)
    for value in (
        pa.table({"id": IDS, "f": f}),
        pa.record_batch({"id": IDS, "f": f}),
        pa.table({"id": pa.array(IDS).dictionary_encode(), "f": f}),
    ):
        with pytest.raises(ValueError, match=REFUSED):
            check_X_dict({"X": value})


def test_float_columns_of_a_polars_frame_are_not_read_again(monkeypatch):
    # The id check read every column of a frame through NumPy, the float
    # ones too (a copy of a chunked column); it reads the integer ones.
    pl = pytest.importorskip("polars")
    read = []
    to_array = pl.Series.__array__

    def spy(self, *args, **kwargs):
        read.append(self.name)
        return to_array(self, *args, **kwargs)

    monkeypatch.setattr(pl.Series, "__array__", spy)
    f = np.linspace(-1, 1, 60)
    frame = pl.DataFrame({"f": f, "g": f.astype(np.float32), "id": IDS})
    with pytest.raises(ValueError, match=REFUSED):
        check_X_dict({"X": frame})
    assert read == ["id"]


def test_chunked_pyarrow_columns_are_read_by_their_type():
    # NumPy copies a chunked column whole: the id check tells the float ones
    # by their type, without reading them.
    pa = pytest.importorskip("pyarrow")
    from rsft_sklearn._validation import _float_typed

    f = np.linspace(-1, 1, 60)

    def chunked(values, arrow_type=None):
        return pa.chunked_array([values[:25], values[25:]], type=arrow_type)

    for arrow_type in (pa.float16(), pa.float32(), pa.float64()):
        floats = f.astype(arrow_type.to_pandas_dtype())
        assert _float_typed(chunked(floats, arrow_type))
    assert not _float_typed(chunked(IDS))
    assert not _float_typed(chunked(IDS).dictionary_encode())
    with pytest.raises(ValueError, match=REFUSED):
        check_X_dict({"X": pa.table({"id": chunked(IDS), "f": chunked(f)})})
    ids = BIG - np.arange(60) % 3
    out = check_X_dict({"X": pa.table({"id": chunked(ids), "f": chunked(f)})})["X"]
    np.testing.assert_array_equal(out[:, 0].astype(np.int64), ids)
    np.testing.assert_array_equal(out[:, 1], f.astype(np.float32))


def test_polars_and_pyarrow_ids_within_float32_reach_the_network_exactly():
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    ids = BIG - np.arange(60) % 3
    f = np.linspace(-1, 1, 60)
    for value in (pl.DataFrame({"id": ids, "f": f}), pa.table({"id": ids, "f": f})):
        out = check_X_dict({"X": value})["X"]
        np.testing.assert_array_equal(out[:, 0].astype(np.int64), ids)
        np.testing.assert_array_equal(out[:, 1], f.astype(np.float32))


# ----------------------------------------------------------------------
# A 1-d value of a dict, for the default MLP and for a module of one's own
# ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["array", "series"])
def test_a_1d_dict_value_is_refused_by_the_default_mlp_with_advice(kind):
    # It reached the MLP (sized for one feature) as (batch,), and torch
    # failed with "mat1 and mat2 shapes cannot be multiplied (1x32 and
    # 1x64)"; a plain 1-d X is refused by scikit-learn's check.
    v = np.linspace(-1, 1, 60, dtype=np.float32)
    value = v if kind == "array" else pd.Series(v)
    clf = _clf()
    with pytest.raises(ValueError, match=r"X\['X'\] is 1-d.*reshape\(-1, 1\)"):
        clf.fit({"X": value}, Y)
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        _clf().partial_fit({"X": value}, Y, classes=[0, 1])
    with pytest.raises(ValueError, match="Expected 2D array"):
        _clf().fit(v, Y)


def test_a_1d_dict_value_refused_by_the_default_mlp_in_polars():
    pl = pytest.importorskip("polars")
    v = np.linspace(-1, 1, 60, dtype=np.float32)
    with pytest.raises(ValueError, match=r"X\['X'\] is 1-d.*to_frame\(\)"):
        _clf().fit({"X": pl.Series(v)}, Y)


def test_one_column_dict_trains_the_default_mlp_as_the_array_does():
    # The advice given: reshaped, the dict trains as the array.
    v = np.linspace(-1, 1, 60, dtype=np.float32).reshape(-1, 1)
    from_dict = _clf(max_epochs=2, batch_size=16).fit({"X": v}, Y)
    from_array = _clf(max_epochs=2, batch_size=16).fit(v, Y)
    assert from_dict.input_shapes_ == {"X": (1,)}
    assert (
        from_dict.predict_proba({"X": v}).tobytes()
        == from_array.predict_proba(v).tobytes()
    )


class ScalarRows(torch.utils.data.Dataset):
    """Rows of one number each."""

    def __len__(self):
        return 60

    def __getitem__(self, i):
        return torch.tensor(float(i))


def test_mlp_module_refuses_a_1d_batch_with_advice():
    # A Dataset of single numbers reached the MLP as (batch,): torch failed
    # with "mat1 and mat2 shapes cannot be multiplied (1x60 and 1x64)".
    module = MLPModule(n_features=1, n_classes=2)
    with pytest.raises(ValueError, match=r"shape \(60,\).*shape \(n, 1\)"):
        module(torch.zeros(60))
    assert module(torch.zeros(60, 1)).shape == (60, 2)
    with pytest.raises(ValueError, match=r"MLPModule takes a batch of rows"):
        _clf(module__n_features=1).fit(ScalarRows(), Y)


def test_mlp_module_takes_one_unbatched_row_as_nn_linear_does():
    # One row of n_features values, as nn.Linear takes it, was refused with
    # the advice "give the input the shape (n, 1)" (and so was a
    # torch.export with such an example).
    module = MLPModule(n_features=4, n_classes=3, hidden_layer_sizes=(8,))
    row = torch.linspace(-1, 1, 4)
    out = module(row)
    assert out.shape == (3,)
    torch.testing.assert_close(out, module(row[None])[0])
    exported = torch.export.export(module, (row,))
    torch.testing.assert_close(exported.module()(row), out, rtol=0, atol=0)
    X = np.random.RandomState(0).randn(60, 4).astype(np.float32)
    net = _clf().fit(X, Y)
    first = torch.as_tensor(X[0])
    torch.testing.assert_close(net.module_(first), net.module_(first[None])[0])


@pytest.mark.parametrize(
    "shape, n_features, advice",
    [
        ((60,), 1, r"shape \(60,\)\. One value per row .* X\.reshape\(-1, 1\)"),
        ((), 1, r"shape \(\)\. One value per row .* X\.reshape\(-1, 1\)"),
        # A Dataset of single numbers' last batch, of one row: not taken as
        # one unbatched row of one feature.
        (
            (1,),
            1,
            r"\(batch, 1\) \(more axes are flattened\); got a tensor of "
            r"shape \(1,\)\. One value per row",
        ),
        (
            (5,),
            4,
            r"or one row of shape \(4,\); got a tensor of shape \(5,\)\. A 1-d "
            r"input is one row, of 4 features, not 5: give a batch of rows the "
            r"shape \(batch, 4\)",
        ),
        ((), 4, r"shape \(\)\. A single number is not a row of 4 features"),
    ],
)
def test_mlp_module_refuses_other_inputs_of_fewer_axes_with_advice(
    shape, n_features, advice
):
    module = MLPModule(n_features=n_features, n_classes=2)
    with pytest.raises(ValueError, match=advice):
        module(torch.zeros(shape))


def test_an_mlp_module_on_some_input_columns_takes_a_row_as_a_batch():
    # Its first layer picks its columns from a batch of rows.
    module = MLPModule(n_features=6, n_classes=2, input_columns=[1, 4])
    row = torch.arange(6.0)
    advice = r"input_columns only; got a tensor of shape \(6,\).*\(1, 6\): X\.unsqueeze"
    with pytest.raises(ValueError, match=advice):
        module(row)
    assert module(row.unsqueeze(0)).shape == (1, 2)


def test_a_1d_dict_value_is_refused_even_in_batches_of_one_row():
    # A batch of one value has the shape (1,) of one unbatched row of the
    # MLP sized for one feature, which the module takes: the estimator
    # still refuses the 1-d value before training.
    v = np.linspace(-1, 1, 60, dtype=np.float32)
    with pytest.raises(ValueError, match=r"X\['X'\] is 1-d.*reshape\(-1, 1\)"):
        _clf(batch_size=1).fit({"X": v}, Y)


def test_a_module_of_ones_own_still_takes_a_1d_dict_value():
    v = np.arange(60, dtype=np.float32)
    net = _clf(module=Recorder, predict_nonlinearity=None).fit({"X": v}, Y)
    assert net.input_shapes_ == {"X": ()}
    first = net.module_.seen[0]
    assert first.shape == (60,)
    np.testing.assert_array_equal(np.sort(first.numpy()), v)


# ----------------------------------------------------------------------
# Lazy queries, and the token advice kept for sequences in cells
# ----------------------------------------------------------------------
class LazyQuery:
    """A query object with ``collect()`` and no array form (as polars'
    LazyFrame)."""

    def __init__(self, frame):
        self.frame = frame

    def collect(self):
        return self.frame


def test_an_object_with_collect_is_told_to_collect():
    X = np.linspace(-1, 1, 120, dtype=np.float32).reshape(60, 2)
    lazy = LazyQuery(X)
    with pytest.raises(TypeError, match=r"X is a LazyQuery.*call X.collect\(\)") as e:
        _clf().fit(lazy, Y)
    assert "token" not in str(e.value)
    fitted = _clf().fit(lazy.collect(), Y)
    with pytest.raises(TypeError, match=r"call X.collect\(\)"):
        fitted.predict(lazy)
    with pytest.raises(TypeError, match=r"X\[.a.\] is a LazyQuery.*X\['a'\].collect"):
        check_X_dict({"a": lazy})


def test_a_polars_lazyframe_is_told_to_collect():
    pl = pytest.importorskip("polars")
    X = np.linspace(-1, 1, 120, dtype=np.float32).reshape(60, 2)
    lazy = pl.DataFrame(X, schema=["a", "b"]).lazy()
    with pytest.raises(TypeError, match=r"X is a LazyFrame.*call X.collect\(\)") as e:
        _clf().fit(lazy, Y)
    assert "token" not in str(e.value)
    fitted = _clf().fit(lazy.collect(), Y)
    with pytest.raises(TypeError, match=r"call X.collect\(\)"):
        fitted.predict(lazy)
    # Collected, it trains as the array does.
    expected = _clf().fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(fitted.predict_proba(lazy.collect()), expected)


def test_cells_that_are_not_sequences_get_no_token_advice():
    # An object NumPy cannot read as numbers, none of whose cells is a list.
    class Opaque:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return [1.0, 2.0][i]

    X = np.empty((60, 1), dtype=object)
    for i in range(60):
        X[i, 0] = Opaque()
    with pytest.raises((ValueError, TypeError)) as e:
        _clf().fit(X, Y)
    assert "token" not in str(e.value)


@pytest.mark.parametrize("kind", ["object array", "series", "frame"])
def test_token_lists_in_cells_keep_the_pad_token_ids_advice(kind):
    ids = [[1, 2], [3]] * 30
    X = {
        "object array": lambda: np.array(ids, dtype=object),
        "series": lambda: pd.Series(ids),
        "frame": lambda: pd.DataFrame({"tokens": ids, "n": 1.0}),
    }[kind]()
    clf = RSFTClassifier(module=EmbeddingBagModule, module__vocab_size=10, max_epochs=1)
    with pytest.raises(ValueError, match="sequences in its cells.*pad_token_ids"):
        clf.fit(X, Y)


def test_polars_token_lists_keep_the_pad_token_ids_advice():
    pl = pytest.importorskip("polars")
    ids = [[1, 2], [3]] * 30
    clf = RSFTClassifier(module=EmbeddingBagModule, module__vocab_size=10, max_epochs=1)
    with pytest.raises(ValueError, match="sequences in its cells.*pad_token_ids"):
        clf.fit(pl.Series(ids), Y)


# ----------------------------------------------------------------------
# NumPy floats narrower than float64 as parameters
# ----------------------------------------------------------------------
def _data():
    X = np.random.RandomState(0).randn(60, 3).astype(np.float32)
    return X, Y


@pytest.mark.parametrize("M", [np.float16(1.5), np.float32(1.5)])
def test_a_narrow_numpy_float_M_trains_as_the_python_float_without_warnings(M):
    # float16: scikit-learn's interval cast float32's largest to float16
    # ("RuntimeWarning: overflow encountered in cast").
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        narrow = _clf(M=M).fit(X, y)
    plain = _clf(M=1.5).fit(X, y)
    assert narrow.predict_proba(X).tobytes() == plain.predict_proba(X).tobytes()
    assert narrow.get_params()["M"] is M


@pytest.mark.parametrize("M", [np.float16(0.0), np.float16(1e-8), np.float32(0.0)])
def test_a_narrow_numpy_float_M_below_the_range_is_refused_by_the_range_check(M):
    # float16(0) passed the interval (float32's smallest normal number cast
    # to float16 is 0) and was refused later, in other words.
    X, y = _data()
    with pytest.raises(InvalidParameterError, match=r"'M' parameter.*Got np.float"):
        _clf(M=M).fit(X, y)


def test_real_as_float_reads_narrow_numpy_floats_as_python_floats():
    value = real_as_float(np.float16(1.5))
    assert type(value) is float and value == 1.5
    assert type(real_as_float(np.float32(0.1))) is float
    assert real_as_float(np.float32(0.1)) == float(np.float32(0.1))
    wide = np.float64(0.1)
    assert real_as_float(wide) is wide


def test_prior_correction_float16_passes_the_parameter_check_without_warnings():
    constraints = RSFTClassifier._parameter_constraints["prior_correction"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_parameter(
            "prior_correction", np.float16(1.0), constraints, "RSFTClassifier"
        )
    with pytest.raises(InvalidParameterError, match="Got np.float16[(]-1.0[)]"):
        validate_parameter(
            "prior_correction", np.float16(-1.0), constraints, "RSFTClassifier"
        )


def test_a_float16_prior_correction_fits_as_the_python_float_without_warnings():
    # Warned twice: in scikit-learn's interval and in the loss's own range
    # check, both comparing it with 1e6 cast to float16.
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        narrow = _clf(prior_correction=np.float16(0.5)).fit(X, y)
    plain = _clf(prior_correction=0.5).fit(X, y)
    assert narrow.predict_proba(X).tobytes() == plain.predict_proba(X).tobytes()
