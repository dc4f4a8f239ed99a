"""Google's text classification guide (google/eng-edu `ml/guides/text_classification`) for tests.

`_data_generator` is the guide's own ("Batch training"), verbatim. The rest
is written here from the guide's scripts, with no scikit-learn or TensorFlow:

| guide | here |
| --- | --- |
| `batch_train_sequence_model`: the generators, step counts and `fit_generator` call | `batch_train` |
| `load_data`: the training set shuffled with `random.seed(123)` | `shuffle_like_the_guide` |
| `vectorize_data.ngram_vectorize`: `TfidfVectorizer(ngram_range=(1, 2), min_df=2, strip_accents="unicode")`, then `SelectKBest(f_classif, k=min(20000, features))`, float32 | `ngram_vectorize` (numpy / scipy: sklearn's tokens, smooth IDF, raw counts, l2 rows; ANOVA F) |
| `vectorize_data.sequence_vectorize`: Keras 2's `Tokenizer(num_words=20000)` and `pad_sequences` (at most 500 ids, padded and cut at the front) | `sequence_vectorize` |
| `build_model.mlp_model` (Keras) | `mlp_model` (torch, layer for layer with the final `nn.Sigmoid` / `nn.Softmax`, Keras' initialisers) and `keras_mlp_model` (Keras 3) |
| `build_model.sepcnn_model` (Keras) | `sepcnn_model` (torch, `SeparableConv1D` as a depthwise and a pointwise `nn.Conv1d`) and `keras_sepcnn_model` (Keras 3) |

Tests feed them to `streamfit.Model.fit_generator` and to the Keras bridge to
show that what users copied from the guide runs unchanged. Importable from
tests because pyproject puts `tests` on pytest's `pythonpath`.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

NGRAM_RANGE = (1, 2)
TOP_K = 20000
MIN_DOCUMENT_FREQUENCY = 2
MAX_SEQUENCE_LENGTH = 500
# Keras 2's Tokenizer: these characters split words as spaces do.
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
# scikit-learn's default token_pattern, which the guide keeps: words of 2+ characters.
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")


def _data_generator(x, y, num_features, batch_size):
    num_samples = x.shape[0]
    num_batches = num_samples // batch_size
    if num_samples % batch_size:
        num_batches += 1
    while 1:
        for i in range(num_batches):
            start_idx = i * batch_size
            end_idx = (i + 1) * batch_size
            if end_idx > num_samples:
                end_idx = num_samples
            x_batch = x[start_idx:end_idx]
            y_batch = y[start_idx:end_idx]
            yield x_batch, y_batch


def batch_train(fit_generator, callbacks, x_train, train_labels, x_val, val_labels,
                batch_size=128, epochs=1000):
    """The guide's "Batch training" step, verbatim but for `model.fit_generator` given as a callable.

    Returns:
        `history.history`.
    """
    num_features = x_train.shape[1]
    training_generator = _data_generator(
        x_train, train_labels, num_features, batch_size)
    validation_generator = _data_generator(
        x_val, val_labels, num_features, batch_size)
    steps_per_epoch = x_train.shape[0] // batch_size
    if x_train.shape[0] % batch_size:
        steps_per_epoch += 1
    validation_steps = x_val.shape[0] // batch_size
    if x_val.shape[0] % batch_size:
        validation_steps += 1
    history = fit_generator(
            generator=training_generator,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation_generator,
            validation_steps=validation_steps,
            callbacks=callbacks,
            epochs=epochs,
            verbose=2)  # Logs once per epoch.
    return history.history


def shuffle_like_the_guide(texts: list, labels: Sequence, seed: int = 123) -> tuple[list, np.ndarray]:
    """Shuffle texts and labels alike, as the guide's loaders do (the same seed for both)."""
    texts, labels = list(texts), list(labels)
    random.seed(seed)
    random.shuffle(texts)
    random.seed(seed)
    random.shuffle(labels)
    return texts, np.array(labels)


def _strip_accents(text: str) -> str:
    """sklearn's `strip_accents="unicode"`: NFKD, then drop the combining marks."""
    decomposed = unicodedata.normalize("NFKD", text)
    if decomposed == text:
        return text
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def analyze(text: str, ngram_range: tuple[int, int] = NGRAM_RANGE) -> list[str]:
    """The terms of `text` as sklearn's word analyzer makes them: n-grams of lowercased tokens.

    Example:
        >>> analyze("The café's CAFÉ, a b")
        ['the', 'cafe', 'cafe', 'the cafe', 'cafe cafe']
    """
    tokens = TOKEN_PATTERN.findall(_strip_accents(text.lower()))
    low, high = ngram_range
    terms = list(tokens) if low == 1 else []
    for n in range(max(low, 2), high + 1):
        terms += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return terms


class TfidfNgrams:
    """sklearn's `TfidfVectorizer` as the guide configures it, in numpy / scipy.

    Raw term counts (`sublinear_tf=False`) times the smoothed IDF
    `ln((1 + n) / (1 + df)) + 1`, each row scaled to unit l2 norm; the
    vocabulary holds the training terms in at least `min_df` documents,
    sorted as strings (sklearn's column order).

    Args:
        ngram_range: the smallest and largest n of the word n-grams.
        min_df: the fewest training documents a term must occur in.

    Attributes:
        vocabulary_: term -> column, after `fit_transform`.
        idf_: the IDF of each column.
    """

    def __init__(self, ngram_range: tuple[int, int] = NGRAM_RANGE,
                 min_df: int = MIN_DOCUMENT_FREQUENCY):
        self.ngram_range = ngram_range
        self.min_df = min_df

    def _counts(self, texts: Sequence[str], vocabulary: dict, grow: bool) -> sp.csr_matrix:
        columns, indptr = [], [0]
        for text in texts:
            for term in analyze(text, self.ngram_range):
                column = vocabulary.get(term)
                if column is None and grow:
                    column = vocabulary[term] = len(vocabulary)
                if column is not None:
                    columns.append(column)
            indptr.append(len(columns))
        counts = sp.csr_matrix((np.ones(len(columns)), np.array(columns, dtype=np.int64),
                                np.array(indptr)), shape=(len(texts), len(vocabulary)))
        counts.sum_duplicates()
        return counts

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        tfidf = counts @ sp.diags(self.idf_)
        norms = np.sqrt(np.asarray(tfidf.multiply(tfidf).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ tfidf)

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Learn the vocabulary and IDF of `texts`; return their TF-IDF rows (float64)."""
        vocabulary: dict[str, int] = {}
        counts = self._counts(texts, vocabulary, grow=True)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        terms = np.array(list(vocabulary), dtype=object)
        kept = np.flatnonzero(df >= self.min_df)
        kept = kept[np.argsort(terms[kept].astype(str), kind="stable")]
        self.vocabulary_ = {term: column for column, term in enumerate(terms[kept])}
        self.idf_ = np.log((1 + len(texts)) / (1 + df[kept])) + 1
        return self._weigh(counts[:, kept].tocsr())

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF rows of `texts` over the fitted vocabulary (unknown terms dropped)."""
        return self._weigh(self._counts(texts, self.vocabulary_, grow=False))


def f_classif(x: sp.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """sklearn's `f_classif`: the one-way ANOVA F of every column of `x` across the classes."""
    classes = np.unique(labels)
    x = sp.csr_matrix(x, dtype=np.float64)
    sums = [np.asarray(x[labels == c].sum(axis=0)).ravel() for c in classes]
    counts = np.array([np.sum(labels == c) for c in classes], dtype=np.float64)
    n = float(len(labels))
    total_sum = np.sum(sums, axis=0)
    squares = np.asarray(x.multiply(x).sum(axis=0)).ravel()
    ss_total = squares - total_sum ** 2 / n
    ss_between = sum(s ** 2 / c for s, c in zip(sums, counts, strict=True)) - total_sum ** 2 / n
    ss_within = ss_total - ss_between
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ss_between / (len(classes) - 1)) / (ss_within / (n - len(classes)))


def select_k_best(scores: np.ndarray, k: int) -> np.ndarray:
    """The columns `SelectKBest(k=k)` keeps, in column order (NaN scores rank lowest)."""
    scores = np.where(np.isnan(scores), np.finfo(scores.dtype).min, scores)
    return np.sort(np.argsort(scores, kind="mergesort")[len(scores) - k:])


def ngram_vectorize(train_texts: Sequence[str], train_labels: np.ndarray,
                    val_texts: Sequence[str]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The guide's `ngram_vectorize`: TF-IDF of 1-2 grams, the top 20,000 by F score, float32."""
    vectorizer = TfidfNgrams()
    x_train = vectorizer.fit_transform(train_texts)
    x_val = vectorizer.transform(val_texts)
    kept = select_k_best(f_classif(x_train, np.asarray(train_labels)),
                         k=min(TOP_K, x_train.shape[1]))
    return x_train[:, kept].astype(np.float32), x_val[:, kept].astype(np.float32)


def _last_layer_units(num_classes: int) -> int:
    """The guide's output width: one sigmoid unit for 2 classes, else a softmax per class."""
    return 1 if num_classes == 2 else num_classes


def _keras_dense(in_features: int, out_features: int) -> torch.nn.Linear:
    """`torch.nn.Linear` initialised as Keras' `Dense`: Glorot-uniform kernel, zero bias."""
    layer = torch.nn.Linear(in_features, out_features)
    torch.nn.init.xavier_uniform_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    return layer


def mlp_model(layers: int, units: int, dropout_rate: float, input_shape: tuple,
              num_classes: int) -> torch.nn.Sequential:
    """The guide's `mlp_model` in torch, layer for layer, its probability output included.

    Dropout on the input; `layers - 1` times Dense(units, relu) and Dropout;
    a last Dense with a sigmoid (2 classes, 1 unit) or a softmax.
    """
    stack: list[torch.nn.Module] = [torch.nn.Dropout(dropout_rate)]
    width = input_shape[-1]
    for _ in range(layers - 1):
        stack += [_keras_dense(width, units), torch.nn.ReLU(), torch.nn.Dropout(dropout_rate)]
        width = units
    op_units = _last_layer_units(num_classes)
    stack += [_keras_dense(width, op_units),
              torch.nn.Sigmoid() if num_classes == 2 else torch.nn.Softmax(dim=-1)]
    return torch.nn.Sequential(*stack)


def keras_mlp_model(layers: int, units: int, dropout_rate: float, input_shape: tuple,
                    num_classes: int):
    """The guide's `mlp_model` in Keras 3 (an `Input` where Keras 2 took `input_shape=`)."""
    import keras

    stack = [keras.Input(shape=input_shape), keras.layers.Dropout(rate=dropout_rate)]
    for _ in range(layers - 1):
        stack += [keras.layers.Dense(units=units, activation="relu"),
                  keras.layers.Dropout(rate=dropout_rate)]
    stack.append(keras.layers.Dense(units=_last_layer_units(num_classes),
                                    activation="sigmoid" if num_classes == 2 else "softmax"))
    return keras.Sequential(stack)


def keras_words(text: str) -> list[str]:
    """Keras 2's `text_to_word_sequence`: lowercased, `KERAS_FILTERS` as spaces, split on spaces.

    Example:
        >>> keras_words("It's GREAT--really.<br />Great!")
        ["it's", 'great', 'really', 'br', 'great']
    """
    text = text.lower().translate(str.maketrans(KERAS_FILTERS, " " * len(KERAS_FILTERS)))
    return [word for word in text.split(" ") if word]


def pad_sequences(sequences: list[list[int]], maxlen: int) -> np.ndarray:
    """Keras' `pad_sequences` defaults: zeros in front, the front cut off, int32."""
    padded = np.zeros((len(sequences), maxlen), dtype=np.int32)
    for row, sequence in enumerate(sequences):
        kept = sequence[-maxlen:] if maxlen else []
        if kept:
            padded[row, maxlen - len(kept):] = kept
    return padded


def sequence_vectorize(train_texts: Sequence[str],
                       val_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, dict]:
    """The guide's `sequence_vectorize`: word ids (Keras 2's Tokenizer), padded to a fixed length.

    Words are numbered from 1 by training frequency, ties in order of first
    appearance; ids from `TOP_K` up are dropped (`num_words=TOP_K`). The
    length is the longest training text's, at most `MAX_SEQUENCE_LENGTH`.

    Returns:
        `x_train`, `x_val` (int32 ids, 0 for padding) and the word index.
    """
    counts: dict[str, int] = {}
    for text in train_texts:
        for word in keras_words(text):
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=counts.__getitem__, reverse=True)  # stable: ties keep their order
    word_index = {word: i for i, word in enumerate(ranked, start=1)}

    def ids(texts: Sequence[str]) -> list[list[int]]:
        return [[word_index[word] for word in keras_words(text)
                 if word_index.get(word, TOP_K) < TOP_K] for text in texts]

    x_train, x_val = ids(train_texts), ids(val_texts)
    max_length = min(len(max(x_train, key=len)), MAX_SEQUENCE_LENGTH)
    return pad_sequences(x_train, max_length), pad_sequences(x_val, max_length), word_index


class ChannelsFirst(torch.nn.Module):
    """`(batch, steps, channels)` to `(batch, channels, steps)`: Keras' layout to `nn.Conv1d`'s."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class GlobalAveragePooling1D(torch.nn.Module):
    """Keras' `GlobalAveragePooling1D` on `(batch, channels, steps)`: the mean over steps."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=2)


def _separable_conv1d(in_channels: int, filters: int, kernel_size: int) -> list[torch.nn.Module]:
    """Keras' `SeparableConv1D(filters, kernel_size, activation="relu", padding="same")` as the
    guide builds it: a depthwise `nn.Conv1d` (no bias, uniform(-0.05, 0.05) as its
    `depthwise_initializer="random_uniform"`), a pointwise one (Glorot-uniform, the bias
    uniform(-0.05, 0.05) as `bias_initializer="random_uniform"`), then a ReLU."""
    depthwise = torch.nn.Conv1d(in_channels, in_channels, kernel_size, groups=in_channels,
                                padding="same", bias=False)
    pointwise = torch.nn.Conv1d(in_channels, filters, 1)
    torch.nn.init.uniform_(depthwise.weight, -0.05, 0.05)
    torch.nn.init.xavier_uniform_(pointwise.weight)
    torch.nn.init.uniform_(pointwise.bias, -0.05, 0.05)
    return [depthwise, pointwise, torch.nn.ReLU()]


def sepcnn_model(blocks: int, filters: int, kernel_size: int, embedding_dim: int,
                 dropout_rate: float, pool_size: int, input_shape: tuple, num_classes: int,
                 num_features: int) -> torch.nn.Sequential:
    """The guide's `sepcnn_model` in torch (without a pretrained embedding), layer for layer.

    Embedding (uniform(-0.05, 0.05), Keras' default); `blocks - 1` times
    Dropout, two separable convolutions and max pooling; two separable
    convolutions of twice the filters; global average pooling, Dropout and a
    last Dense with a sigmoid (2 classes, 1 unit) or a softmax.
    """
    embedding = torch.nn.Embedding(num_features, embedding_dim)
    torch.nn.init.uniform_(embedding.weight, -0.05, 0.05)
    stack: list[torch.nn.Module] = [embedding, ChannelsFirst()]
    width = embedding_dim
    for _ in range(blocks - 1):
        stack += [torch.nn.Dropout(dropout_rate), *_separable_conv1d(width, filters, kernel_size),
                  *_separable_conv1d(filters, filters, kernel_size),
                  torch.nn.MaxPool1d(pool_size)]
        width = filters
    stack += [*_separable_conv1d(width, filters * 2, kernel_size),
              *_separable_conv1d(filters * 2, filters * 2, kernel_size),
              GlobalAveragePooling1D(), torch.nn.Dropout(dropout_rate),
              _keras_dense(filters * 2, _last_layer_units(num_classes)),
              torch.nn.Sigmoid() if num_classes == 2 else torch.nn.Softmax(dim=-1)]
    return torch.nn.Sequential(*stack)


def keras_sepcnn_model(blocks: int, filters: int, kernel_size: int, embedding_dim: int,
                       dropout_rate: float, pool_size: int, input_shape: tuple,
                       num_classes: int, num_features: int):
    """The guide's `sepcnn_model` in Keras 3 (an `Input` where Keras 2 took `input_length=`)."""
    import keras

    def separable(width: int):
        return keras.layers.SeparableConv1D(
            filters=width, kernel_size=kernel_size, activation="relu",
            bias_initializer="random_uniform", depthwise_initializer="random_uniform",
            padding="same")

    stack = [keras.Input(shape=input_shape),
             keras.layers.Embedding(input_dim=num_features, output_dim=embedding_dim)]
    for _ in range(blocks - 1):
        stack += [keras.layers.Dropout(rate=dropout_rate), separable(filters), separable(filters),
                  keras.layers.MaxPooling1D(pool_size=pool_size)]
    stack += [separable(filters * 2), separable(filters * 2),
              keras.layers.GlobalAveragePooling1D(), keras.layers.Dropout(rate=dropout_rate),
              keras.layers.Dense(_last_layer_units(num_classes),
                                 activation="sigmoid" if num_classes == 2 else "softmax")]
    return keras.Sequential(stack)
