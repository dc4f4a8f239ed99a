"""Checkpoint files: layout, atomic writes, pruning, and what resuming refuses."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from streamfit.batches import ArrayBatches
from streamfit.errors import OptionError, UserError
from streamfit.training import Callback, Model, latest_checkpoint, read_checkpoint
from streamfit.training.callbacks import EarlyStopping
from streamfit.training.checkpoint import read_tensors


def _data(rows: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(rows, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def _model(hidden: int = 8) -> Model:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(6, hidden), torch.nn.Dropout(0.2),
                                 torch.nn.Linear(hidden, 2))
    return Model(module, loss="sparse_categorical_crossentropy", metrics=["accuracy"], seed=3)


def _fit(directory: Path, rows: int = 64, model: Model | None = None, **kwargs):
    x, y = _data(rows)
    options = {"batch_size": 16, "epochs": 2, "verbose": 0, "checkpoint_dir": directory,
               "checkpoint_every_steps": 3, **kwargs}
    return (model or _model()).fit(x, y, **options)


def _names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_layout_pruning_and_contents(tmp_path):
    _fit(tmp_path, keep_checkpoints=2)
    # 4 steps per epoch: steps 3 and 6 (= epoch 2 step 2), and the two epoch ends.
    assert _names(tmp_path) == ["ckpt-000003-e0002-s000002.json", "ckpt-000003-e0002-s000002.pt",
                                "ckpt-000004-e0003-s000000.json", "ckpt-000004-e0003-s000000.pt"]
    meta = json.loads((tmp_path / "ckpt-000004-e0003-s000000.json").read_text())
    assert meta["position"] == {"seed": 3, "epoch": 2, "step": 0}
    assert meta["fingerprint"]["data"] == {
        "class": "ArrayBatches", "num_samples": 64, "num_rows": 64, "batch_size": 16,
        "shuffle": True, "drop_remainder": False, "rank": 0, "world_size": 1, "seed": 3,
        "batches": 4, "steps": 4}
    assert meta["callbacks"]["History#0"]["epoch"] == [0, 1]
    assert len(meta["callbacks"]["History#0"]["data_wait"]) == 2
    pt = tmp_path / meta["tensors"]
    assert meta["sha256"] == hashlib.sha256(pt.read_bytes()).hexdigest()
    tensors = torch.load(pt, weights_only=True)
    assert set(tensors) == {"module", "optimizer", "rng", "running", "callbacks"}
    assert tensors["optimizer"]["state"][0]["step"].item() == 8
    checkpoint = latest_checkpoint(tmp_path)
    assert (checkpoint.epoch, checkpoint.step) == (2, 0)


def test_a_second_run_numbers_on_and_resume_runs_nothing_twice(tmp_path):
    first = _fit(tmp_path)
    again = _fit(tmp_path, resume_from=tmp_path)
    assert again.history == first.history
    assert _names(tmp_path)[-1] == "ckpt-000004-e0003-s000000.pt"  # nothing new was written


def test_a_truncated_checkpoint_is_refused_naming_the_file(tmp_path):
    _fit(tmp_path)
    pt = tmp_path / "ckpt-000004-e0003-s000000.pt"
    pt.write_bytes(pt.read_bytes()[:-10])
    with pytest.raises(UserError, match=r"^checkpoint .*ckpt-000004-e0003-s000000\.json is damaged "
                       r"\(ckpt-000004-e0003-s000000\.pt has \d+ bytes, \d+ were written\); resume "
                       "from an earlier checkpoint or delete it$"):
        read_checkpoint(pt)
    with pytest.warns(UserWarning, match="resuming from ckpt-000003-e0002-s000002.json instead"):
        assert latest_checkpoint(tmp_path).path.name == "ckpt-000003-e0002-s000002.json"


def test_a_changed_byte_and_an_edited_json_are_refused(tmp_path):
    _fit(tmp_path, epochs=1)
    pt = tmp_path / "ckpt-000002-e0002-s000000.pt"
    data = bytearray(pt.read_bytes())
    data[len(data) // 2] ^= 1
    pt.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"damaged \(the SHA-256 of ckpt-000002-e0002-s000000\.pt "
                       "differs from the one written\\)"):
        read_checkpoint(pt)
    path = tmp_path / "ckpt-000001-e0001-s000003.json"
    meta = json.loads(path.read_text())
    meta["position"]["step"] = 2
    path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="damaged \\(its contents do not match their recorded digest\\)"):
        read_checkpoint(path)
    path.write_text(path.read_text()[:50])
    with pytest.raises(UserError, match="damaged \\(not valid JSON"):
        read_checkpoint(path)
    with pytest.raises(UserError, match=r"^no intact checkpoint in .*; delete the directory"):
        _fit(tmp_path, resume_from=tmp_path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_pickle_bearing_file_is_refused_even_with_a_matching_checksum(tmp_path):
    _fit(tmp_path, epochs=1)
    path = tmp_path / "ckpt-000002-e0002-s000000.json"
    pt = tmp_path / "ckpt-000002-e0002-s000000.pt"
    torch.save({"module": _Evil()}, pt)
    with pytest.raises(UserError, match=r"holds pickled Python objects, not only tensors; "
                       "streamfit refuses to load it"):
        read_tensors(pt)
    meta = json.loads(path.read_text())
    meta["bytes"], meta["sha256"] = pt.stat().st_size, hashlib.sha256(pt.read_bytes()).hexdigest()
    from streamfit.training.checkpoint.file import body_digest
    meta["digest"] = body_digest(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="holds pickled Python objects"):
        _fit(tmp_path, resume_from=path)


def test_other_data_or_options_are_refused_naming_the_difference(tmp_path):
    _fit(tmp_path)
    with pytest.raises(UserError, match=r"^cannot resume from .*: it was written for other data or "
                       r"options: data\.num_samples is 64 in the checkpoint but 48 now; "
                       r"data\.num_rows is 64 in the checkpoint but 48 now; data\.batches is 4 in "
                       r"the checkpoint but 3 now \(and 1 more\); resume with the same data"):
        _fit(tmp_path, rows=48, resume_from=tmp_path)
    with pytest.raises(UserError, match=r"data\.batch_size is 16 in the checkpoint but 32 now"):
        _fit(tmp_path, batch_size=32, resume_from=tmp_path)
    with pytest.raises(UserError, match=r"model\.parameters\.0\.weight is \[8, 6\] in the checkpoint "
                       r"but \[4, 6\] now"):
        _fit(tmp_path, model=_model(hidden=4), resume_from=tmp_path)
    slower = _model()
    slower.compile(loss="sparse_categorical_crossentropy", optimizer=lambda params: torch.optim.Adam(
        params, lr=1e-4, eps=1e-7), metrics=["accuracy"])
    with pytest.raises(UserError, match=r"model\.optimizer_settings\.lr is 0\.001 in the checkpoint "
                       r"but 0\.0001 now"):
        _fit(tmp_path, model=slower, resume_from=tmp_path)
    with pytest.raises(UserError, match=r"user\.corpus is absent in the checkpoint but \"v2\" now"):
        _fit(tmp_path, resume_from=tmp_path, fingerprint={"corpus": "v2"})
    weighted = _model()
    weighted.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                     metrics=["accuracy"], loss_weights=0.5)
    with pytest.raises(UserError, match=r"model\.loss_settings\.weight is 1\.0 in the checkpoint "
                       r"but 0\.5 now"):
        _fit(tmp_path, model=weighted, resume_from=tmp_path)


def test_callbacks_must_match_the_checkpointed_run(tmp_path):
    _fit(tmp_path, callbacks=[EarlyStopping(monitor="loss", patience=3)])
    with pytest.raises(UserError, match="holds state of the callback EarlyStopping #0, which this "
                       "run lacks; pass the callbacks the checkpointed run had"):
        _fit(tmp_path, resume_from=tmp_path)
    with pytest.raises(UserError, match="it holds no state for the callback EarlyStopping #1"):
        _fit(tmp_path, resume_from=tmp_path, callbacks=[
            EarlyStopping(monitor="loss"), EarlyStopping(monitor="loss")])


def test_early_stopping_best_weights_come_back_from_the_checkpoint(tmp_path):
    stopper = EarlyStopping(monitor="loss", patience=9, restore_best_weights=True)
    _fit(tmp_path, callbacks=[stopper])
    checkpoint = latest_checkpoint(tmp_path)
    assert checkpoint.meta["callbacks"]["EarlyStopping#0"]["best"] == stopper.best
    saved = checkpoint.tensors["callbacks"]["EarlyStopping#0"]
    assert all(torch.equal(saved[name], stopper.best_weights[name]) for name in stopper.best_weights)


def test_generators_cannot_be_checkpointed_or_resumed(tmp_path):
    x, y = _data()

    def batches():
        while True:
            yield x[:16], y[:16]

    with pytest.raises(UserError, match="^resume_from= needs batches addressed by index, but x is a "
                       "plain generator"):
        _model().fit_generator(batches(), steps_per_epoch=4, verbose=0, resume_from=tmp_path)
    with pytest.raises(UserError, match="^checkpoint_dir= needs batches addressed by index"):
        _model().fit(batches(), steps_per_epoch=4, verbose=0, checkpoint_dir=tmp_path)
    history = _model().fit_generator(ArrayBatches(x, y, batch_size=16, seed=3), verbose=0,
                                     checkpoint_dir=tmp_path)
    assert history.epoch == [0] and _names(tmp_path)[-1] == "ckpt-000001-e0002-s000000.pt"


def test_an_unwritable_checkpoint_dir_is_refused_before_training(tmp_path):
    started = []

    class Watch(Callback):
        def on_train_begin(self, logs=None):
            started.append(True)

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match=r"^checkpoint_dir='.*file' is a file; give a directory$"):
        _fit(blocker, callbacks=[Watch()])
    with pytest.raises(UserError, match=r"^checkpoint_dir='.*file/sub' cannot be written \(.*\); "
                       "give a directory you can write to$"):
        _fit(blocker / "sub", callbacks=[Watch()])
    assert not started
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UserError, match="cannot be written"):
            _fit(locked)


def test_bad_options_and_paths(tmp_path):
    with pytest.raises(OptionError, match=r"^checkpoint_every_steps=0 must be an integer >= 1 or None$"):
        _fit(tmp_path, checkpoint_every_steps=0)
    with pytest.raises(OptionError, match=r"^keep_checkpoints=0 must be an integer >= 1$"):
        _fit(tmp_path, keep_checkpoints=0)
    with pytest.raises(OptionError, match=r"^keep_checkpoints=None must be an integer >= 1$"):
        _fit(tmp_path, keep_checkpoints=None)
    with pytest.raises(OptionError, match=r"^checkpoint_every_minutes='5' must be a number > 0 or None$"):
        _fit(tmp_path, checkpoint_every_minutes="5")
    with pytest.raises(OptionError, match=r"^checkpoint_every_minutes=0 must be a number > 0 or None$"):
        _fit(tmp_path, checkpoint_every_minutes=0)
    with pytest.raises(UserError, match="need checkpoint_dir=; give the directory"):
        _fit(None, checkpoint_every_steps=5)
    with pytest.raises(UserError, match=r"resume_from='.*nowhere' does not exist"):
        _fit(tmp_path, resume_from=tmp_path / "nowhere")
    history = _fit(tmp_path / "new", resume_from=tmp_path / "new")  # its own dir: a fresh start
    assert history.epoch == [0, 1]
    with pytest.raises(OptionError, match=r"^epochs=1 ends before epoch 3 step 0, where the checkpoint "
                       r".*ckpt-000004-e0003-s000000\.json resumes; give 3 or more$"):
        _fit(tmp_path / "new", epochs=1, resume_from=tmp_path / "new")


def test_a_failed_write_leaves_the_previous_checkpoints_intact(tmp_path, monkeypatch):
    _fit(tmp_path, epochs=1)
    before = {name: (tmp_path / name).read_bytes() for name in _names(tmp_path)}
    real_save = torch.save

    def failing_save(obj, file):
        real_save(obj, file)
        file.truncate(10)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OptionError, match=r"^checkpoint_dir='.*' cannot take the checkpoint "
                       r"ckpt-000003-e0001-s000003\.json \(No space left on device\): it needs about "
                       r"\d+ bytes, \d+ free; free space or give another directory \(the earlier "
                       r"checkpoints are as they were\)$"):
        _fit(tmp_path, epochs=1)
    assert {name: (tmp_path / name).read_bytes() for name in _names(tmp_path)} == before
    assert latest_checkpoint(tmp_path).path.name == "ckpt-000002-e0002-s000000.json"


def test_every_minutes_writes_after_each_step_once_due(tmp_path):
    _fit(tmp_path, epochs=1, checkpoint_every_steps=None, checkpoint_every_minutes=1e-9,
         keep_checkpoints=10)
    assert [name for name in _names(tmp_path) if name.endswith(".json")] == [
        "ckpt-000001-e0001-s000001.json", "ckpt-000002-e0001-s000002.json",
        "ckpt-000003-e0001-s000003.json", "ckpt-000004-e0002-s000000.json"]


def test_a_rank_that_writes_nothing_restarts_its_timer_at_each_save(tmp_path, monkeypatch):
    # In data-parallel training every rank asks `due`, and any rank's True makes
    # rank 0 write; a rank whose clock never restarted would ask after every step.
    from types import SimpleNamespace

    from streamfit.training.checkpoint import checkpointer

    clock = [1000.0]
    monkeypatch.setattr(checkpointer.time, "monotonic", lambda: clock[0])
    replicas = SimpleNamespace(is_main=False, total=lambda running: running)
    saver = checkpointer.Checkpointer(tmp_path / "ckpt", every_minutes=1, replicas=replicas)
    saver.start(steps=100, fingerprint={}, resumed=None)
    state = SimpleNamespace(epoch=0, step=5, epoch_begun=True, running=None)
    assert not saver.due(state)
    clock[0] += 61
    assert saver.due(state)
    assert saver.save(state) is None
    assert not saver.due(state)
    assert not (tmp_path / "ckpt").exists()
