"""Killed, interrupted and resumed runs end exactly where one uninterrupted run ends.

The killed runs are real processes: this file, run as a script, trains and
kills itself with SIGKILL (or SIGINT) at a chosen point; the test then
resumes in this process from the checkpoint directory and compares every
weight (`torch.equal`), the History and the CSV log with a run that was
never interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from streamfit.training import Callback, Model, TrainingInterrupted
from streamfit.training.callbacks import CSVLogger, EarlyStopping, ReduceLROnPlateau
from streamfit.training.checkpoint import read_checkpoint

EPOCHS = 3
BATCH = 16  # 200 training rows: 13 steps per epoch, the last of 8 rows
EVERY = 5


def make_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 20)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
    return x, y


def make_model() -> Model:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                 torch.nn.Linear(16, 3))
    return Model(module, loss="sparse_categorical_crossentropy", metrics=["accuracy"], seed=7)


class Stop(Callback):
    """At the end of the `at`-th training batch (1-based, over the run), or when epoch
    `at_epoch` begins, do `action()`."""

    def __init__(self, action, at: int | None = None, at_epoch: int | None = None):
        super().__init__()
        self.action, self.at, self.at_epoch = action, at, at_epoch
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == self.at:
            self.action()

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            self.action()


def train(workdir: Path, extra: list | None = None, resume: bool = False, workers: int = 1,
          epochs: int = EPOCHS) -> tuple[Model, object]:
    """The run under test: dropout, validation, early stopping with best weights, an LR
    schedule on plateau and a CSV log, checkpointing every EVERY steps."""
    torch.set_num_threads(1)
    x, y = make_data()
    model = make_model()
    callbacks = [EarlyStopping(patience=5, restore_best_weights=True),
                 ReduceLROnPlateau(patience=1, factor=0.5),
                 CSVLogger(workdir / "log.csv"), *(extra or [])]
    directory = workdir / "ckpt"
    history = model.fit(x[:200], y[:200], batch_size=BATCH, epochs=epochs, verbose=0,
                        validation_data=(x[200:], y[200:]), callbacks=callbacks,
                        workers=workers, checkpoint_dir=directory, checkpoint_every_steps=EVERY,
                        resume_from=directory if resume else None)
    return model, history


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _interrupt_self() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def _kill_at_fsync(number: int) -> None:
    """SIGKILL this process at its `number`-th fsync: in the middle of a checkpoint write."""
    real, calls = os.fsync, [0]

    def fsync(fd):
        calls[0] += 1
        if calls[0] == number:
            _kill_self()
        real(fd)

    os.fsync = fsync


# name -> (what the script does, how the process must end)
SCENARIOS = {
    "mid-first-epoch": (["--kill-at", "7"], -signal.SIGKILL),
    "mid-last-epoch": (["--kill-at", "33"], -signal.SIGKILL),
    "after-last-step-before-epoch-end": (["--kill-at", "13"], -signal.SIGKILL),
    "epoch-boundary": (["--kill-at-epoch", "1"], -signal.SIGKILL),
    # Each checkpoint fsyncs its .pt, the directory, its .json, the directory:
    # the 11th fsync is the third checkpoint's .json, after its .pt is in place.
    "inside-a-checkpoint-write": (["--kill-at-fsync", "11"], -signal.SIGKILL),
    "ctrl-c": (["--interrupt-at", "20"], 3),
}


def main(argv: list[str]) -> int:
    workdir, option, value = Path(argv[0]), argv[1], int(argv[2])
    extra = []
    if option == "--kill-at":
        extra.append(Stop(_kill_self, at=value))
    elif option == "--kill-at-epoch":
        extra.append(Stop(_kill_self, at_epoch=value))
    elif option == "--kill-at-fsync":
        _kill_at_fsync(value)
    elif option == "--interrupt-at":
        extra.append(Stop(_interrupt_self, at=value))
    try:
        train(workdir, extra)
    except TrainingInterrupted as error:
        print(error, flush=True)
        return 3
    return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: weights, History and CSV log."""
    workdir = tmp_path_factory.mktemp("reference")
    model, history = train(workdir)
    return model.module.state_dict(), history, (workdir / "log.csv").read_text()


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """Every scenario's process, started together and waited for: {name: (workdir, result)}."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = {}
    for name, (args, _) in SCENARIOS.items():
        workdir = tmp_path_factory.mktemp(name)
        started[name] = (workdir, subprocess.Popen(
            [sys.executable, __file__, str(workdir), *args], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = {}
    for name, (workdir, process) in started.items():
        stdout, stderr = process.communicate(timeout=300)
        results[name] = (workdir, process.returncode, stdout, stderr)
    return results


def assert_same_run(model: Model, history, workdir: Path, reference) -> None:
    weights, expected, log = reference
    state = model.module.state_dict()
    assert state.keys() == weights.keys()
    assert all(torch.equal(state[name], weights[name]) for name in weights)
    assert history.history == expected.history
    assert history.epoch == expected.epoch == [0, 1, 2]
    assert len(history.data_wait) == EPOCHS and all(0.0 <= w <= 1.0 for w in history.data_wait)
    assert (workdir / "log.csv").read_text() == log


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_killed_run_resumes_to_the_same_weights_history_and_log(name, killed, reference):
    workdir, returncode, stdout, stderr = killed[name]
    assert returncode == SCENARIOS[name][1], stderr
    if name == "ctrl-c":
        # SIGINT after batch 20 = step 7 of the second epoch: saved after that step.
        assert stdout.startswith("training interrupted at epoch 2 step 7; checkpoint saved to ")
        assert "resume with --resume or fit(..., resume_from=" in stdout
        saved = read_checkpoint(stdout.split("checkpoint saved to ")[1].split(";")[0])
        assert (saved.epoch, saved.step) == (1, 7)
    if name == "inside-a-checkpoint-write":
        # The third checkpoint's .pt is in place, its .json still a temporary file.
        assert sorted(os.listdir(workdir / "ckpt"))[-3:] == [
            "ckpt-000002-e0001-s000010.json", "ckpt-000002-e0001-s000010.pt",
            "ckpt-000003-e0002-s000000.pt"]
        assert (workdir / "ckpt" / ".ckpt-000003-e0002-s000000.json.tmp").exists()
    model, history = train(workdir, resume=True)
    assert_same_run(model, history, workdir, reference)
    left = sorted(os.listdir(workdir / "ckpt"))
    assert len(left) == 6 and not [name for name in left if not name.startswith("ckpt-")]


def test_ctrl_c_from_a_callback_saves_after_the_step_and_resumes(tmp_path, reference):
    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match=r"^training interrupted at epoch 1 step 9; "
                       r"checkpoint saved to .*ckpt-000002-e0001-s000009\.json; resume with") as caught:
        train(tmp_path, [Stop(interrupt, at=9)])
    assert (caught.value.epoch, caught.value.step) == (0, 9)
    model, history = train(tmp_path, resume=True)
    assert_same_run(model, history, tmp_path, reference)


def test_ctrl_c_inside_a_step_names_the_last_consistent_checkpoint(tmp_path):
    calls = [0]

    def loss(output, target):
        calls[0] += 1
        if calls[0] == 12:
            raise KeyboardInterrupt
        return torch.nn.functional.cross_entropy(output, target, reduction="none")

    x, y = make_data()
    model = make_model()
    model.compile(loss=loss, optimizer="adam")
    with pytest.raises(TrainingInterrupted, match=r"inside epoch 1 step 11, where no consistent "
                       r"checkpoint can be taken; the latest checkpoint is .*e0001-s000010\.json"):
        model.fit(x[:200], y[:200], batch_size=BATCH, epochs=1, verbose=0,
                  checkpoint_dir=tmp_path, checkpoint_every_steps=EVERY)
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_resume_from_an_empty_directory_starts_the_run(tmp_path, reference):
    (tmp_path / "ckpt").mkdir()
    model, history = train(tmp_path, resume=True)
    assert_same_run(model, history, tmp_path, reference)


def test_resuming_a_finished_run_returns_its_result_and_more_epochs_continue_it(tmp_path):
    model, history = train(tmp_path)
    again, history_again = train(tmp_path, resume=True)
    assert all(torch.equal(a, b) for a, b in zip(model.module.state_dict().values(),
                                                 again.module.state_dict().values(), strict=True))
    assert history_again.history == history.history
    longer_dir = tmp_path / "longer"
    longer_dir.mkdir()
    longer, longer_history = train(longer_dir, epochs=EPOCHS + 1)
    extended, extended_history = train(tmp_path, resume=True, epochs=EPOCHS + 1)
    assert extended_history.epoch == [0, 1, 2, 3]
    assert extended_history.history == longer_history.history
    assert all(torch.equal(a, b) for a, b in zip(longer.module.state_dict().values(),
                                                 extended.module.state_dict().values(), strict=True))


def test_a_damaged_newest_checkpoint_is_reported_and_the_previous_one_used(tmp_path, reference):
    with pytest.raises(TrainingInterrupted):
        train(tmp_path, [Stop(_raise_interrupt, at=24)])
    newest = sorted((tmp_path / "ckpt").glob("*.pt"))[-1]
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(UserWarning, match=rf"{newest.stem}\.json is damaged \({newest.name} has 100 "
                      r"bytes, \d+ were written\).*resuming from ckpt-\d+-e0002-s000007\.json"):
        model, history = train(tmp_path, resume=True)
    assert_same_run(model, history, tmp_path, reference)


def test_thread_workers_resume_exactly_too(tmp_path, reference):
    with pytest.raises(TrainingInterrupted):
        train(tmp_path, [Stop(_raise_interrupt, at=17)], workers=2)
    model, history = train(tmp_path, resume=True, workers=2)
    assert_same_run(model, history, tmp_path, reference)


def _raise_interrupt() -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
