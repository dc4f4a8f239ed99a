"""Model: fit / fit_generator / evaluate / predict with Keras semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from guide_code import _data_generator

from streamfit.errors import UserError
from streamfit.training import Model
from streamfit.training.callbacks import Callback, EarlyStopping
from streamfit.training.keras1 import Keras1Warning

SPARSE_CE = "sparse_categorical_crossentropy"


class CountRows(Callback):
    """Records the rows of every training batch, per epoch."""

    def __init__(self):
        super().__init__()
        self.sizes: dict[int, list[int]] = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.sizes[epoch] = []
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.sizes[self.epoch].append(logs["size"])


@pytest.mark.parametrize("form", ["csr", "dense", "matrix"])
def test_guide_batch_training_appendix_runs_unchanged(form, data, mlp, capsys):
    x, labels = data
    x = {"csr": x, "dense": x.toarray(), "matrix": np.asmatrix(x.toarray())}[form]
    x_train, train_labels, x_val, val_labels = x[:500], labels[:500], x[500:], labels[500:]
    num_features, batch_size, epochs = x.shape[1], 32, 8
    model = Model(mlp(), loss=SPARSE_CE, optimizer="adam", metrics=["accuracy"], seed=0)
    callbacks = [EarlyStopping(monitor="val_loss", patience=2)]

    # The guide's code, verbatim from here on.
    training_generator = _data_generator(x_train, train_labels, num_features, batch_size)
    validation_generator = _data_generator(x_val, val_labels, num_features, batch_size)
    steps_per_epoch = x_train.shape[0] // batch_size
    if x_train.shape[0] % batch_size:
        steps_per_epoch += 1
    validation_steps = x_val.shape[0] // batch_size
    if x_val.shape[0] % batch_size:
        validation_steps += 1
    history = model.fit_generator(
        generator=training_generator, steps_per_epoch=steps_per_epoch,
        validation_data=validation_generator, validation_steps=validation_steps,
        callbacks=callbacks, epochs=epochs, verbose=2)

    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]  # Keras 3's
    assert history.epoch == list(range(epochs))
    assert all(len(values) == epochs for values in history.history.values())
    assert history.history["accuracy"][-1] > history.history["accuracy"][0] + 0.3
    assert history.history["val_accuracy"][-1] > 0.9
    assert len(capsys.readouterr().out.splitlines()) == epochs


def test_fit_on_arrays_sees_every_row_once_per_epoch_with_a_partial_last_batch(data, mlp):
    x, y = data
    counter = CountRows()
    history = Model(mlp(), loss=SPARSE_CE, metrics=["acc"], seed=0).fit(
        x, y, batch_size=64, epochs=2, verbose=0, callbacks=[counter])
    assert counter.sizes == {0: [64] * 9 + [24], 1: [64] * 9 + [24]}
    assert list(history.history) == ["acc", "loss"]


def test_generator_partial_batch_counts_exact_rows(data, mlp):
    x, y = data
    counter = CountRows()
    Model(mlp(), loss=SPARSE_CE, seed=0).fit_generator(
        _data_generator(x, y, x.shape[1], 128), steps_per_epoch=5, epochs=2, verbose=0,
        callbacks=[counter])
    assert counter.sizes == {0: [128] * 4 + [88], 1: [128] * 4 + [88]}


def test_generator_without_steps_is_a_user_error(data, mlp):
    x, y = data
    model = Model(mlp(), loss=SPARSE_CE)
    with pytest.raises(UserError, match="^steps_per_epoch is required with a generator: "):
        model.fit_generator(_data_generator(x, y, 300, 32), epochs=1)
    with pytest.raises(UserError, match="^validation_steps is required with a generator"):
        model.fit(_data_generator(x, y, 300, 32), steps_per_epoch=2,
                  validation_data=_data_generator(x, y, 300, 32))
    with pytest.raises(UserError, match="^steps is required with a generator"):
        model.predict(_data_generator(x, y, 300, 32))


def test_a_generator_that_runs_dry_is_a_user_error(data, mlp):
    x, y = data
    with pytest.raises(UserError, match="ran out of data after 2 of 3 steps"):
        Model(mlp(), loss=SPARSE_CE).fit(iter([(x[:4], y[:4])] * 2), steps_per_epoch=3, verbose=0)


class TwoInputs(torch.nn.Module):
    def __init__(self, returns_dict: bool = False):
        super().__init__()
        self.a = torch.nn.Linear(300, 3)
        self.b = torch.nn.Linear(2, 3)
        self.returns_dict = returns_dict

    def forward(self, input_1, input_2):
        logits = self.a(input_1) + self.b(input_2)
        return {"aux": logits * 0, "output": logits} if self.returns_dict else logits


@pytest.mark.parametrize("returns_dict", [False, True])
def test_dict_inputs_go_to_forward_by_name(returns_dict, data, helpers):
    x, y = data
    x2 = np.stack([y == 0, y == 1], axis=1).astype(np.float32)
    batches = [({"input_1": x[i:i + 100], "input_2": x2[i:i + 100]}, {"output": y[i:i + 100]})
               for i in range(0, 600, 100)]
    torch.manual_seed(0)
    model = Model(TwoInputs(returns_dict), loss=SPARSE_CE, metrics=["accuracy"], seed=0,
                  optimizer=lambda params: torch.optim.Adam(params, lr=0.05))
    history = model.fit(helpers.ListBatches(batches), epochs=3, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    predicted = model.predict(helpers.ListBatches(batches))
    if returns_dict:
        assert sorted(predicted) == ["aux", "output"] and predicted["output"].shape == (600, 3)
    else:
        assert predicted.shape == (600, 3)


def test_an_unknown_input_name_names_the_key_and_forward_arguments(data, helpers):
    x, y = data
    batch = ({"input_1": x[:8], "input_3": x[:8, :2].toarray()}, {"output": y[:8]})
    model = Model(TwoInputs(), loss=SPARSE_CE)
    with pytest.raises(UserError, match=r"input key 'input_3' is not an argument of "
                                        r"TwoInputs.forward\(input_1, input_2\)"):
        model.fit(helpers.ListBatches([batch]), verbose=0)


def _reference_losses(module, x, y):
    with torch.no_grad():
        return F.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(y), reduction="none")


def test_class_weight_multiplies_the_loss_by_the_exact_factor(data):
    x, y = data
    x, y = x[:50].toarray(), y[:50]
    torch.manual_seed(0)
    model = Model(torch.nn.Linear(300, 3), loss=SPARSE_CE, optimizer="sgd")
    plain = model.test_on_batch(x, y)
    assert model.test_on_batch(x, y, class_weight={0: 2.0, 1: 2.0, 2: 2.0}) == pytest.approx(2 * plain, rel=1e-6)
    per_sample = _reference_losses(model.module, x, y).numpy()
    weights = np.where(y == 1, 3.0, 1.0)  # class 2 unlisted: weight 1
    expected = float((per_sample * weights).mean())
    assert model.test_on_batch(x, y, class_weight={0: 1.0, 1: 3.0}) == pytest.approx(expected, rel=1e-6)
    assert model.train_on_batch(x, y, class_weight={0: 1.0, 1: 3.0}) == pytest.approx(expected, rel=1e-6)
    assert model.test_on_batch(x, y) != pytest.approx(plain)  # the step changed the weights


def test_uniform_class_weight_scales_the_sgd_update_exactly(data):
    x, y = data
    x, y = x[:40].toarray(), y[:40]
    updates = []
    for weight in (1.0, 2.0):
        torch.manual_seed(0)
        model = Model(torch.nn.Linear(300, 3), loss=SPARSE_CE, optimizer="sgd")
        before = model.module.weight.detach().clone()
        model.train_on_batch(x, y, class_weight={0: weight, 1: weight, 2: weight})
        updates.append(model.module.weight.detach() - before)
    torch.testing.assert_close(updates[1], 2 * updates[0])


def test_binary_class_weight_reads_0_1_targets():
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = Model(torch.nn.Linear(5, 1), loss="binary_crossentropy")
    with torch.no_grad():
        per_sample = F.binary_cross_entropy_with_logits(
            model.module(torch.from_numpy(x))[:, 0], torch.from_numpy(y), reduction="none").numpy()
    expected = float((per_sample * np.where(y == 1, 4.0, 0.5)).mean())
    assert model.test_on_batch(x, y, class_weight={0: 0.5, 1: 4.0}) == pytest.approx(expected, rel=1e-6)


def test_sample_weight_is_a_weighted_mean_over_the_batch_size(data):
    x, y = data
    x, y = x[:100].toarray(), y[:100]
    torch.manual_seed(0)
    model = Model(torch.nn.Linear(300, 3), loss=SPARSE_CE, metrics=["accuracy"])
    weights = np.linspace(0.0, 2.0, 100).astype(np.float32)
    per_sample = _reference_losses(model.module, x, y).numpy()
    expected = float((per_sample * weights).mean())
    loss, _ = model.test_on_batch(x, y, sample_weight=weights)
    assert loss == pytest.approx(expected, rel=1e-6)
    # Over several batches, the epoch value is still sum(w * loss) / rows.
    assert model.evaluate(x, y, sample_weight=weights, batch_size=30)[0] == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, batch_size=30, return_dict=True)["loss"] == pytest.approx(
        float(per_sample.mean()), rel=1e-5)
    history = model.fit(x, y, sample_weight=np.zeros(100, np.float32), epochs=1, verbose=0)
    assert history.history["loss"] == [0.0]


def test_initial_epoch_starts_the_count(data, mlp, capsys):
    x, y = data
    history = Model(mlp(), loss=SPARSE_CE, seed=0).fit(x, y, epochs=5, initial_epoch=2, verbose=2)
    assert history.epoch == [2, 3, 4]
    assert len(history.history["loss"]) == 3
    assert [line.split(" - ")[0] for line in capsys.readouterr().out.splitlines()] == [
        "Epoch 3/5", "Epoch 4/5", "Epoch 5/5"]


def test_binary_crossentropy_learns_and_predicts_sigmoid_probabilities(data, mlp):
    x, y = data
    target = (y == 0).astype(np.float32)
    model = Model(mlp(outputs=1), loss="binary_crossentropy", metrics=["accuracy"], seed=0)
    history = model.fit(x, target, validation_split=0.2, epochs=12, batch_size=32, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9
    assert history.history["accuracy"][-1] > history.history["accuracy"][0]
    predicted = model.predict(x[:10])
    model.module.eval()
    with torch.no_grad():
        expected = torch.sigmoid(model.module(torch.from_numpy(x[:10].toarray()))).numpy()
    assert predicted.shape == (10, 1)
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)


def test_predict_returns_softmax_rows_in_order(data, mlp):
    x, y = data
    model = Model(mlp(), loss=SPARSE_CE)
    predicted = model.predict(x, batch_size=64)
    model.module.eval()
    with torch.no_grad():
        expected = torch.softmax(model.module(torch.from_numpy(x.toarray())), dim=1).numpy()
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), expected[:5], rtol=1e-5)
    np.testing.assert_allclose(
        model.predict_generator(_data_generator(x, y, 300, 100), steps=6), expected, rtol=1e-5)
    np.testing.assert_allclose(predicted.sum(axis=1), 1.0, rtol=1e-5)


def test_validation_split_holds_out_the_last_rows(data, mlp):
    x, y = data
    model = Model(mlp(), loss=SPARSE_CE, metrics=["accuracy"], seed=0)
    history = model.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
    assert model.evaluate(x[450:], y[450:]) == pytest.approx(
        [history.history["val_loss"][-1], history.history["val_accuracy"][-1]], rel=1e-6)
    assert model.evaluate_generator(_data_generator(x[450:], y[450:], 300, 32), steps=5) == (
        pytest.approx([history.history["val_loss"][-1], history.history["val_accuracy"][-1]],
                      rel=1e-6))


def test_validation_data_as_a_tuple_with_weights(data, mlp):
    x, y = data
    model = Model(mlp(), loss=SPARSE_CE, seed=0)
    weights = np.full(100, 3.0, np.float32)
    history = model.fit(x[:500], y[:500], validation_data=(x[500:], y[500:], weights), epochs=1,
                        verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(3 * model.evaluate(x[500:], y[500:]), rel=1e-5)
    with pytest.raises(UserError, match="give \\(x, y\\) or \\(x, y, sample_weight\\)"):
        model.fit(x, y, validation_data=(x,), verbose=0)


def test_same_seed_gives_identical_weights_and_leaves_the_callers_rng_alone(data, mlp):
    x, y = data

    def train(seed):
        model = Model(mlp(), loss=SPARSE_CE, seed=seed)
        torch.manual_seed(123)
        model.fit(x, y, epochs=2, verbose=0)
        return model.module.state_dict(), torch.rand(1)

    first, after_first = train(7)
    second, after_second = train(7)
    other, _ = train(8)
    for name in first:
        assert torch.equal(first[name], second[name])
    assert not all(torch.equal(first[name], other[name]) for name in first)
    torch.manual_seed(123)
    assert torch.equal(after_first, torch.rand(1)) and torch.equal(after_second, after_first)


def test_a_model_without_a_seed_draws_and_keeps_one(mlp):
    model = Model(mlp())
    assert isinstance(model.seed, int) and model.seed >= 0
    with pytest.raises(UserError, match=r"^seed=-1 must be an integer >= 0 or None$"):
        Model(mlp(), seed=-1)


def test_stop_training_ends_the_epoch_after_the_current_batch(data, mlp):
    x, y = data

    class StopAtBatch2(CountRows):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            if batch == 2:
                self.model.stop_training = True

    counter = StopAtBatch2()
    history = Model(mlp(), loss=SPARSE_CE, seed=0).fit(
        x, y, batch_size=50, epochs=3, verbose=0, validation_data=(x[:50], y[:50]),
        callbacks=[counter])
    assert counter.sizes == {0: [50, 50, 50]}
    assert history.epoch == [0] and list(history.history) == ["loss", "val_loss"]


def test_streamfit_sparse_model_takes_csr_rows(data):
    from streamfit.models import NgramMLP

    x, y = data
    torch.manual_seed(0)
    model = Model(NgramMLP(num_features=300, num_classes=3), loss=SPARSE_CE,
                  metrics=["accuracy"], seed=0)
    history = model.fit(x, y, validation_split=0.2, epochs=4, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9


def test_evaluate_and_fit_need_a_loss_and_the_result_shapes(data, mlp):
    x, y = data
    bare = Model(mlp())
    with pytest.raises(UserError, match="no loss; call model.compile"):
        bare.evaluate(x, y)
    bare.compile(loss=SPARSE_CE, metrics=["accuracy"])
    assert bare.metrics_names == ["loss", "accuracy"]
    assert isinstance(bare.evaluate(x, y), list)
    bare.compile(loss=SPARSE_CE, optimizer=None)
    assert isinstance(bare.evaluate(x, y), float)
    with pytest.raises(UserError, match="no optimizer"):
        bare.fit(x, y, verbose=0)


def test_bad_arguments_are_user_errors(data, mlp, helpers):
    x, y = data
    model = Model(mlp(), loss=SPARSE_CE)
    with pytest.raises(UserError, match="Model\\(module=...\\) got a str"):
        Model("mlp")
    with pytest.raises(UserError, match=r"^steps_per_epoch=0 must be an integer >= 1$"):
        model.fit(x, y, steps_per_epoch=0)
    with pytest.raises(UserError, match="validation_split needs in-memory arrays"):
        model.fit(helpers.ListBatches([(x, y)]), validation_split=0.1)
    with pytest.raises(UserError, match="y or sample_weight was given too"):
        model.fit(helpers.ListBatches([(x, y)]), y)
    with pytest.raises(UserError, match="is not \\(x, y\\) or \\(x, y, sample_weight\\)"):
        model.fit(helpers.ListBatches([x]), verbose=0)
    with pytest.raises(UserError, match="class_weight=.* must map class ids"):
        model.fit(x, y, class_weight={"a": 1.0}, verbose=0)


def test_batch_set_steps_default_to_its_length(data, mlp, helpers):
    x, y = data
    batches = helpers.batches_of(x, y, 200)
    counter = CountRows()
    Model(mlp(), loss=SPARSE_CE).fit(helpers.ListBatches(batches), epochs=1, verbose=0,
                                     callbacks=[counter])
    assert counter.sizes == {0: [200, 200, 200]}
    counter = CountRows()
    Model(mlp(), loss=SPARSE_CE).fit(helpers.ListBatches(batches), steps_per_epoch=2, verbose=0,
                                     callbacks=[counter])
    assert counter.sizes == {0: [200, 200]}


@pytest.mark.parametrize("use_multiprocessing", [False, True])
def test_parallel_workers_train_exactly_like_one(use_multiprocessing, data, mlp):
    x, y = data

    def train(workers):
        model = Model(mlp(), loss=SPARSE_CE, metrics=["accuracy"], seed=3)
        history = model.fit(x, y, epochs=2, batch_size=50, verbose=0, workers=workers,
                            use_multiprocessing=use_multiprocessing, max_queue_size=4,
                            validation_data=(x[:100], y[:100]))
        return model.module.state_dict(), history.history

    serial_weights, serial_history = train(1)
    parallel_weights, parallel_history = train(2)
    assert parallel_history == serial_history
    assert all(torch.equal(serial_weights[k], parallel_weights[k]) for k in serial_weights)


def test_fit_generator_takes_keras_2s_positional_order_and_fits_keyword_arguments(data, mlp, helpers):
    import inspect

    x, y = data
    batches = helpers.batches_of(x, y, 200)

    def run(*args, **kwargs):
        model = Model(mlp(), loss=SPARSE_CE, seed=0)
        return model.fit_generator(*args, **kwargs), model

    counter = CountRows()
    # generator, steps_per_epoch, epochs, verbose, callbacks, validation_data, validation_steps
    with pytest.warns(Keras1Warning, match="positional 3 as steps_per_epoch and 1 as "
                                           "validation_steps"):
        history, positional = run(helpers.endless(batches), 3, 2, 0, [counter], iter(batches), 1)
    assert history.epoch == [0, 1] and counter.sizes == {0: [200] * 3, 1: [200] * 3}
    assert "val_loss" in history.history
    by_keyword, keyword = run(generator=helpers.ListBatches(batches), epochs=2, verbose=0,
                              validation_data=helpers.ListBatches(batches[:1]))
    assert by_keyword.history["loss"] == history.history["loss"]
    assert all(torch.equal(a, b) for a, b in zip(positional.module.state_dict().values(),
                                                 keyword.module.state_dict().values(), strict=True))
    parameters = inspect.signature(Model.fit_generator).parameters
    assert list(parameters)[:4] == ["self", "generator", "steps_per_epoch", "epochs"]
    assert parameters["resume_from"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "batch_size" not in parameters and "y" not in parameters
    with pytest.raises(TypeError, match="multiple values for argument 'steps_per_epoch'"):
        run(iter(batches), 3, steps_per_epoch=3)
    with pytest.raises(TypeError, match="batch_size"):
        run(iter(batches), 3, batch_size=10)
    with pytest.raises(TypeError, match="too many positional arguments"):
        run(iter(batches), *range(14))
