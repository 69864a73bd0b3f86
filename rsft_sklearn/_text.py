"""Token sequences: a transformer from text to token ids and an embedding bag.

Variable-length documents travel as one padded array of token ids, shape
``(n_samples, length)``, with id 0 for padding (a document's length is its
number of non-zero ids). :class:`TokenIndexer` builds that array from raw
strings or from lists of tokens (the output of a tokenizer step);
:func:`pad_token_ids` builds it from lists of ids. The estimator reads the
array as float32, which holds every integer id below 2**24 exactly;
:class:`EmbeddingBagModule` casts it back to integers and mean-pools the
embeddings of the non-padding ids.
"""

import heapq
import inspect
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from numbers import Integral, Number, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._modules import check_dropout, check_layer_sizes, check_size
from ._validation import (
    FLOAT32_EXACT_INTEGERS,
    RSFTWarning,
    caller_stacklevel,
    is_missing,
)

__all__ = [
    "EmbeddingBagModule",
    "TokenIndexer",
    "check_token_ids",
    "pad_token_ids",
]

PAD_ID = 0
UNKNOWN_ID = 1
# float32, the dtype the estimator computes in, holds integers exactly up to here.
MAX_VOCABULARY = FLOAT32_EXACT_INTEGERS


def pad_token_ids(sequences, length=None):
    """Lists of token ids as one array padded with id 0.

    Parameters
    ----------
    sequences : iterable of iterable of int
        Token ids of every document, each ``>= 1``; a 0 is padding (as in an
        array padded already), which the embedding leaves out. Floats are
        taken when they are whole numbers; other values and strings are an
        error (:class:`TokenIndexer` turns text into ids).
    length : int or None, default=None
        Columns of the result, a whole number ``>= 1``; longer documents are
        cut, and ``None`` takes the longest document (at least 1). The
        documents to predict need the columns of the training array, not
        their own longest document: pad them with
        ``length=clf.n_features_in_`` (the fitted estimator's width).

    Returns
    -------
    ids : ndarray of shape (n_samples, length), int64
        One row per document: its ids from the first column on, cut at
        ``length``, then zeros.

    Examples
    --------
    >>> from rsft_sklearn import pad_token_ids
    >>> train = pad_token_ids([[3, 4, 5], [], [7]])
    >>> train.tolist()
    [[3, 4, 5], [0, 0, 0], [7, 0, 0]]

    Documents to predict, padded to the training width (for a fitted
    estimator, ``length=clf.n_features_in_``):

    >>> pad_token_ids([[8, 9]], length=train.shape[1]).tolist()
    [[8, 9, 0]]
    """
    if isinstance(sequences, (str, bytes)):
        raise TypeError(
            "sequences must be a list of documents, each a list of integer token "
            "ids, got a string; TokenIndexer turns text into token ids."
        )
    sequences = [_ids_of(row, seq) for row, seq in enumerate(sequences)]
    if length is None:
        length = max([len(seq) for seq in sequences] + [1])
    else:
        length = check_size(length, "length")
    out = np.zeros((len(sequences), length), dtype=np.int64)
    for row, seq in enumerate(sequences):
        if seq.size and seq.min() < 0:
            raise ValueError(f"Row {row} holds a negative token id {seq.min()}.")
        seq = seq[:length]
        out[row, : len(seq)] = seq
    return out


def _ids_of(row, seq):
    """One document's token ids as int64, refusing what is not integer ids
    (a string would be read one character at a time, and 2.7 as 2)."""
    if isinstance(seq, (str, bytes)):
        raise TypeError(
            f"Row {row} is a string, not a list of token ids; TokenIndexer "
            "turns text into token ids."
        )
    if isinstance(seq, Mapping):
        # Iterating it gives its keys: {3: 0.9, 7: 0.1} read as the ids 3
        # and 7, its values dropped.
        raise TypeError(
            f"Row {row} is a {type(seq).__name__} (a mapping), not a list of "
            "token ids: its keys would be read as the ids and its values "
            "dropped. Pass each document as a list of ids."
        )
    if not isinstance(seq, Iterable):
        raise TypeError(
            f"Row {row} is a {type(seq).__name__}, not a list of token ids."
        )
    try:
        ids = np.asarray(list(seq))
    except ValueError:
        ids = None
    if ids is None or ids.ndim != 1:
        raise ValueError(
            f"Row {row} holds lists, not token ids: each document is one flat "
            "list of integer ids."
        )
    if ids.size == 0:
        return ids.astype(np.int64)
    if ids.dtype.kind == "u" and ids.max() > np.iinfo(np.int64).max:
        raise ValueError(
            f"Row {row} holds the token id {int(ids.max())}, beyond any "
            "embedding table."
        )
    if ids.dtype.kind == "f":
        whole = np.isfinite(ids) & (ids == np.round(ids))
        if not whole.all():
            raise ValueError(
                f"Row {row} holds the token id {float(ids[~whole][0]):g}, which is not "
                "an integer."
            )
        # 2**63 and above would wrap to a negative int64 (float16 holds
        # none: 2**63 itself overflowed in the comparison).
        huge = ids >= 2.0**63 if ids.dtype.itemsize > 2 else np.zeros_like(whole)
        if huge.any():
            raise ValueError(
                f"Row {row} holds the token id {float(ids[huge][0]):g}, beyond any "
                "embedding table."
            )
    elif ids.dtype.kind == "O":
        _check_object_ids(row, ids)
        if not all(isinstance(value, Integral) for value in ids):
            # Integers beside other numbers (a Fraction): checked as floats.
            return _ids_of(row, ids.astype(np.float64))
    elif ids.dtype.kind not in "iu":
        raise TypeError(f"Row {row} holds {ids.dtype} values; token ids are integers.")
    return ids.astype(np.int64)


def _check_object_ids(row, ids):
    """Refuse what left a row's ids in an object array: a missing value, an
    integer beyond int64, or a value that is no number."""
    for position, value in enumerate(ids):
        if is_missing(value):
            raise ValueError(
                f"Row {row} holds a missing value ({value!r}) at position "
                f"{position}, not a token id; pad with the id 0, or leave the "
                "document shorter."
            )
        if isinstance(value, Integral) and not isinstance(value, bool):
            if value < 0:
                raise ValueError(f"Row {row} holds a negative token id {value}.")
            if value > np.iinfo(np.int64).max:
                raise ValueError(
                    f"Row {row} holds the token id {value}, too large for int64 "
                    "(at most 2**63 - 1) and beyond any embedding table."
                )
    for position, value in enumerate(ids):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
            shown = repr(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise TypeError(
                f"Row {row} holds {shown} ({type(value).__name__}) at position "
                f"{position}; token ids are integers."
            )


def check_token_ids(X, vocab_size):
    """Refuse token ids that are not integers in ``[0, vocab_size)``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, length)
        Padded token ids, in any numeric dtype (of a sparse matrix, the
        stored entries; the others are the id 0).
    vocab_size : int or None
        Size of the embedding table; ``None`` checks nothing.

    Raises
    ------
    ValueError
        Naming the first row with an id out of range or not an integer.
    """
    if vocab_size is None:
        return
    if getattr(X, "ndim", 2) != 2:
        raise ValueError(
            "Token ids must be a 2-d array of shape (n_samples, length), padded "
            f"with id 0 (see pad_token_ids); got shape {np.shape(X)}."
        )
    if sp.issparse(X):
        # The stored entries only: an entry not stored is the id 0. Entries
        # stored twice at one place are summed, as the network reads them
        # (on a copy: the caller's matrix is left as it is).
        X = sp.csr_matrix(X)
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        values = X.data
        bad = (values < 0) | (values >= vocab_size) | (values != np.round(values))
        if not bad.any():
            return
        row_of = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        rows = np.unique(row_of[bad])
        row, given = int(rows[0]), values[bad][0]
    else:
        X = np.asarray(X)
        bad = (X < 0) | (X >= vocab_size) | (X != np.round(X))
        rows = np.flatnonzero(bad.reshape(len(X), -1).any(axis=1))
        if not len(rows):
            return
        row = int(rows[0])
        given = X[row][bad[row]].flat[0]
    # The id as given, in its own dtype (2.3 in float32 reads 2.3).
    value = float(given)
    if np.isfinite(value) and value != np.round(value):
        raise ValueError(
            f"Row {row} of X holds the token id {given!s}, which is not an "
            f"integer; {len(rows)} row(s) in all. Token ids are whole numbers "
            "(pad_token_ids and TokenIndexer make them)."
        )
    raise ValueError(
        f"Row {row} of X holds the token id {value:g}, outside the "
        f"vocabulary of the embedding (integer ids 0 to {vocab_size - 1}); "
        f"{len(rows)} row(s) in all. Index the text with the TokenIndexer "
        "that sized the module, or enlarge vocab_size (the rows of "
        "pretrained_embeddings, when the module has them)."
    )


def _refuse_size(name, given, held, shape):
    raise ValueError(
        f"EmbeddingBagModule got {name}={given!r} and pretrained_embeddings of "
        f"shape {tuple(shape)}, which gives {name}={held}: leave {name} out (it "
        "is taken from the matrix), or pass a matrix of the size you want."
    )


def token_vocabulary(module, module_params):
    """Vocabulary size of an :class:`EmbeddingBagModule` class or instance.

    ``module`` and ``module_params`` are an estimator's ``module`` and its
    ``module__*`` parameters; any other module gives ``None``.
    """
    if isinstance(module, EmbeddingBagModule):
        return module.embedding.num_embeddings
    if isinstance(module, type) and issubclass(module, EmbeddingBagModule):
        # A subclass may give the arguments defaults of its own.
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(module).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        params = {**defaults, **module_params}
        if params.get("pretrained_embeddings") is not None:
            return len(params["pretrained_embeddings"])
        size = params.get("vocab_size")
        return None if size is None else check_vocabulary_size(size)
    return None


def check_vocabulary_size(size):
    """Rows of an embedding table: a whole number from 1 to ``MAX_VOCABULARY``
    (the estimator reads token ids as float32, exact up to there only)."""
    size = check_size(size, "vocab_size")
    if size > MAX_VOCABULARY:
        raise ValueError(
            f"vocab_size is {size}, above {MAX_VOCABULARY} (2**24): the "
            "estimator reads token ids as float32, which holds no larger ids "
            "exactly, so distinct tokens would share an embedding. Keep fewer "
            "tokens (TokenIndexer(max_features=...))."
        )
    return size


class EmbeddingBagModule(nn.Module):
    """Mean of token embeddings, then a small MLP head; returns logits.

    The input is a padded array of token ids (see :func:`pad_token_ids` and
    :class:`TokenIndexer`); id 0 is padding and is left out of the mean, so
    an empty document embeds to zeros.

    Parameters
    ----------
    vocab_size : int or None, default=None
        Rows of the embedding table (``TokenIndexer.vocab_size_``), at most
        ``2**24`` (the estimator reads token ids as float32, exact up to
        there); taken from ``pretrained_embeddings`` when that is given (a
        different value beside it is refused).
    n_classes : int or None, default=None
        Number of output logits; :class:`~rsft_sklearn.RSFTClassifier` fills
        it in from the data when it builds the module from this class.
    embedding_dim : int, default=64
        Width of an embedding; taken from ``pretrained_embeddings`` when
        that is given (a value other than 64 and the matrix's width is
        refused).
    hidden_layer_sizes : tuple of int or int, default=(64,)
        Width of every hidden layer of the head, as in
        :class:`~rsft_sklearn.MLPModule`.
    dropout : float, default=0.0
        Dropout probability after every hidden activation, in ``[0, 1)``.
    pretrained_embeddings : array-like of shape (vocab_size, embedding_dim), \
            default=None
        Initial embeddings, for fine-tuning pretrained vectors; row 0 (the
        padding) is never read, but must be finite as every row (a NaN or
        inf anywhere is refused).
    freeze : bool, default=False
        Keep the embeddings fixed and train the head only. Only a bool
        (Python or NumPy) is taken, as by the estimators' ``warm_start``: a
        string such as ``"False"`` is refused, not read as true, and so are
        ``0``, ``1`` and ``None``.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import EmbeddingBagModule
    >>> module = EmbeddingBagModule(vocab_size=10, n_classes=3, embedding_dim=4)
    >>> module(torch.tensor([[2.0, 5.0, 0.0], [0.0, 0.0, 0.0]])).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        vocab_size=None,
        n_classes=None,
        embedding_dim=64,
        hidden_layer_sizes=(64,),
        dropout=0.0,
        pretrained_embeddings=None,
        freeze=False,
    ):
        super().__init__()
        if n_classes is None:
            raise ValueError("EmbeddingBagModule needs n_classes.")
        n_classes = check_size(n_classes, "n_classes")
        hidden_layer_sizes = check_layer_sizes(hidden_layer_sizes)
        dropout = check_dropout(dropout)
        freeze = check_freeze(freeze)
        # Checked before they are compared with pretrained_embeddings' shape
        # (a bool, True, passed as the width 1).
        dim = check_size(embedding_dim, "embedding_dim")
        n_embeddings = None if vocab_size is None else check_vocabulary_size(vocab_size)
        if pretrained_embeddings is not None:
            weight = torch.as_tensor(
                pretrained_embeddings
                if isinstance(pretrained_embeddings, torch.Tensor)
                else np.asarray(pretrained_embeddings),
                dtype=torch.float32,
            )
            if weight.dim() != 2:
                raise ValueError(
                    "pretrained_embeddings must be 2-d (vocab_size, "
                    f"embedding_dim), got shape {tuple(weight.shape)}."
                )
            rows, width = weight.shape
            if rows == 0 or width == 0:
                # Refused as embedding_dim=0 is, and named as the matrix
                # (check_vocabulary_size would blame vocab_size, not given).
                raise ValueError(
                    "pretrained_embeddings must hold at least one row (token) "
                    "and one column (embedding width), got shape "
                    f"{tuple(weight.shape)}."
                )
            if rows > MAX_VOCABULARY:
                # Named as the matrix too, and before it is copied.
                raise ValueError(
                    f"pretrained_embeddings has {rows} rows (shape "
                    f"{tuple(weight.shape)}), above {MAX_VOCABULARY} (2**24): "
                    "the estimator reads token ids as float32, which holds no "
                    "larger ids exactly, so distinct tokens would share an "
                    "embedding. Keep the rows of fewer tokens (those of "
                    "TokenIndexer(max_features=...)'s vocabulary)."
                )
            # A copy: training must not write into the caller's array (a
            # float32 array would share its memory), which would also make
            # the next fit start from the trained table.
            weight = weight.detach().clone()
            finite = torch.isfinite(weight).all(dim=1)
            if not bool(finite.all()):
                # Read by no check later: the fit would fail with "the loss
                # overflowed", blaming the features or the learning rate.
                bad = torch.nonzero(~finite).reshape(-1)[:5].tolist()
                raise ValueError(
                    "pretrained_embeddings holds non-finite values (NaN or inf, "
                    f"or beyond float32) in the rows {bad}; replace them, for "
                    "example with zeros."
                )
            # The matrix decides both sizes. A size given beside it that says
            # otherwise would be dropped without a word (the default width,
            # 64, cannot be told from one given).
            if n_embeddings is not None and n_embeddings != rows:
                _refuse_size("vocab_size", vocab_size, rows, weight.shape)
            if dim != 64 and dim != width:
                _refuse_size("embedding_dim", embedding_dim, width, weight.shape)
            self.embedding = nn.EmbeddingBag.from_pretrained(
                weight, freeze=freeze, mode="mean", padding_idx=PAD_ID
            )
        else:
            if n_embeddings is None:
                raise ValueError(
                    "EmbeddingBagModule needs vocab_size or pretrained_embeddings."
                )
            self.embedding = nn.EmbeddingBag(
                n_embeddings,
                dim,
                mode="mean",
                padding_idx=PAD_ID,
                dtype=torch.float32,
            )
            if freeze:
                self.embedding.weight.requires_grad_(False)
        # Every layer in float32, as the pretrained table and the inputs
        # are, whatever torch's default dtype: under
        # torch.set_default_dtype(torch.float64) the layers were float64, and
        # a float32 pretrained table failed at the first batch.
        layers = []
        width = self.embedding.embedding_dim
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size, dtype=torch.float32), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_classes, dtype=torch.float32))
        self.head = nn.Sequential(*layers)

    def forward(self, X):
        if X.shape[-1] == 0:
            # Documents of no token (ids of width 0) embed to zeros, as empty
            # documents do; torch's EmbeddingBag fails on them ("step must
            # be nonzero").
            weight = self.embedding.weight
            return self.head(weight.new_zeros(X.shape[0], weight.shape[1]))
        return self.head(self.embedding(X.long()))


def check_freeze(freeze):
    """``freeze`` as a bool; anything else is refused (read by its truth
    value, the string "False" froze the embeddings)."""
    if not isinstance(freeze, (bool, np.bool_)):
        raise TypeError(f"freeze must be True or False, got {freeze!r}.")
    return bool(freeze)


def _check_one_token_per_cell(tokens, row):
    """Refuse a row of a 2-d array whose cells hold several words."""
    for column, token in enumerate(tokens):
        if len(token.split()) > 1:
            shown = token if len(token) <= 40 else token[:37] + "..."
            raise ValueError(
                "TokenIndexer reads a 2-d array as documents already split into "
                f"tokens, one per cell, but cell ({row}, {column}) holds several "
                f"words ({shown!r}): pass one text column as a 1-d array, or "
                "join the text columns into one first."
            )


def _most_frequent(counts, min_count, max_features):
    """``(token, count)`` pairs by decreasing count (ties alphabetically),
    those seen ``min_count`` times or more, the first ``max_features``."""
    items = (item for item in counts.items() if item[1] >= min_count)
    if max_features is None:
        return sorted(items, key=_frequency_order)
    # The first max_features of that order, without sorting every token.
    return heapq.nsmallest(max_features, items, key=_frequency_order)


# Words of two or more characters, as in CountVectorizer.
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def _why_no_vocabulary(docs, text, token_pattern, min_count, length):
    """Why no token of the documents ``docs`` (lists of tokens) entered the
    vocabulary, and what to change: ``token_pattern`` where no document
    holds a token although one was a string that is not blank (``text``,
    the first), ``max_length`` only where it cut tokens off."""
    if not docs:
        return "it was given no document."
    if not any(docs):
        if text is None:
            return f"the {len(docs)} documents hold no token (they are empty)."
        # As written in Python: repr() doubles every backslash.
        shown = (
            f"r'{token_pattern}'"
            if "'" not in token_pattern and not token_pattern.endswith("\\")
            else repr(token_pattern)
        )
        if token_pattern == DEFAULT_TOKEN_PATTERN:
            return (
                f"none of the {len(docs)} documents holds a token: the default "
                f"token_pattern, {shown}, takes words of two or more letters, "
                f"digits or underscores, and finds none (in {text[:60]!r}, "
                "say). For words of one character, pass "
                r"token_pattern=r'(?u)\b\w+\b'."
            )
        return (
            f"none of the {len(docs)} documents holds a token: token_pattern "
            f"{shown} finds none (in {text[:60]!r}, say). Pass a token_pattern "
            "that matches the tokens."
        )
    cut = length is not None and any(len(doc) > length for doc in docs)
    return (
        f"no token of the {len(docs)} documents passed min_count={min_count}"
        + (f" within the first max_length={length} tokens kept" if cut else "")
        + ". Lower min_count"
        + (", or raise max_length." if cut else ".")
    )


def _frequency_order(item):
    return -item[1], item[0]


def _ignore_vocabulary(docs, length, min_count, max_features):
    """The vocabulary under ``unknown="ignore"``: the most frequent of the
    tokens that ``transform`` keeps, the first ``length`` known tokens of
    every training document.

    Which tokens those are depends on the vocabulary, since leaving a token
    out brings later ones within the cut. So tokens are left out round by
    round and the cut moves on past them, until every token within it is
    kept (once ``max_features`` tokens are kept, a token seen fewer times in
    all than the last of them is left out at once, before it enters a
    cut): ``min_count`` and ``max_features`` then count exactly the tokens
    that ``transform`` keeps, and each kept token reaches training. A token
    left out stays out when the cut moves on, so a document's earlier
    tokens have the first claim on the vocabulary.
    """
    # Seen fewer than min_count times in all, a token can never pass it.
    total = Counter(token for doc in docs for token in doc)
    left_out = {token for token, count in total.items() if count < min_count}

    def extend(i, window, end):
        """Fill ``window`` with the tokens of document ``i`` from ``end``
        on that are not left out; return where it stopped. Every token
        before that is within the window or left out, so a cut that moves
        on starts where the last one stopped."""
        doc = docs[i]
        while len(window) < length and end < len(doc):
            token = doc[end]
            end += 1
            if token not in left_out:
                window.append(token)
                holders.setdefault(token, set()).add(i)
        return end

    # The documents whose window holds each token.
    holders = {}
    windows = [[] for _ in docs]
    ends = [extend(i, windows[i], 0) for i in range(len(docs))]
    counts = Counter(token for window in windows for token in window)
    # Tokens by their count in all documents, which bounds their count
    # within the cuts.
    by_total = {}
    for token, count in total.items():
        by_total.setdefault(count, []).append(token)
    totals = sorted(by_total)
    hopeless = 0
    while True:
        kept = _most_frequent(counts, min_count, max_features)
        dropped = counts.keys() - {token for token, _ in kept}
        if not dropped:
            return kept
        left_out |= dropped
        if max_features is not None and len(kept) == max_features:
            # The counts of kept tokens only grow, round by round (a cut
            # loses only tokens left out): a token seen fewer times in all
            # than the last kept one is seen within the cuts now can never
            # be kept, and is left out at once (else a corpus of rare
            # tokens took a round for each cut's worth of them).
            floor = kept[-1][1]
            while hopeless < len(totals) and totals[hopeless] < floor:
                left_out.update(by_total[totals[hopeless]])
                hopeless += 1
        for token in dropped:
            del counts[token]
        for i in set().union(*(holders.pop(token, ()) for token in dropped)):
            window = [token for token in windows[i] if token not in dropped]
            before = len(window)
            ends[i] = extend(i, window, ends[i])
            counts.update(window[before:])
            windows[i] = window


def _ngram_part(part):
    """Whether ``part`` can be a word of an n-gram token (a tuple): a
    string, a number, or a missing value (nltk pads n-grams with None)."""
    if is_missing(part):
        # Padding words (nltk's None, NaN of a padded table), as before.
        return True
    if isinstance(part, (bytes, np.bytes_)):
        return False
    return isinstance(part, (str, Number, np.generic))


def _plain_word(part):
    """A word of an n-gram as the Python value that names it as a token
    alone does (np.float32(0.1) as 0.1, not 0.10000000149011612)."""
    if isinstance(part, np.floating):
        return float(str(part))
    if isinstance(part, np.generic):
        return part.item()
    return part


def _split_tokens(doc, i):
    """The tokens of document ``i``, given split into tokens, as strings.

    An empty or missing cell (``""``, None, NaN, pd.NA), which pads a short
    document in a table (``DataFrame(token_lists).to_numpy()``), is no token.
    """
    tokens = []
    for position, token in enumerate(doc):
        if isinstance(token, str):
            if token:
                tokens.append(str(token))
        elif is_missing(token):
            continue
        elif isinstance(token, bytes):
            # str() would make the token "b'...'".
            raise TypeError(
                f"Document {i} holds bytes at position {position} ({token!r:.40}): "
                "decode the tokens to strings first."
            )
        elif isinstance(token, tuple) and token and all(map(_ngram_part, token)):
            # An n-gram (nltk.bigrams' output) is one token, named from its
            # parts as plain Python values (np.str_("new") as "new").
            tokens.append(str(tuple(map(_plain_word, token))))
        elif isinstance(token, Iterable) and not (
            isinstance(token, np.ndarray) and token.ndim == 0
        ):
            # str() would make a whole sentence one token "['a', 'dog']".
            raise TypeError(
                f"Document {i} holds a value of type {type(token).__name__} at "
                f"position {position}: a token must be a string or a scalar (a "
                "number), so the document is nested too deeply (a list of "
                "sentences, each a list of tokens?). Flatten each document "
                "into one list of tokens first."
            )
        else:
            tokens.append(str(token))
    return tokens


class TokenIndexer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Map documents to padded arrays of token ids, for :class:`EmbeddingBagModule`.

    Learns a vocabulary in ``fit``: id 0 is padding, id 1 stands for the
    tokens not in the vocabulary (see ``unknown``), ids from 2 follow the
    tokens by decreasing frequency (ties alphabetically).

    Parameters
    ----------
    max_features : int or None, default=None
        Keep only the most frequent tokens.
    min_count : int, default=1
        Leave out tokens seen fewer times in the training documents.
    max_length : int or None, default=None
        Columns of the output; ``None`` takes the longest training document.
        Longer documents are cut, and the vocabulary is learnt from the
        tokens kept (``max_features`` and ``min_count`` count those), so
        that every token in it reaches training: a token seen only past the
        cut is unknown. Under ``unknown="ignore"`` the cut keeps the first
        ``max_length`` known tokens, so a token left out brings a later one
        within it; tokens are left out round by round, and one left out
        stays out, so with ``min_count`` above 1 the vocabulary can be
        smaller than the largest that would qualify.
    lowercase : bool, default=True
        Lowercase raw strings before splitting them.
    token_pattern : str, default=r"(?u)\\b\\w\\w+\\b"
        Regular expression of a token in a raw string, as in
        :class:`~sklearn.feature_extraction.text.CountVectorizer`. A
        document given as a list of tokens (the output of a tokenizer step;
        a token is a string, a number or a tuple of them (an n-gram); a list
        of sentences is refused) is
        used as it is; so is a row of a 2-d array, one token per cell (a
        cell of several words is refused). Empty or missing cells (``None``,
        ``""``, NaN, ``pd.NA``), which pad short documents in a table, are
        left out.
    unknown : {"auto", "index", "ignore"}, default="auto"
        What becomes of a token outside the vocabulary. ``"index"`` maps it
        to id 1; ``"ignore"`` leaves it out of the document, as
        scikit-learn's vectorizers do. ``"auto"`` maps it to id 1 when the
        training documents held such tokens (left out by ``max_features``
        or ``min_count``) within their first ``max_length``, so that the
        embedding of id 1 is trained on them, and leaves it out otherwise:
        an embedding no training document reached would keep its random
        start and pull every test document that holds an unseen word
        towards an arbitrary class.

    Attributes
    ----------
    vocabulary_ : dict of str to int
        Token id of every known token.
    unknown_ : {"index", "ignore"}
        What ``transform`` does with a token outside the vocabulary
        (``unknown`` with ``"auto"`` resolved).
    vocab_size_ : int
        Rows an embedding table needs: ``len(vocabulary_) + 2``.
    length_ : int
        Columns of the output.

    Examples
    --------
    >>> from rsft_sklearn import TokenIndexer
    >>> indexer = TokenIndexer().fit(["the cat sat", "the dog"])
    >>> indexer.transform(["the dog sat", "a bird"]).tolist()
    [[2, 4, 5], [0, 0, 0]]
    >>> indexer.vocab_size_
    6
    >>> capped = TokenIndexer(max_features=2).fit(["the cat sat", "the dog"])
    >>> capped.unknown_, capped.transform(["the dog sat", "a bird"]).tolist()
    ('index', [[2, 1, 1], [1, 0, 0]])
    """

    _parameter_constraints = {
        "max_features": [Interval(Integral, 1, None, closed="left"), None],
        "min_count": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "lowercase": ["boolean"],
        "token_pattern": [str],
        "unknown": [StrOptions({"auto", "index", "ignore"})],
    }

    def __init__(
        self,
        *,
        max_features=None,
        min_count=1,
        max_length=None,
        lowercase=True,
        token_pattern=DEFAULT_TOKEN_PATTERN,
        unknown="auto",
    ):
        self.max_features = max_features
        self.min_count = min_count
        self.max_length = max_length
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.unknown = unknown

    def _tokens(self, X, texts=None):
        """The tokens of each document of ``X``; ``texts``, a list when
        given, receives the first raw string that is not blank (for the
        message of a pattern that matches nothing)."""
        if isinstance(X, str):
            raise ValueError(
                "TokenIndexer expects an iterable of documents, got one string."
            )
        if sp.issparse(X) or (
            isinstance(X, torch.Tensor) and X.layout != torch.strided
        ):
            # A sparse matrix failed as a document "nested too deeply", and
            # a sparse array's implicit zeros became the token "0.0".
            raise TypeError(
                f"TokenIndexer takes documents (strings, or lists of tokens), "
                f"got a sparse {type(X).__name__}; a sparse matrix of counts or "
                f"TF-IDF values goes to RSFTClassifier directly, without "
                f"TokenIndexer."
            )
        if hasattr(X, "columns"):
            # Iterating a DataFrame gives its column names, not its rows.
            raise TypeError(
                "TokenIndexer takes one text column, got a DataFrame; pass the "
                "column (df['text']), or name it as a string, not a list, in a "
                "ColumnTransformer."
            )
        if getattr(X, "ndim", 1) == 2 and X.shape[1] == 1:
            # Each row would be one document of one token: the whole text.
            raise ValueError(
                f"TokenIndexer takes a 1-d sequence of documents, got shape "
                f"{X.shape}; pass X.ravel()."
            )
        try:
            pattern = re.compile(self.token_pattern)
        except re.error as exc:
            raise ValueError(
                f"token_pattern {self.token_pattern!r} is not a regular "
                f"expression: {exc}."
            ) from None
        if pattern.groups > 1:
            # findall would give tuples of the groups, not tokens.
            raise ValueError(
                f"token_pattern {self.token_pattern!r} has {pattern.groups} "
                "capturing groups; a token is the whole match or a single "
                "group, as in CountVectorizer (make the others non-capturing, "
                "(?:...))."
            )
        # Rows of a 2-d array are read as documents split into tokens, one
        # per cell; text columns side by side would each become one token.
        table = getattr(X, "ndim", 1) == 2
        for i, doc in enumerate(X):
            if isinstance(doc, str):
                if texts is not None and not texts and doc.strip():
                    texts.append(doc)
                yield pattern.findall(doc.lower() if self.lowercase else doc)
            elif isinstance(doc, (bytes, Mapping)) or not isinstance(doc, Iterable):
                raise TypeError(
                    f"Document {i} is a {type(doc).__name__}: TokenIndexer takes "
                    "strings, or documents already split into a list of tokens."
                )
            else:
                tokens = _split_tokens(doc, i)
                if table:
                    _check_one_token_per_cell(tokens, i)
                yield tokens

    def fit(self, X, y=None):
        """Learn the vocabulary and the output length.

        Parameters
        ----------
        X : iterable of str or of list of str
            Raw documents, or documents already split into tokens.
        y : None
            Ignored.

        Returns
        -------
        self : TokenIndexer
            The fitted indexer.
        """
        self._validate_params()
        for name in ("max_features", "min_count", "max_length"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)):
                # An Integral to the parameter check, but not a count:
                # max_length=True fitted and failed in transform, naming
                # another argument, and max_features=True kept one token.
                raise TypeError(
                    f"{name} must be a whole number >= 1"
                    f"{'' if name == 'min_count' else ' or None'}, got {value!r}."
                )
        if self.max_length is not None:
            # The output's width (10**400 fitted and failed in transform).
            check_size(self.max_length, "max_length")
        texts = []
        docs = list(self._tokens(X, texts))
        length = self.max_length
        if self.unknown == "ignore" and length is not None:
            kept = _ignore_vocabulary(docs, length, self.min_count, self.max_features)
            self.unknown_ = "ignore"
        else:
            # transform keeps the first max_length tokens of a document: a
            # token seen only past them would get an embedding that no
            # training row reaches. Where unknown tokens keep their place
            # (id 1), those are the tokens as written.
            cut = docs if length is None else [doc[:length] for doc in docs]
            counts = Counter(token for doc in cut for token in doc)
            kept = _most_frequent(counts, self.min_count, self.max_features)
            if self.unknown == "auto":
                # Training saw tokens outside the vocabulary exactly when
                # some distinct token (of those transform keeps) was left
                # out. When none was, this is the vocabulary that
                # _ignore_vocabulary finds too.
                self.unknown_ = "index" if len(kept) < len(counts) else "ignore"
            else:
                self.unknown_ = self.unknown
        if not kept:
            # Every document would come out as padding (or unknown ids),
            # and a network would learn from nothing.
            warnings.warn(
                "TokenIndexer learnt an empty vocabulary: "
                + _why_no_vocabulary(
                    docs,
                    texts[0] if texts else None,
                    self.token_pattern,
                    self.min_count,
                    length,
                ),
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )
        self.vocabulary_ = {token: i + 2 for i, (token, _) in enumerate(kept)}
        self.vocab_size_ = len(self.vocabulary_) + 2
        if self.vocab_size_ > MAX_VOCABULARY:
            raise ValueError(
                f"The vocabulary has {self.vocab_size_} ids, more than float32 "
                f"holds exactly ({MAX_VOCABULARY}); set max_features."
            )
        longest = max([len(doc) for doc in docs] + [1])
        self.length_ = self.max_length or longest
        return self

    def transform(self, X):
        """Token ids of every document, padded with 0 to ``length_`` columns.

        Parameters
        ----------
        X : iterable of str or of list of str
            Documents.

        Returns
        -------
        ids : ndarray of shape (n_samples, length_), int64
            One row per document: the ids of its tokens from the first
            column on (a token outside the vocabulary as ``unknown``
            says), cut at ``length_``, then zeros.
        """
        check_is_fitted(self, "vocabulary_")
        vocabulary = self.vocabulary_
        # A TokenIndexer pickled before ``unknown`` existed mapped to id 1.
        if getattr(self, "unknown_", "index") == "ignore":
            docs = (
                [vocabulary[token] for token in doc if token in vocabulary]
                for doc in self._tokens(X)
            )
        else:
            docs = (
                [vocabulary.get(token, UNKNOWN_ID) for token in doc]
                for doc in self._tokens(X)
            )
        return pad_token_ids(docs, self.length_)

    def fit_transform(self, X, y=None):
        """Learn the vocabulary, then return the ids of ``X``.

        ``X`` is read once, so a generator of documents works too.

        Parameters
        ----------
        X : iterable of str or of list of str
            Raw documents, or documents already split into tokens.
        y : None
            Ignored.

        Returns
        -------
        ids : ndarray of shape (n_samples, length_), int64
            One row per document: the ids of its tokens from the first
            column on (a token outside the vocabulary as ``unknown``
            says), cut at ``length_``, then zeros.
        """
        if not isinstance(X, str) and not hasattr(X, "__len__"):
            X = list(X)
        return self.fit(X).transform(X)

    @property
    def _n_features_out(self):
        # The output's columns, for get_feature_names_out: tokenindexer0 to
        # tokenindexer{length_ - 1}, the token positions.
        return self.length_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        # Token ids are int64, whatever the input's dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags
