"""The MLP of Google's text classification guide, trained with its batch-training generator.

    KERAS_BACKEND=torch python bench/peers/keras_run.py --train TRAIN --test TEST --text text --label label

Follows the guide's code (developers.google.com/machine-learning/guides/
text-classification) step by step: TF-IDF of word 1-2 grams (``min_df=2``,
``strip_accents='unicode'``, float32 instead of the guide's ``int32``,
which TF-IDF values cannot be), the top 20,000 by ``SelectKBest(f_classif)``
fitted on the training split, then ``mlp_model(layers=2, units=64,
dropout_rate=0.2)`` (Dropout, Dense 64 relu, Dropout, output layer), Adam
1e-3, batch 128, up to 1000 epochs with ``EarlyStopping(val_loss,
patience=2)``. The validation split is 20% of TRAIN (seeded). Training uses
the appendix's "Batch training" generator: dense batches ``x[i:j].toarray()``
of the sparse matrix, in a fixed order, through ``model.fit`` (Keras 3's
name for ``fit_generator``). Like the guide, it holds all texts and the
sparse matrix in memory. Prints one JSON line with accuracy and row counts.
"""

from __future__ import annotations

import os

import numpy as np
from _common import base_parser, iter_batches, label_ids, report, sorted_labels

TOP_K = 20000


def data_generator(x, y, batch_size):
    """The guide's ``_data_generator``: dense batches in file order, forever."""
    num_samples = x.shape[0]
    num_batches = -(-num_samples // batch_size)
    while True:
        for i in range(num_batches):
            start, end = i * batch_size, min((i + 1) * batch_size, num_samples)
            yield x[start:end].toarray(), y[start:end]


def read_all(path, args):
    """All documents and labels of a file, as the guide loads them."""
    texts, labels = [], []
    for text, label in iter_batches(path, args):
        texts.extend(text.to_pylist())
        labels.append(label)
    return texts, labels


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-epochs", type=int, default=1000)
    parser.add_argument("--validation-split", type=float, default=0.2)
    args = parser.parse_args()

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.feature_selection import SelectKBest, f_classif

    keras.utils.set_random_seed(args.seed)
    texts, label_blocks = read_all(args.train, args)
    classes = sorted_labels({v for b in label_blocks for v in b.to_pylist()})
    y = np.concatenate([label_ids(b, classes) for b in label_blocks])
    order = np.random.default_rng(args.seed).permutation(len(texts))
    n_val = int(len(texts) * args.validation_split)
    train_idx, val_idx = order[n_val:], order[:n_val]

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2),
        dtype=np.float32,
        strip_accents="unicode",
        decode_error="replace",
        analyzer="word",
        min_df=2,
    )
    x_train = vectorizer.fit_transform([texts[i] for i in train_idx])
    x_val = vectorizer.transform([texts[i] for i in val_idx])
    del texts
    y_train, y_val = y[train_idx], y[val_idx]
    selector = SelectKBest(f_classif, k=min(TOP_K, x_train.shape[1]))
    selector.fit(x_train, y_train)
    x_train = selector.transform(x_train).astype(np.float32)
    x_val = selector.transform(x_val).astype(np.float32)

    binary = len(classes) == 2
    model = keras.Sequential(
        [
            keras.Input(shape=(x_train.shape[1],)),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(
                1 if binary else len(classes), activation="sigmoid" if binary else "softmax"
            ),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
        metrics=["acc"],
    )
    steps = -(-x_train.shape[0] // args.batch_size)
    val_steps = -(-x_val.shape[0] // args.batch_size)
    history = model.fit(
        data_generator(x_train, y_train, args.batch_size),
        steps_per_epoch=steps,
        validation_data=data_generator(x_val, y_val, args.batch_size),
        validation_steps=val_steps,
        epochs=args.max_epochs,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)],
        verbose=0,
    )
    del x_train, x_val

    y_true, y_pred = [], []
    for text, labels in iter_batches(args.test, args):
        x = selector.transform(vectorizer.transform(text.to_pylist())).astype(np.float32)
        for start in range(0, x.shape[0], 1024):
            p = np.asarray(model.predict_on_batch(x[start : start + 1024].toarray()))
            y_pred.append((p[:, 0] > 0.5).astype(np.int64) if binary else p.argmax(axis=1))
        y_true.append(label_ids(labels, classes))
    report(
        np.concatenate(y_true),
        np.concatenate(y_pred),
        len(train_idx),
        epochs=len(history.history["loss"]),
    )


if __name__ == "__main__":
    main()
