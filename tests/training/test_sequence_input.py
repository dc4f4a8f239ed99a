"""Keras Sequences, PyDatasets and other `__len__` + `__getitem__` objects, read by index."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamfit.errors import OptionError, UserError
from streamfit.training import Model
from streamfit.training.callbacks import Callback
from streamfit.training.data import SequenceBatches, loader_for

SPARSE_CE = "sparse_categorical_crossentropy"
BATCH = 50


class Batches:
    """Batch i is rows i*50 .. i*50+49; it never raises IndexError, as many tutorial ones."""

    def __init__(self, x, y, batches: int = 4):
        self.x, self.y, self.batches = x, y, batches
        self.reads: list[int] = []
        self.epoch_ends = 0

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, index: int):
        if index >= 10 * self.batches:
            # Stands in for an endless read: numpy's array() reads until IndexError.
            raise RuntimeError(f"read index {index}, far past len()")
        self.reads.append(index)
        rows = slice((index % self.batches) * BATCH, (index % self.batches + 1) * BATCH)
        return self.x[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        self.epoch_ends += 1


def _model(mlp) -> Model:
    return Model(mlp(), loss=SPARSE_CE, metrics=["accuracy"], seed=0)


def test_fit_reads_each_index_once_per_epoch_in_a_new_order(data, mlp):
    x, y = data
    sequence = Batches(x, y)
    history = _model(mlp).fit(sequence, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and sequence.epoch_ends == 3
    epochs = [sequence.reads[i:i + 4] for i in range(0, 12, 4)]
    assert all(sorted(order) == [0, 1, 2, 3] for order in epochs)
    assert len({tuple(order) for order in epochs}) > 1  # Keras' fit(shuffle=True) reorders
    sequence = Batches(x, y)
    _model(mlp).fit(sequence, epochs=2, verbose=0, shuffle=False)
    assert sequence.reads == [0, 1, 2, 3] * 2


@pytest.mark.parametrize("use_multiprocessing", [False, True])
def test_workers_train_exactly_the_batches_of_one_worker(data, mlp, use_multiprocessing):
    x, y = data
    alone = _model(mlp)
    alone.fit(Batches(x, y), epochs=2, verbose=0, workers=0)
    together = _model(mlp)
    together.fit(Batches(x, y), epochs=2, verbose=0, workers=2,
                 use_multiprocessing=use_multiprocessing)
    assert all(torch.equal(a, b) for a, b in zip(alone.module.state_dict().values(),
                                                 together.module.state_dict().values(),
                                                 strict=True))


def test_evaluate_predict_and_validation_read_in_order(data, mlp):
    x, y = data
    model = _model(mlp)
    validation = Batches(x, y, batches=2)
    model.fit(Batches(x, y), epochs=2, verbose=0, validation_data=validation)
    assert validation.reads == [0, 1, 0, 1] and validation.epoch_ends == 2
    predicted = model.predict(Batches(x, y, batches=3))
    np.testing.assert_allclose(predicted, model.predict(x[:150]), rtol=1e-6)
    loss, accuracy = model.evaluate(Batches(x, y, batches=3))
    assert loss == pytest.approx(model.evaluate(x[:150], y[:150], batch_size=BATCH)[0], rel=1e-5)


def test_steps_per_epoch_reads_the_first_batches_of_each_epoch(data, mlp):
    x, y = data
    sequence = Batches(x, y)
    _model(mlp).fit(sequence, epochs=2, steps_per_epoch=2.0, verbose=0, shuffle=False)
    assert sequence.reads == [0, 1, 0, 1]
    with pytest.raises(OptionError, match=r"^steps_per_epoch=2\.5 must be an integer >= 1$"):
        _model(mlp).fit(sequence, steps_per_epoch=2.5)


def test_a_generator_function_or_class_instead_of_its_result_is_named(data, mlp):
    x, y = data
    model = _model(mlp)

    def batches():
        while True:
            yield x[:10], y[:10]

    with pytest.raises(UserError, match=r"^x is the function batches, not data; pass "
                                        r"batches\(...\), not batches$"):
        model.fit(batches, steps_per_epoch=2)
    with pytest.raises(UserError, match=r"^x is the class Batches, not data; pass Batches\(...\)"):
        model.predict(Batches, steps=2)
    with pytest.raises(UserError, match=r"^validation_data is the function batches"):
        model.fit(x, y, validation_data=batches, validation_steps=1)


def test_an_empty_sequence_is_an_error(data):
    x, y = data
    with pytest.raises(UserError, match="has length 0"):
        SequenceBatches(Batches(x, y, batches=0))





def test_a_keras_pydataset_gets_its_epoch_hooks_and_its_workers(keras, data, mlp):
    x, y = data
    calls = []

    class Dataset(keras.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.indices = list(range(4))

        def __len__(self):
            return 4

        def __getitem__(self, index):
            calls.append(index)
            i = self.indices[index]
            return x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]

        def on_epoch_begin(self):
            calls.append("begin")

        def on_epoch_end(self):
            calls.append("end")
            self.indices.reverse()

    _model(mlp).fit(Dataset(), epochs=2, verbose=0, shuffle=False)
    assert calls == ["begin", 0, 1, 2, 3, "end"] * 2
    loader = loader_for(SequenceBatches(Dataset(workers=3, use_multiprocessing=True)),
                        workers=1, use_multiprocessing=False, max_queue_size=10)
    assert (loader.workers, loader.use_multiprocessing) == (3, True)  # its own, as in Keras 3
    alone = _model(mlp)
    alone.fit(Dataset(), epochs=2, verbose=0)
    together = _model(mlp)
    together.fit(Dataset(workers=2), epochs=2, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(alone.module.state_dict().values(),
                                                 together.module.state_dict().values(),
                                                 strict=True))


def test_an_endless_pydataset_needs_steps_and_reads_on(keras, data, mlp):
    x, y = data
    reads = []

    class Endless(keras.utils.PyDataset):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            reads.append(index)
            i = index % 4
            return x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]

    with pytest.raises(UserError, match="num_batches None .*pass steps_per_epoch"):
        _model(mlp).fit(Endless())
    _model(mlp).fit(Endless(), steps_per_epoch=3, epochs=2, verbose=0)
    assert reads == [0, 1, 2, 3, 4, 5]


def test_fit_generator_names_the_generator_function(data, mlp):
    x, y = data

    def batches():
        while True:
            yield x[:10], y[:10]

    with pytest.raises(UserError, match=r"^generator is the function batches, not data; pass "
                                        r"batches\(...\), not batches$"):
        _model(mlp).fit_generator(batches, steps_per_epoch=2)
    with pytest.raises(UserError, match=r"^generator is the function batches"):
        _model(mlp).predict_generator(batches, steps=2)


def test_a_torch_dataset_of_samples_is_batched_by_batch_size(data, mlp):
    x, y = data
    dense = torch.from_numpy(x.toarray())
    dataset = torch.utils.data.TensorDataset(dense, torch.from_numpy(y))
    sizes = []

    class Sizes(Callback):
        def on_train_batch_end(self, batch, logs=None):
            sizes.append(logs["size"])

    by_dataset = _model(mlp)
    by_dataset.fit(dataset, batch_size=128, epochs=2, verbose=0, callbacks=[Sizes()],
                   validation_data=dataset)
    assert sizes == ([128] * 4 + [88]) * 2
    by_arrays = _model(mlp)
    by_arrays.fit(dense.numpy(), y, batch_size=128, epochs=2, verbose=0)
    # The same rows in the same order (the model's seed): the same weights.
    assert all(torch.allclose(a, b) for a, b in zip(by_dataset.module.state_dict().values(),
                                                    by_arrays.module.state_dict().values(),
                                                    strict=True))
    assert by_dataset.predict(dataset).shape == (600, 3)


def test_a_torch_dataloader_trains_one_pass_per_epoch(data, mlp):
    x, y = data
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x.toarray()), torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=200, shuffle=True)
    history = _model(mlp).fit(loader, epochs=2, verbose=0, validation_data=loader)
    assert history.params["steps"] == 3 and len(history.history["val_loss"]) == 2
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 3)))
    with pytest.raises(UserError, match="ran out of data after 0 of 2 steps"):
        _model(mlp).fit(empty, steps_per_epoch=2, verbose=0)
