"""Keras 3 bridge: as_pydataset and fit_generator on the torch backend; streamfit without Keras."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from guide_code import _data_generator

from streamfit.batches import ArrayBatches
from streamfit.errors import UserError

FEATURES, CLASSES = 60, 3


@pytest.fixture(scope="module")
def keras(keras, one_torch_thread):
    return keras


@pytest.fixture(scope="module")
def bridge(keras):
    return importlib.import_module("streamfit.interop.keras")


def learnable(rows: int = 480, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse rows (about 10% dense) whose class shows in its own block of features."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, rows)
    noise = sp.random(rows, FEATURES, density=0.05, random_state=seed, format="csr")
    cols = labels[:, None] * (FEATURES // CLASSES) + rng.integers(0, 10, (rows, 3))
    signal = sp.csr_matrix((np.ones(rows * 3), (np.repeat(np.arange(rows), 3), cols.ravel())),
                           shape=(rows, FEATURES))
    return (noise + signal).astype(np.float32).tocsr(), labels.astype(np.int64)


def mlp(keras, seed: int = 0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_fit_on_pydatasets_learns(keras, bridge):
    x, y = learnable()
    train = ArrayBatches(x[:360], y[:360], batch_size=32, seed=0)
    val = ArrayBatches(x[360:], y[360:], batch_size=64, shuffle=False)
    data = bridge.as_pydataset(train)
    history = mlp(keras).fit(data, validation_data=bridge.as_pydataset(val), epochs=6, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["val_accuracy"][-1] > 0.9
    assert data.epoch == 6


@pytest.mark.parametrize("workers,use_multiprocessing", [(1, False), (2, False), (2, True)])
def test_each_epoch_trains_on_that_epoch_of_the_batch_set(keras, bridge, workers,
                                                          use_multiprocessing):
    rows = np.arange(40, dtype=np.float32)[:, None]
    batches = ArrayBatches(rows, np.arange(40) % 2, batch_size=8, seed=3)

    class Record(keras.layers.Layer):
        seen: list = []

        def call(self, x, training=None):
            if training:
                self.seen.append(x.detach().numpy()[:, 0])  # torch backend: a tensor
            return x

    model = keras.Sequential([keras.Input((1,)), Record(), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    # Keras' default shuffle=True must not change which rows an epoch sees, nor their order.
    model.fit(bridge.as_pydataset(batches, workers=workers,
                                  use_multiprocessing=use_multiprocessing),
              epochs=3, verbose=0)

    epochs = [np.concatenate(Record.seen[e * 5:(e + 1) * 5]) for e in range(3)]
    assert len(Record.seen) == 15
    for epoch, trained in enumerate(epochs):
        expected = np.concatenate([batches.batch(epoch, i)[0][:, 0] for i in range(5)])
        np.testing.assert_array_equal(trained, expected)
        assert sorted(trained.tolist()) == list(range(40))
    assert epochs[0][:8].tolist() != epochs[1][:8].tolist()


def test_on_epoch_end_moves_to_the_next_epoch_after_a_whole_pass(bridge):
    batches = ArrayBatches(np.arange(10), batch_size=4, seed=1)
    data = bridge.as_pydataset(batches, epochs_seen=2)
    assert len(data) == 3
    np.testing.assert_array_equal(data[1][0], batches.batch(2, 1)[0])

    data.on_epoch_begin()
    data[0]  # Keras reads one batch to build the model, then ends the pass.
    data.on_epoch_end()
    assert data.epoch == 2

    data.on_epoch_begin()
    served = [data[i][0] for i in (2, 0, 1)]  # the order Keras asks in does not matter
    data.on_epoch_end()
    assert [s.tolist() for s in served] == [batches.batch(2, i)[0].tolist() for i in range(3)]
    assert data.epoch == 3
    assert data[0][0].tolist() != batches.batch(2, 0)[0].tolist()

    frozen = bridge.as_pydataset(batches, reshuffle=False)
    frozen.on_epoch_begin()
    [frozen[i] for i in range(3)]
    frozen.on_epoch_end()
    assert frozen.epoch == 0


def test_batches_are_converted_for_keras(bridge):
    csr = sp.csr_matrix(np.array([[0, 2], [3, 0]], dtype=np.float64))
    x, y = bridge.to_keras_batch((csr, np.array([0, 1])))
    assert x.dtype == np.float32 and type(x) is np.ndarray
    np.testing.assert_array_equal(x, [[0, 2], [3, 0]])

    (x,) = bridge.to_keras_batch((np.asmatrix([[1.0, 2.0]]), None))
    assert type(x) is np.ndarray and x.shape == (1, 2)

    inputs, labels, weights = bridge.to_keras_batch([{"a": csr, "b": np.ones(2)}, np.array([0, 1]), np.ones(2)])
    assert type(inputs["a"]) is np.ndarray
    np.testing.assert_array_equal(inputs["a"], [[0, 2], [3, 0]])
    np.testing.assert_array_equal(inputs["b"], np.ones(2))
    np.testing.assert_array_equal(labels, [0, 1])
    np.testing.assert_array_equal(weights, np.ones(2))


def test_class_weight_becomes_sample_weight_for_generators(bridge):
    batches = iter([(np.zeros((4, 1)), np.array([0, 1, 2, 1])),
                    (np.zeros((2, 1)), np.array([[0, 1, 0], [1, 0, 0]]))])
    weighted = list(bridge._converted(batches, {1: 5.0, 2: 0.5}))
    assert weighted[0][2].tolist() == [1.0, 5.0, 0.5, 5.0]
    assert weighted[1][2].tolist() == [5.0, 1.0]

    with pytest.raises(UserError, match="class_weight needs"):
        next(bridge._converted(iter([(np.zeros(1), np.zeros(1), np.ones(1))]), {0: 2.0}))


class Counted:
    """An iterator that counts the batches pulled from it."""

    def __init__(self, generator):
        self.generator, self.pulled = generator, 0

    def __iter__(self):
        return self

    def __next__(self):
        self.pulled += 1
        return next(self.generator)


@pytest.mark.parametrize("form", ["csr", "dense", "matrix"])
def test_the_guides_fit_generator_call_runs_on_keras_3(keras, bridge, form, capsys):
    fit_generator = importlib.import_module("streamfit.keras").fit_generator
    x, labels = learnable()
    x = {"csr": x, "dense": x.toarray(), "matrix": np.asmatrix(x.toarray())}[form]
    x_train, train_labels, x_val, val_labels = x[:360], labels[:360], x[360:], labels[360:]
    num_features, batch_size, epochs = x.shape[1], 32, 5
    model = mlp(keras)
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)]

    # The guide's code, verbatim from here on (but for the model passed first).
    training_generator = _data_generator(x_train, train_labels, num_features, batch_size)
    validation_generator = _data_generator(x_val, val_labels, num_features, batch_size)
    steps_per_epoch = x_train.shape[0] // batch_size
    if x_train.shape[0] % batch_size:
        steps_per_epoch += 1
    validation_steps = x_val.shape[0] // batch_size
    if x_val.shape[0] % batch_size:
        validation_steps += 1
    validation_generator = Counted(validation_generator)
    history = fit_generator(
        model, generator=training_generator, steps_per_epoch=steps_per_epoch,
        validation_data=validation_generator, validation_steps=validation_steps,
        callbacks=callbacks, epochs=epochs, verbose=2)

    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == list(range(epochs))
    assert history.history["accuracy"][-1] > history.history["accuracy"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    # Each validation pass read the next validation_steps batches, none twice.
    assert validation_generator.pulled == epochs * validation_steps
    assert "Epoch 5/5" in capsys.readouterr().out


def test_fit_generator_on_a_batch_set_with_a_validation_tuple(keras, bridge):
    x, y = learnable()
    train = ArrayBatches(x[:360], y[:360], batch_size=32, seed=0)
    history = bridge.fit_generator(mlp(keras), train, epochs=4, verbose=0, workers=2,
                                   validation_data=(x[360:], y[360:]), initial_epoch=1)
    assert history.epoch == [1, 2, 3]
    assert history.history["val_accuracy"][-1] > 0.9


def test_fit_generator_refuses_what_it_cannot_run(keras, bridge):
    x, y = learnable(rows=64)
    model = mlp(keras)
    with pytest.raises(UserError, match="steps_per_epoch is required with a generator"):
        bridge.fit_generator(model, generator=_data_generator(x, y, FEATURES, 32))
    with pytest.raises(UserError, match="validation_steps is required with a generator"):
        bridge.fit_generator(model, _data_generator(x, y, FEATURES, 32), steps_per_epoch=2,
                             validation_data=_data_generator(x, y, FEATURES, 32))
    with pytest.raises(UserError, match="generator is a list"):
        bridge.fit_generator(model, [(x, y)], steps_per_epoch=1)
    with pytest.raises(UserError, match="ran out of data after 2 of validation_steps=3"):
        bridge.fit_generator(model, _data_generator(x, y, FEATURES, 32), steps_per_epoch=2,
                             validation_data=iter([(x[:32], y[:32])] * 2), validation_steps=3,
                             verbose=0)
    with pytest.raises(UserError, match="needs a streamfit BatchSet"):
        bridge.as_pydataset(x)


def test_streamfit_works_without_keras():
    # Run apart, so that hiding keras does not touch this process's modules.
    code = textwrap.dedent("""
        import sys
        sys.modules["keras"] = None  # `import keras` now fails as if it were not installed
        import streamfit, streamfit.interop, streamfit.keras, streamfit.training, streamfit.cli.main
        from streamfit.errors import UserError
        try:
            from streamfit.keras import fit_generator
        except UserError as error:
            print(error)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("streamfit.keras needs Keras 3, which is not installed; "
                                     "run `pip install keras`")


def test_fit_generator_converts_keras1_names_and_warns_on_positional_counts(keras, bridge):
    from streamfit.training.keras1 import Keras1Warning
    x, y = learnable()
    with pytest.warns(Keras1Warning, match=r"fit_generator\(model, generator, steps_per_epoch=4, "
                                           r"epochs=2, verbose=0\); samples_per_epoch=100 rows "
                                           r"is steps_per_epoch=4 batches of 32 rows"):
        history = bridge.fit_generator(mlp(keras), _data_generator(x, y, FEATURES, 32),
                                       samples_per_epoch=100, nb_epoch=2, verbose=0)
    assert history.params["steps"] == 4 and history.epoch == [0, 1]
    with pytest.warns(Keras1Warning, match="positional 3.0 as steps_per_epoch"):
        history = bridge.fit_generator(mlp(keras), _data_generator(x, y, FEATURES, 32), 3.0, 1,
                                       verbose=0)
    assert history.params["steps"] == 3
    with pytest.raises(UserError, match=r"^generator is the function _data_generator, not data; "
                                        r"pass _data_generator\(...\), not _data_generator$"):
        bridge.fit_generator(mlp(keras), _data_generator, steps_per_epoch=2)
