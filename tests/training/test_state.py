"""The loop state: what a checkpoint keeps of it, and the spans in which it may not save."""

from __future__ import annotations

import json

import pytest
import torch

from streamfit.errors import UserError
from streamfit.training import Model
from streamfit.training.callbacks import CallbackList, EarlyStopping, History
from streamfit.training.state import LoopState


def _state(epoch: int = 0, callbacks: list | None = None) -> LoopState:
    torch.manual_seed(0)
    model = Model(torch.nn.Linear(3, 2), loss="sparse_categorical_crossentropy", seed=5)
    history = History()
    return LoopState(model=model, epoch=epoch, history=history,
                     callbacks=CallbackList([*(callbacks or []), history], model))


def _advance(state: LoopState) -> None:
    state.epoch_begun = True
    state.running.update({"loss": torch.tensor(0.5), "accuracy": 0.25}, rows=8)
    state.step = 3
    state.logs = {"loss": 0.7}
    state.wait_seconds, state.seconds = 0.5, 2.0
    state.history.on_epoch_end(0, {"loss": 0.7})
    state.history.data_wait.append(0.1)
    state.model.stop_training = True


def test_state_round_trips_through_json_and_tensors():
    stopper = EarlyStopping(monitor="loss", restore_best_weights=True)
    state = _state(epoch=1, callbacks=[stopper])
    _advance(state)
    stopper.best, stopper.best_weights = 0.7, {"weight": torch.ones(2, 3)}
    saved = json.loads(json.dumps(state.state_dict()))
    tensors = state.tensor_state_dict()
    assert saved["position"] == {"seed": 5, "epoch": 1, "step": 3}
    assert saved["callbacks"]["History#0"] == {"history": {"loss": [0.7]}, "epoch": [0],
                                               "data_wait": [0.1]}
    assert saved["running"] == {"rows": 8, "floats": {"accuracy": 2.0}}
    assert set(tensors) == {"rng", "running", "callbacks"}

    other = EarlyStopping(monitor="loss", restore_best_weights=True)
    restored = _state(callbacks=[other])
    restored.load_state_dict(saved)
    restored.load_tensor_state_dict(tensors)
    assert restored.position == state.position == (1, 3, True)
    assert restored.running.result() == state.running.result()
    assert (restored.logs, restored.wait_seconds, restored.seconds) == ({"loss": 0.7}, 0.5, 2.0)
    assert restored.history.history == {"loss": [0.7]} and restored.history.data_wait == [0.1]
    assert restored.model.stop_training is True
    assert other.best == 0.7 and torch.equal(other.best_weights["weight"], torch.ones(2, 3))


def test_other_callbacks_than_the_saved_ones_are_refused():
    saved = _state(callbacks=[EarlyStopping(monitor="loss")]).state_dict()
    with pytest.raises(UserError, match="it holds state of the callback EarlyStopping #0, which "
                       "this run lacks"):
        _state().load_state_dict(saved)


def test_a_half_done_span_cannot_be_saved_and_stays_so_when_it_fails():
    state = _state()
    assert not state.may_save  # before the loop begins the run
    with state.half_done():
        assert not state.may_save
    assert state.may_save
    with pytest.raises(KeyboardInterrupt), state.half_done():
        raise KeyboardInterrupt
    assert not state.may_save


def test_at_epoch_start_keeps_the_epoch_and_drops_what_belongs_within_it():
    state = _state(epoch=2)
    _advance(state)
    meta, tensors = LoopState.at_epoch_start(state.state_dict(), state.tensor_state_dict())
    restored = _state()
    restored.load_state_dict(meta)
    restored.load_tensor_state_dict(tensors)
    fresh = _state(epoch=2)
    fresh.next_epoch()
    fresh.epoch = 2
    assert restored.position == fresh.position == (2, 0, False)
    assert (restored.running.state_dict(), restored.running.tensor_state_dict()) == (
        fresh.running.state_dict(), fresh.running.tensor_state_dict())
    assert (restored.wait_seconds, restored.seconds) == (fresh.wait_seconds, fresh.seconds)
    assert restored.history.history == {"loss": [0.7]}  # the epochs before stay
