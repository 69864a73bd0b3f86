"""Several named inputs: dicts of arrays, DataFrames and torch Datasets."""

import numpy as np
import pandas as pd
import pytest
import torch
from _rules import SAMPLE_RULE

from rsft_sklearn import RSFTClassifier
from rsft_sklearn._validation import check_X_dict


class TwoBranch(torch.nn.Module):
    """An image-like branch and a tabular branch joined by a linear head."""

    def __init__(self, n_image=6, n_tabular=3, n_classes=2):
        super().__init__()
        self.image = torch.nn.Linear(n_image, 8)
        self.tabular = torch.nn.Linear(n_tabular, 8)
        self.head = torch.nn.Linear(16, n_classes)

    def forward(self, image, tabular):
        h = torch.cat([self.image(image.flatten(1)), self.tabular(tabular)], dim=1)
        return self.head(torch.relu(h))


class RowsDataset(torch.utils.data.Dataset):
    """Dict rows (image as 2x3 array, tabular as vector), optionally labelled."""

    def __init__(self, image, tabular, labels=None):
        self.image = image
        self.tabular = tabular
        self.labels = labels

    def __len__(self):
        return len(self.image)

    def __getitem__(self, i):
        inputs = {"image": self.image[i], "tabular": self.tabular[i]}
        return inputs if self.labels is None else (inputs, self.labels[i])


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 240
    image = rng.normal(size=(n, 2, 3))
    tabular = rng.normal(size=(n, 3))
    score = image[:, 0, 0] + tabular[:, 0]
    y = np.where(score > 1.2, "rare", "common")
    return image, tabular, y


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _net(**kwargs):
    kwargs = {"max_epochs": 4, "batch_size": 32, "random_state": 0, **kwargs}
    return RSFTClassifier(TwoBranch, **kwargs)


def test_dict_inputs_fit_and_predict_by_name(data):
    image, tabular, y = data
    clf = _net(lr=2e-2, max_epochs=8).fit({"image": image, "tabular": tabular}, y)
    assert clf.input_keys_ == ["image", "tabular"]
    proba = clf.predict_proba({"tabular": tabular, "image": image})
    assert proba.shape == (len(y), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(clf.predict({"image": image, "tabular": tabular})) <= {"rare", "common"}
    assert clf.score({"image": image, "tabular": tabular}, y) > 0.7


def test_dict_input_errors_name_the_problem(data):
    image, tabular, y = data
    clf = _net(max_epochs=1)
    with pytest.raises(ValueError, match="same length"):
        clf.fit({"image": image, "tabular": tabular[:-1]}, y)
    bad = tabular.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="tabular"):
        clf.fit({"image": image, "tabular": bad}, y)
    # scikit-learn's message advised .toarray(), which densifies it whole
    import scipy.sparse as sp

    with pytest.raises(TypeError, match=r"X\['tabular'\] is a sparse csr_matrix"):
        clf.fit({"image": image, "tabular": sp.csr_matrix(tabular)}, y)
    clf.fit({"image": image, "tabular": tabular}, y)
    with pytest.raises(ValueError, match=r"missing the input\(s\) \['tabular'\]"):
        clf.predict({"image": image})
    assert clf.input_shapes_ == {"image": (2, 3), "tabular": (3,)}
    # What fit did not see is named, not left to the module's forward.
    with pytest.raises(ValueError, match=r"X\['tabular'\] has rows of shape \(2,\)"):
        clf.predict({"image": image, "tabular": tabular[:, :2]})
    with pytest.raises(ValueError, match=r"the input\(s\) \['extra'\], which fit"):
        clf.predict({"image": image, "tabular": tabular, "extra": tabular})
    with pytest.raises(TypeError, match="fitted on a dict of inputs"):
        clf.predict(tabular)
    # Refitted on an array, it takes arrays only.
    flat = np.hstack([image.reshape(len(image), -1), tabular])
    plain = RSFTClassifier(max_epochs=1, random_state=0).fit(flat, y)
    assert "input_keys_" not in vars(plain)
    with pytest.raises(ValueError, match="fitted on an array of 9 features"):
        plain.predict({"image": image, "tabular": tabular})


def test_mask_is_drawn_once_per_sample_for_all_inputs(data):
    """A rejected sample sends no gradient through any branch.

    Class "rare" gets a target weight so small that it is never accepted; one
    full-batch SGD step must then equal a plain step on the "common" rows
    alone, in both branches.
    """
    image, tabular, y = data
    X = {"image": image, "tabular": tabular}
    start = TwoBranch()
    kwargs = {
        "optimizer": torch.optim.SGD,
        "lr": 0.5,
        "max_epochs": 1,
        "batch_size": len(y),
        "classes": np.array(["common", "rare"]),
    }
    rejecting = RSFTClassifier(
        start,
        hardness=0,
        M=1.0,
        target={"common": 1.0, "rare": 1e-30},
        **SAMPLE_RULE,
        **kwargs,
    ).fit(X, y)
    assert rejecting.history[-1, "acceptance_rate[rare]"] == 0.0
    assert rejecting.history[-1, "acceptance_rate[common]"] == 1.0

    keep = y == "common"
    plain = RSFTClassifier(start, warmup_epochs=1, prior_correction=0.0, **kwargs).fit(
        {"image": image[keep], "tabular": tabular[keep]}, y[keep]
    )
    before, after, expected = _params(start), _params(rejecting.module_), None
    expected = _params(plain.module_)
    for name in ("image.weight", "tabular.weight", "head.weight"):
        assert not torch.allclose(before[name], after[name])
        torch.testing.assert_close(after[name], expected[name], rtol=1e-5, atol=1e-6)


def test_dataframe_is_one_input_with_checked_column_names(data):
    image, tabular, y = data
    frame = pd.DataFrame(tabular, columns=["age", "dose", "weight"])
    clf = RSFTClassifier(max_epochs=2, random_state=0).fit(frame, y)
    assert list(clf.feature_names_in_) == ["age", "dose", "weight"]
    assert clf.predict(frame).shape == (len(y),)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["dose", "age", "weight"]])


def test_dict_of_dataframes_gives_named_column_groups(data):
    image, tabular, y = data
    frame = pd.DataFrame(
        np.hstack([image.reshape(len(y), -1), tabular]),
        columns=[f"pixel{i}" for i in range(6)] + ["age", "dose", "weight"],
    )
    groups = {"image": frame.filter(like="pixel"), "tabular": frame.iloc[:, 6:]}
    clf = _net().fit(groups, y)
    same = _net().fit({"image": image.reshape(len(y), -1), "tabular": tabular}, y)
    np.testing.assert_allclose(
        clf.predict_proba(groups), same.predict_proba(groups), rtol=1e-6
    )


def test_dict_of_dataframes_checks_each_inputs_column_names(data):
    image, tabular, y = data
    pixels = pd.DataFrame(image.reshape(len(y), -1), columns=list("abcdef"))
    table = pd.DataFrame(tabular, columns=["age", "dose", "weight"])
    clf = _net(max_epochs=1).fit({"image": pixels, "tabular": table}, y)
    assert clf.input_column_names_["tabular"].tolist() == ["age", "dose", "weight"]
    # Another order would be read by position: refused, naming the input.
    swapped = {"image": pixels, "tabular": table[["dose", "age", "weight"]]}
    with pytest.raises(ValueError, match=r"column names of X\['tabular'\]"):
        clf.predict(swapped)
    renamed = {"image": pixels, "tabular": table.set_axis(["a", "b", "c"], axis=1)}
    with pytest.raises(ValueError, match="fitted \\['age', 'dose', 'weight'\\]"):
        clf.predict_proba(renamed)
    # Arrays where DataFrames were fitted are read by position, with a warning.
    arrays = {"image": pixels, "tabular": tabular}
    with pytest.warns(UserWarning, match=r"X\['tabular'\] has no column names"):
        proba = clf.predict_proba(arrays)
    np.testing.assert_allclose(
        proba, clf.predict_proba({"image": pixels, "tabular": table})
    )
    # A fit on arrays reads DataFrames by position, with a warning, as
    # scikit-learn warns for one input (it said nothing).
    plain = _net(max_epochs=1).fit(
        {"image": image.reshape(len(y), -1), "tabular": tabular}, y
    )
    assert plain.input_column_names_ == {"image": None, "tabular": None}
    with pytest.warns(UserWarning, match=r"X\['tabular'\] has column names, but"):
        assert plain.predict(swapped).shape == (len(y),)


def test_dataset_fit_matches_the_same_data_as_arrays(data):
    """A Dataset of dict rows trains exactly like the dict of arrays.

    The batches come in the same order (no shuffling: a DataLoader draws from
    the shuffling generator in its own way), so the masks are the same draws.
    """
    image, tabular, y = data
    weight = np.linspace(0.5, 2.0, len(y))
    in_order = {"iterator_train__shuffle": False}
    from_arrays = _net(**in_order).fit({"image": image, "tabular": tabular}, y, weight)
    dataset = RowsDataset(image, tabular)
    from_rows = _net(**in_order).fit(dataset, y, weight)
    assert from_rows.input_keys_ == ["image", "tabular"]
    np.testing.assert_allclose(
        from_rows.predict_proba(dataset),
        from_arrays.predict_proba({"image": image, "tabular": tabular}),
        rtol=1e-5,
        atol=1e-6,
    )
    for key in ("acceptance_rate", "acceptance_rate[rare]"):
        assert from_rows.history[:, key] == pytest.approx(
            from_arrays.history[:, key], abs=1e-6
        )


def test_dataset_rows_may_carry_labels_that_must_agree_with_y(data):
    image, tabular, y = data
    clf = _net(max_epochs=1).fit(RowsDataset(image, tabular, y), y)
    assert list(clf.classes_) == ["common", "rare"]
    shifted = np.roll(y, 1)
    assert np.any(shifted != y)
    with pytest.raises(ValueError, match="y must list the labels"):
        _net(max_epochs=1).fit(RowsDataset(image, tabular, y), shifted)


def test_dataset_input_errors(data):
    image, tabular, y = data
    clf = _net(max_epochs=1)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(RowsDataset(image, tabular), y[:-1])
    with pytest.raises(ValueError, match="requires y"):
        clf.fit(RowsDataset(image, tabular), None)
    bad = tabular.copy()
    bad[7, 0] = np.inf
    with pytest.raises(ValueError, match=r"Row 7 .*'tabular'.* NaN or infinity"):
        clf.fit(RowsDataset(image, bad), y)
    clf.fit(RowsDataset(image, tabular), y)

    class ImageOnly(RowsDataset):
        def __getitem__(self, i):
            return {"image": self.image[i]}

    with pytest.raises(ValueError, match=r"missing the input\(s\) \['tabular'\]"):
        clf.predict(ImageOnly(image, tabular))

    class WithWeather(RowsDataset):
        def __getitem__(self, i):
            return {**super().__getitem__(i), "weather": self.tabular[i]}

    # An input fit did not see reached forward ("unexpected keyword
    # argument 'weather'"); a dict X with it is refused by name.
    with pytest.raises(ValueError, match=r"Row 0 .* \['weather'\], which fit did not"):
        clf.predict(WithWeather(image, tabular))


def test_dataset_of_single_tensors_and_default_mlp_message(data):
    image, tabular, y = data
    rows = torch.utils.data.TensorDataset(torch.as_tensor(tabular))
    with pytest.raises(
        ValueError, match="the rows of a Dataset give none: pass module__n_features"
    ):
        RSFTClassifier(max_epochs=1).fit(
            _Unwrap(rows), y
        )  # the default MLP is sized from arrays only
    module = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU())
    module.append(torch.nn.Linear(8, 2))
    clf = RSFTClassifier(module, max_epochs=2, random_state=0).fit(_Unwrap(rows), y)
    assert clf.predict(_Unwrap(rows)).shape == (len(y),)
    assert not hasattr(clf, "input_keys_")


class _Unwrap(torch.utils.data.Dataset):
    """Rows that are a bare tensor, without a label."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i][0]


@pytest.mark.parametrize(
    "ids",
    [
        np.array([[2**24 + 1, 3]] * 4),
        torch.tensor([[2**24 + 1, 3]] * 4),
        pd.DataFrame({"a": [2**24 + 1] * 4, "b": [3] * 4}),
    ],
)
def test_integer_inputs_of_a_dict_beyond_float32_are_refused(ids):
    # Ids above 2**24 were rounded to float32 without a word (2**24 + 1
    # reached the network as 2**24), so distinct tokens shared an embedding.
    X = {"tokens": ids, "vitals": np.ones((4, 2))}
    with pytest.raises(ValueError, match=r"X\['tokens'\] holds integers above 2\*\*24"):
        RSFTClassifier(max_epochs=1).fit(X, [0, 1, 0, 1])
    # Integers that float32 holds exactly pass, as floats.
    checked = check_X_dict({"tokens": np.array([[2**24, 3]]), "v": np.ones((1, 2))})
    assert checked["tokens"].dtype == np.float32
    assert checked["tokens"][0, 0] == 2**24


def test_integer_check_of_dict_inputs_reads_every_kind_of_column():
    # A Series of a nullable dtype crashed the check ("'Int64Dtype' object is
    # not iterable"); an id column beside a float column was not checked.
    for series in (
        pd.Series([1, 2, 3], dtype="Int64"),
        pd.Series([True, False, True], dtype="boolean"),
        pd.Series([1.5, 2.5, 3.5], dtype="Float64"),
    ):
        assert check_X_dict({"a": series})["a"].dtype == np.float32
    mixed = pd.DataFrame({"ids": [2**24 + 1] * 3, "x": [0.5] * 3})
    with pytest.raises(ValueError, match="holds integers above 2"):
        check_X_dict({"a": mixed})
    with pytest.raises(ValueError, match="holds integers above 2"):
        check_X_dict({"a": np.array([[np.iinfo(np.int64).min]])})


def test_an_initialised_estimator_predicts_dict_rows_of_a_dataset(data):
    # An estimator only initialised (to load parameters) has seen no data;
    # dict rows were refused as if it had been "fitted on single-array rows".
    image, tabular, _ = data
    clf = _net(classes=["common", "rare"], probability="raw").initialize()
    by_arrays = clf.predict_proba({"image": image, "tabular": tabular})
    by_rows = clf.predict_proba(RowsDataset(image, tabular))
    np.testing.assert_allclose(by_rows, by_arrays, rtol=1e-6)


def test_dataset_rows_with_bad_keys_labels_or_values_are_named(data):
    image, tabular, y = data

    class Keys(RowsDataset):
        def __init__(self, keys):
            super().__init__(image, tabular)
            self.keys = keys

        def __getitem__(self, i):
            return {key: self.tabular[i] for key in self.keys}

    # Mixed key types gave sorted()'s "'<' not supported"; an empty dict
    # reached forward without its arguments.
    with pytest.raises(TypeError, match=r"must be str .*\['int', 'str'\]"):
        _net(max_epochs=1).fit(Keys(["image", 1]), y)
    with pytest.raises(ValueError, match="Row 0 of the dataset is an empty dict"):
        _net(max_epochs=1).fit(Keys([]), y)

    class PairLabels(RowsDataset):
        def __getitem__(self, i):
            return super().__getitem__(i)[0], np.array([self.labels[i]] * 2)

    # numpy's "can only convert an array of size 1 to a Python scalar".
    with pytest.raises(ValueError, match=r"Row \d+ .* label of shape \(2,\)"):
        _net(max_epochs=1).fit(PairLabels(image, tabular, y), y)

    big = tabular.copy()
    big[5, 1] = 1e300  # finite, but beyond float32
    with pytest.raises(ValueError, match=r"Row 5 .*'tabular'.* float32 range"):
        _net(max_epochs=1).fit(RowsDataset(image, big), y)


def test_dataset_rows_of_another_shape_than_the_fitted_arrays_are_refused(data):
    _, tabular, y = data
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(tabular, y)
    rows = torch.utils.data.TensorDataset(torch.as_tensor(tabular))
    # A TensorDataset of the inputs alone yields 1-tuples: refused as
    # "1 items" before.
    np.testing.assert_allclose(
        clf.predict_proba(rows), clf.predict_proba(tabular), rtol=1e-6
    )
    wide = torch.utils.data.TensorDataset(torch.as_tensor(np.c_[tabular, tabular]))
    # torch's "mat1 and mat2 shapes cannot be multiplied" before.
    with pytest.raises(ValueError, match=r"Row 0 .* shape \(6,\).* shape \(3,\)"):
        clf.predict(wide)


def test_a_skorch_dataset_without_y_has_no_labels_to_compare(data):
    from skorch.dataset import Dataset

    _, tabular, y = data
    # skorch's Dataset(X) yields a placeholder label 0, which was read as a
    # row's label and refused against y.
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(tabular, y)
    np.testing.assert_allclose(
        clf.predict_proba(Dataset(tabular.astype(np.float32))),
        clf.predict_proba(tabular),
        rtol=1e-6,
    )
    module = torch.nn.Sequential(torch.nn.Linear(3, 2))
    y_rare_first = np.where(y == "rare", "a", "b")
    fitted = RSFTClassifier(module, max_epochs=1, random_state=0).fit(
        Dataset(tabular.astype(np.float32)), y_rare_first
    )
    assert list(fitted.classes_) == ["a", "b"]


def test_dataset_dict_rows_of_another_shape_than_fit_are_named(data):
    # Fitted on a dict of arrays, a Dataset of dict rows whose image had
    # another shape reached the module (torch: "mat1 and mat2 shapes cannot
    # be multiplied"), where the same dict of arrays got a message.
    image, tabular, y = data
    clf = _net(max_epochs=1).fit({"image": image, "tabular": tabular}, y)
    wrong = RowsDataset(image[:, :, :2].copy(), tabular)
    with pytest.raises(ValueError, match=r"X\['image'\] of shape \(2, 2\).*\(2, 3\)"):
        clf.predict(wrong)
    np.testing.assert_array_equal(
        clf.predict(RowsDataset(image, tabular)),
        clf.predict({"image": image, "tabular": tabular}),
    )


def test_refit_on_a_dict_drops_the_feature_names_of_a_frame(data):
    image, tabular, y = data
    frame = pd.DataFrame(tabular, columns=["p", "q", "r"])
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(frame, y)
    assert list(clf.feature_names_in_) == ["p", "q", "r"]
    clf.set_params(module=TwoBranch).fit({"image": image, "tabular": tabular}, y)
    assert not hasattr(clf, "feature_names_in_")
    assert not hasattr(clf, "n_features_in_")
