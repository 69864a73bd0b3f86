"""Checks on torch Dataset inputs: token ids, InMemoryDataset, map-style."""

import numpy as np
import pytest
import torch

from rsft_sklearn import EmbeddingBagModule, InMemoryDataset, RSFTClassifier
from rsft_sklearn._multimodal import DatasetRows, check_dataset, wrap_dataset


class Rows(torch.utils.data.Dataset):
    """Each row of an array, as it is."""

    def __init__(self, array):
        self.array = array

    def __len__(self):
        return len(self.array)

    def __getitem__(self, i):
        return torch.as_tensor(self.array[i])


def token_ids(n=40, length=5, vocab_size=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, vocab_size, size=(n, length))


def token_classifier(**params):
    return RSFTClassifier(
        module=EmbeddingBagModule,
        module__vocab_size=10,
        module__embedding_dim=4,
        max_epochs=1,
        random_state=0,
        verbose=0,
        **params,
    )


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.uint64])
def test_wide_unsigned_token_ids_are_checked(dtype):
    # torch has no comparisons of these dtypes on the CPU: the check itself
    # failed with a NotImplementedError.
    ids = token_ids().astype(dtype)
    rows = DatasetRows(Rows(ids), vocab_size=10)
    np.testing.assert_array_equal(rows[0][0].numpy(), ids[0])
    ids[3, 2] = 12
    with pytest.raises(
        ValueError, match="Row 3 of the dataset: X holds the token id 12"
    ):
        DatasetRows(Rows(ids), vocab_size=10)[3]
    memory = InMemoryDataset(torch.as_tensor(ids))
    with pytest.raises(
        ValueError, match="Row 3 of the dataset: X holds the token id 12"
    ):
        wrap_dataset(memory, vocab_size=10)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (12, "token id 12, outside the vocabulary of the embedding"),
        (-1, "token id -1, outside the vocabulary"),
        (2.5, "token id 2.5, which is not an integer"),
        # Checked before the cast to float32, which would make it 7.
        (7.0000001, "token id 7.0000001, which is not an integer"),
    ],
)
def test_dataset_rows_refuse_token_ids_outside_the_vocabulary(value, message):
    ids = token_ids().astype(type(value))
    ids[3, 2] = value
    rows = DatasetRows(Rows(ids), vocab_size=10)
    for i in (0, 2, 4):
        np.testing.assert_array_equal(rows[i][0].numpy(), ids[i])
    with pytest.raises(
        ValueError, match=f"Row 3 of the dataset: X holds the {message}"
    ):
        rows[3]
    # The first row, before training starts.
    first = ids[[3, 0]]
    with pytest.raises(
        ValueError, match=f"Row 0 of the dataset: X holds the {message}"
    ):
        check_dataset(Rows(first), "fit", vocab_size=10)
    # At prediction time too, and in a row that is not a vector of ids.
    with pytest.raises(ValueError, match="Row 3 of the dataset"):
        wrap_dataset(Rows(ids), vocab_size=10)[3]
    with pytest.raises(ValueError, match=r"shape \(1, 5\); a row of token ids"):
        check_dataset(Rows(ids[:, None]), "fit", vocab_size=10)
    # Without a vocabulary (a module that takes no token ids), nothing to check.
    assert check_dataset(Rows(ids), "fit") == (len(ids), None)


def test_in_memory_dataset_token_ids_are_checked_in_full():
    ids = token_ids()
    ids[5, 0] = 10
    dataset = InMemoryDataset(torch.as_tensor(ids))
    with pytest.raises(
        ValueError, match="Row 5 of the dataset: X holds the token id 10"
    ):
        check_dataset(dataset, "fit", vocab_size=10)
    assert check_dataset(dataset, "fit", vocab_size=11) == (len(ids), None)
    # At prediction time, where it is batched by slicing as it is.
    with pytest.raises(
        ValueError, match="Row 5 of the dataset: X holds the token id 10"
    ):
        wrap_dataset(dataset, vocab_size=10)
    assert wrap_dataset(dataset, vocab_size=11) is dataset


def test_fit_and_predict_refuse_dataset_token_ids_outside_the_vocabulary():
    ids = token_ids(n=60)
    y = np.arange(60) % 2
    bad = ids.copy()
    bad[3, 1] = 12
    out_of_range = "Row 3 of the dataset: X holds the token id 12, outside"
    with pytest.raises(ValueError, match=out_of_range):
        token_classifier(train_split=None).fit(Rows(bad), y)
    half = ids.astype(np.float64)
    half[3, 1] = 2.5
    with pytest.raises(ValueError, match="Row 3 .* token id 2.5, which is not an"):
        token_classifier(train_split=None).fit(Rows(half), y)
    clf = token_classifier().fit(Rows(ids), y)
    with pytest.raises(ValueError, match=out_of_range):
        clf.predict(Rows(bad))
    in_memory = InMemoryDataset(torch.as_tensor(bad))
    with pytest.raises(ValueError, match=out_of_range):
        token_classifier().fit(in_memory, y)
    with pytest.raises(ValueError, match=out_of_range):
        clf.predict(in_memory)
    # As the validation set of predefined_split (it failed inside torch).
    from skorch.helper import predefined_split

    labelled = InMemoryDataset(torch.as_tensor(bad), torch.as_tensor(y))
    with pytest.raises(ValueError, match="The validation set of train_split: Row 3"):
        token_classifier(train_split=predefined_split(labelled)).fit(ids, y)


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4)).astype(np.float32)
    y = np.where(X[:, 0] > 0.3, "yes", "no")
    return X, y


def test_in_memory_dataset_takes_the_labels_and_weights_of_fit(tabular):
    X, y = tabular
    weight = np.where(y == "yes", 5.0, 1.0)
    # The default MLP takes the width of a Dataset's rows as a parameter.
    params = dict(
        max_epochs=2,
        random_state=0,
        verbose=0,
        module__n_features=4,
        module__n_classes=2,
    )
    for sample_weight in (None, weight):
        expected = RSFTClassifier(**params).fit(X, y, sample_weight=sample_weight)
        for labels in (None, torch.as_tensor((y == "yes").astype(np.int64))):
            dataset = InMemoryDataset(torch.as_tensor(X), labels)
            clf = RSFTClassifier(**params).fit(dataset, y, sample_weight=sample_weight)
            np.testing.assert_array_equal(clf.class_prior_, expected.class_prior_)
            np.testing.assert_allclose(
                clf.predict_proba(X), expected.predict_proba(X), rtol=1e-6
            )
            # The caller's dataset is left as it was.
            assert dataset.y is labels
            assert dataset.sample_weight is None


def test_in_memory_dataset_labels_must_be_those_of_y(tabular):
    X, y = tabular
    held = torch.as_tensor((y == "yes").astype(np.int64))
    flipped = np.where(y == "yes", "no", "yes")
    with pytest.raises(
        ValueError,
        match=r"Row 0 of the InMemoryDataset has the label \d, but y\[0\] is class "
        r"index \d \(class '(yes|no)'\); 80 row\(s\) in all",
    ):
        RSFTClassifier(max_epochs=1, verbose=0, module__n_features=4).fit(
            InMemoryDataset(torch.as_tensor(X), held), flipped
        )
    with pytest.raises(ValueError, match="holds sample_weight; fit takes the weights"):
        RSFTClassifier(max_epochs=1, verbose=0).fit(
            InMemoryDataset(torch.as_tensor(X), held, torch.ones(len(X))), y
        )


class Stream(torch.utils.data.IterableDataset):
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        for row, label in zip(self.X, self.y, strict=True):
            yield torch.as_tensor(row), label


class SizedStream(Stream):
    def __len__(self):
        return len(self.X)


class Unindexed(torch.utils.data.Dataset):
    def __len__(self):
        return 3


@pytest.mark.parametrize(
    ("dataset", "missing"),
    [
        (Stream, "an IterableDataset without __len__ or __getitem__"),
        (SizedStream, "an IterableDataset without __getitem__"),
        (lambda X, y: Unindexed(), "a Dataset without __getitem__"),
    ],
)
def test_datasets_that_are_not_map_style_are_refused(tabular, dataset, missing):
    X, y = tabular
    message = f"must be map-style, with __len__ and __getitem__.*is {missing}"
    with pytest.raises(TypeError, match=message):
        RSFTClassifier(max_epochs=1, verbose=0).fit(dataset(X, y), y)
    fitted = RSFTClassifier(max_epochs=1, verbose=0).fit(X, y)
    with pytest.raises(TypeError, match=message):
        fitted.predict(dataset(X, y))
