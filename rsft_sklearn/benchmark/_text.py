"""The ``text`` suite: long-tailed language identification of short texts.

Source: the jokes that the PyPI package ``pyjokes`` (0.8.3, BSD licence)
ships inside its wheel, one module per language (``pyjokes/jokes_*.py``).
A document is one joke; its label is the language of the module it comes
from. Nothing is downloaded. The counts are long-tailed: English 283, Polish
174, Italian 159, German 127, Russian 47, Spanish 44, Czech 41, Swedish 41,
Lithuanian 30, French 26, Galician 14, Hungarian 9, Basque 5 (1,000 jokes,
imbalance ratio about 57). Jokes repeated within a language are kept once.

The suite holds the same documents twice, read by two models:

- ``jokes-tfidf``: ``TfidfVectorizer`` (word uni- and bigrams, sublinear tf,
  CSR all the way) and the default MLP;
- ``jokes-tokens``: :class:`~rsft_sklearn.TokenIndexer` and
  :class:`~rsft_sklearn.EmbeddingBagModule` (mean-pooled embeddings and a
  small head).

A :class:`~rsft_sklearn.benchmark._suites.Dataset` of the suite holds the
raw strings (an object array) in ``X``; :func:`for_text` swaps the front of
every method's pipeline (the ``StandardScaler``) for the vectoriser and
gives every network of the method the module that reads it, so every
method, neural rival or not, sees the same features and the same net.
"""

import numpy as np

__all__ = ["TEXT", "for_text", "load_text"]

TEXT = ("jokes-tfidf", "jokes-tokens")

# Token path: vocabulary cap and document length (the longest joke has 34
# words, so no joke is cut).
MAX_TOKENS = 5000
MAX_LENGTH = 40
# Adam's learning rate of the token reader (every method alike).
TOKEN_LR = 0.01


def load_jokes():
    """Raw jokes and their languages, from the installed ``pyjokes``.

    Returns
    -------
    docs : ndarray of shape (n_samples,), object
        The jokes, each kept once per language.
    language : ndarray of shape (n_samples,), str
        The ISO 639-1 code of the module the joke comes from.
    """
    try:
        from pyjokes.pyjokes import all_jokes
    except ImportError as exc:
        raise ImportError(
            "The text suite reads the jokes bundled in pyjokes: "
            "pip install 'rsft-sklearn[bench]'."
        ) from exc
    docs, language = [], []
    for code in sorted(all_jokes):
        for joke in dict.fromkeys(all_jokes[code]["all"]):
            docs.append(joke)
            language.append(code)
    return np.asarray(docs, dtype=object), np.asarray(language)


def load_text(name):
    """One data set of the ``text`` suite (see the module docstring)."""
    from ._suites import Dataset

    if name not in TEXT:
        raise ValueError(f"Unknown text data set {name!r}; one of {list(TEXT)}.")
    docs, language = load_jokes()
    reader = "TF-IDF + MLP" if name == "jokes-tfidf" else "tokens + embedding bag"
    note = f"pyjokes 0.8.3 jokes, label = language; read by {reader}"
    return Dataset(name, docs, language, group="text", notes=(note,))


def _front(name):
    """``(pipeline step, network parameters)`` that read the raw text."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from .. import EmbeddingBagModule, TokenIndexer

    if name == "jokes-tfidf":
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        return ("tfidf", vectorizer), {}
    indexer = TokenIndexer(max_features=MAX_TOKENS, max_length=MAX_LENGTH)
    return ("tokens", indexer), {
        "module": EmbeddingBagModule,
        "module__vocab_size": MAX_TOKENS + 2,
        "module__embedding_dim": 32,
        "module__hidden_layer_sizes": (32,),
        # Each embedding row is updated only by the documents that hold its
        # token: at the MLP's lr of 1e-3 every method underfit (held-out
        # balanced accuracy about 0.25 over 13 classes).
        "lr": TOKEN_LR,
    }


def for_text(estimator, dataset, method=None):
    """The method's estimator, fitted to read the text of ``dataset``.

    Other data sets pass through unchanged. The ``scale`` step of the
    method's pipeline (inside a grid search too) becomes the vectoriser, and
    every :class:`~rsft_sklearn.RSFTClassifier` in it gets the module
    parameters of the data set's reader, but for those that the method's
    spec sets itself: as on every other data set, a spec's own parameters
    win over the set's.

    Parameters
    ----------
    estimator : imblearn.pipeline.Pipeline or GridSearchCV
        What :func:`~rsft_sklearn.benchmark._methods.make_method` built.
    dataset : Dataset
        The data set it will be fitted on.
    method : str or None, default=None
        The method spec ``estimator`` was built from (see
        :func:`~rsft_sklearn.benchmark._methods.parse_method`).

    Returns
    -------
    estimator : the same object, changed in place
    """
    if dataset.group != "text":
        return estimator
    from .. import RSFTClassifier
    from ._methods import parse_method

    step, net_params = _front(dataset.name)
    if method is not None:
        own = parse_method(method)[1]
        net_params = {key: v for key, v in net_params.items() if key not in own}
    pipeline = getattr(estimator, "estimator", estimator)
    names = [name for name, _ in pipeline.steps]
    pipeline.steps[names.index("scale")] = step
    for value in pipeline.get_params(deep=True).values():
        if isinstance(value, RSFTClassifier):
            value.set_params(**net_params)
    return estimator
