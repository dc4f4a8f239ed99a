"""Keras 1's fit_generator names and positions, converted to Keras 2's with a warning."""

from __future__ import annotations

import warnings

import pytest

from streamfit.errors import UserError
from streamfit.training import Model
from streamfit.training.callbacks import Callback
from streamfit.training.keras1 import Keras1Warning

SPARSE_CE = "sparse_categorical_crossentropy"


class Sizes(Callback):
    """The rows of each training batch, per epoch, and the validation batches per pass."""

    def __init__(self):
        super().__init__()
        self.train: dict[int, list[int]] = {}
        self.validation: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.train[epoch], self.epoch = [], epoch

    def on_train_batch_end(self, batch, logs=None):
        self.train[self.epoch].append(logs["size"])

    def on_test_begin(self, logs=None):
        self.validation.append(0)

    def on_test_batch_end(self, batch, logs=None):
        self.validation[-1] += 1


def _batches(x, y, batch_size: int):
    """The guide's endless generator of consecutive batches, numbered as they are pulled."""
    while True:
        for start in range(0, x.shape[0], batch_size):
            yield x[start:start + batch_size], y[start:start + batch_size]


def _model(mlp) -> Model:
    return Model(mlp(), loss=SPARSE_CE, seed=0)


def test_keras1_keywords_train_the_samples_keras1_meant(data, mlp):
    x, y = data
    sizes = Sizes()
    with pytest.warns(Keras1Warning) as caught:
        history = _model(mlp).fit_generator(
            _batches(x, y, 64), samples_per_epoch=300, nb_epoch=2, verbose=0,
            validation_data=_batches(x, y, 100), nb_val_samples=200, callbacks=[sizes])
    # ceil(300 / 64) = 5 batches, the first one peeked to learn the batch size and not lost.
    assert sizes.train == {0: [64] * 5, 1: [64] * 4 + [24]} and sizes.validation == [2, 2]
    message = str(caught[0].message)
    assert message.startswith("fit_generator: samples_per_epoch, nb_epoch, nb_val_samples are "
                              "Keras 1 names; in Keras 2 (and streamfit) the call is "
                              "fit_generator(generator, steps_per_epoch=5, epochs=2, verbose=0, "
                              "callbacks=..., validation_data=..., validation_steps=2)")
    assert "samples_per_epoch=300 rows is steps_per_epoch=5 batches of 64 rows" in message
    assert caught[0].filename == __file__
    keras2 = _model(mlp).fit_generator(_batches(x, y, 64), steps_per_epoch=5, epochs=2,
                                       verbose=0, validation_data=_batches(x, y, 100),
                                       validation_steps=2)
    assert keras2.history == history.history


def test_a_generator_batch_size_attribute_gives_the_batch_size(data, mlp):
    x, y = data

    class Batches:
        batch_size = 100

        def __init__(self):
            self.pulled = 0
            self.inner = _batches(x, y, 100)

        def __iter__(self):
            return self

        def __next__(self):
            self.pulled += 1
            return next(self.inner)

    batches, sizes = Batches(), Sizes()
    with pytest.warns(Keras1Warning, match="steps_per_epoch=3 batches of 100 rows"):
        _model(mlp).fit_generator(batches, samples_per_epoch=250, verbose=0, callbacks=[sizes])
    assert sizes.train == {0: [100] * 3} and batches.pulled == 3


def test_positional_counts_keep_keras2s_meaning_with_a_warning(data, mlp):
    x, y = data
    sizes = Sizes()
    with pytest.warns(Keras1Warning) as caught:
        _model(mlp).fit_generator(_batches(x, y, 100), 4, 2, 0, [sizes])
    assert sizes.train == {0: [100] * 4, 1: [100, 100, 100, 100]}
    assert str(caught[0].message) == (
        "fit_generator reads the positional 4 as steps_per_epoch (batches), as Keras 2; Keras 1 "
        "read that position as samples_per_epoch (rows). Pass it by keyword to say which: "
        "fit_generator(generator, steps_per_epoch=4, epochs=2, verbose=0, callbacks=...) for "
        "batches, or samples_per_epoch= for rows")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model(mlp).fit_generator(_batches(x, y, 100), steps_per_epoch=4, verbose=0)


def test_a_call_with_keras1_keywords_reads_its_positional_count_as_samples(data, mlp):
    x, y = data
    sizes = Sizes()
    with pytest.warns(Keras1Warning, match="samples_per_epoch=256 rows is steps_per_epoch=3"):
        _model(mlp).fit_generator(_batches(x, y, 100), 256, nb_epoch=2, verbose=0,
                                  callbacks=[sizes])
    assert sizes.train == {0: [100] * 3, 1: [100, 100, 100]}


def test_renamed_loader_arguments_reach_the_loader(data, mlp, monkeypatch):
    x, y = data
    model, seen = _model(mlp), []
    original = Model._loader

    def recording(self, batches, workers, use_multiprocessing, max_queue_size):
        seen.append((workers, use_multiprocessing, max_queue_size))
        return original(self, batches, 1, False, max_queue_size)

    monkeypatch.setattr(Model, "_loader", recording)
    with pytest.warns(Keras1Warning, match="max_queue_size=3, workers=2, use_multiprocessing=True"):
        model.fit_generator(_batches(x, y, 100), steps_per_epoch=2, verbose=0, nb_worker=2,
                            pickle_safe=True, max_q_size=3)
    assert seen == [(2, True, 3)]


def test_nb_val_samples_is_ignored_with_validation_arrays_as_in_keras1(data, mlp):
    x, y = data
    sizes = Sizes()
    with pytest.warns(Keras1Warning, match="nb_val_samples=50 is ignored with validation arrays"):
        _model(mlp).fit_generator(_batches(x, y, 100), steps_per_epoch=2, verbose=0,
                                  validation_data=(x[:64], y[:64]), nb_val_samples=50,
                                  callbacks=[sizes])
    assert sizes.validation == [2]  # all 64 rows, in batches of 32


def test_a_name_given_twice_is_a_type_error(data, mlp):
    x, y = data
    model = _model(mlp)
    with pytest.raises(TypeError, match="both the Keras 1 argument nb_epoch and its Keras 2 name "
                                        "epochs; give only epochs"):
        model.fit_generator(_batches(x, y, 100), steps_per_epoch=2, epochs=2, nb_epoch=3)
    with pytest.raises(TypeError, match="got samples_per_epoch by keyword and by position"):
        model.fit_generator(_batches(x, y, 100), 200, nb_epoch=1, samples_per_epoch=200)


def test_fit_takes_nb_epoch_as_keras2_did(data, mlp):
    x, y = data
    with pytest.warns(Keras1Warning, match=r"^fit: nb_epoch is a Keras 1 name; in Keras 2 \(and "
                                           r"streamfit\) the call is fit\(x, epochs=3\)$") as caught:
        history = _model(mlp).fit(x, y, nb_epoch=3, verbose=0)
    assert history.epoch == [0, 1, 2] and caught[0].filename == __file__
    with pytest.raises(TypeError, match="unexpected keyword argument 'nb_epochs'"):
        _model(mlp).fit(x, y, nb_epochs=3)


def test_the_warning_is_one_python_shows_by_default():
    # Python's default filters hide DeprecationWarning outside __main__, never FutureWarning.
    assert issubclass(Keras1Warning, FutureWarning)


def test_an_empty_generator_cannot_be_measured(mlp):
    with pytest.raises(UserError, match="^generator yielded no batch"):
        _model(mlp).fit_generator(iter([]), samples_per_epoch=10)


def test_evaluate_and_predict_generator_take_val_samples(data, mlp):
    x, y = data
    model = _model(mlp)
    with pytest.warns(Keras1Warning, match=r"evaluate_generator\(generator, steps=3\); "
                                           r"val_samples=250 rows is steps=3 batches of 100 rows"):
        loss = model.evaluate_generator(_batches(x, y, 100), val_samples=250)
    assert loss == pytest.approx(model.evaluate(x[:300], y[:300], batch_size=100), rel=1e-6)
    with pytest.warns(Keras1Warning, match="positional 2 as steps"):
        assert model.predict_generator(_batches(x, y, 100), 2).shape == (200, 3)
    with pytest.warns(Keras1Warning, match="nb_worker, val_samples are Keras 1 names"):
        assert model.predict_generator(_batches(x, y, 100), 150, nb_worker=1).shape == (200, 3)
    with pytest.raises(TypeError, match="nb_epoch"):
        model.evaluate_generator(_batches(x, y, 100), steps=1, nb_epoch=2)
