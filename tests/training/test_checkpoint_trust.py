"""A checkpoint written by someone else: every tampered field is one line naming the file and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from streamfit.errors import UserError
from streamfit.training import Model, read_checkpoint
from streamfit.training.checkpoint.file import body_digest, remove_checkpoints


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("ckpt")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    torch.manual_seed(0)
    model = Model(torch.nn.Linear(4, 2), loss="sparse_categorical_crossentropy", seed=3)
    model.fit(x, (x[:, 0] > 0).astype(np.int64), batch_size=16, epochs=1, verbose=0,
              checkpoint_dir=directory)
    return directory


@pytest.fixture
def checkpoint(written, tmp_path) -> Path:
    """A copy of the checkpoint's .json (its .pt beside it)."""
    folder = shutil.copytree(written, tmp_path / "c")
    return next(folder.glob("ckpt-*.json"))


def rewrite(path: Path, change) -> None:
    """Change the .json's fields and sign it again, as a forger would."""
    meta = json.loads(path.read_text())
    change(meta)
    meta["digest"] = body_digest(meta)
    path.write_text(json.dumps(meta))


def refused(path: Path, *parts: str) -> None:
    with pytest.raises(UserError) as raised:
        read_checkpoint(path)
    message = str(raised.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message


def test_the_untampered_checkpoint_reads(checkpoint):
    assert read_checkpoint(checkpoint).epoch == 1


@pytest.mark.parametrize("tensors", ["../../etc/passwd", "/etc/passwd", "..", "sub/x.pt", ".hidden.pt",
                                     "x.json", ""])
def test_a_tensors_path_out_of_the_folder_is_named(checkpoint, tensors):
    rewrite(checkpoint, lambda meta: meta.update(tensors=tensors))
    refused(checkpoint, checkpoint.name, "'tensors'", "damaged")


@pytest.mark.parametrize("change, named", [
    (lambda meta: meta.update(extra=1), "its field 'extra' is none of a checkpoint's"),
    (lambda meta: meta.pop("bytes"), "its field 'bytes' is missing"),
    (lambda meta: meta.update(bytes="12"), "its field 'bytes' holds a str"),
    (lambda meta: meta.update(tensors=7), "its field 'tensors' holds a int"),
    (lambda meta: meta.update(fingerprint=[1]), "its field 'fingerprint' holds a list"),
    (lambda meta: meta.update(epoch_begun=1), "its field 'epoch_begun' holds a int"),
    (lambda meta: meta.update(sha256="x"), "no size and SHA-256"),
    (lambda meta: meta.update(position={"seed": 3, "epoch": "one", "step": 0}), "its position is not one"),
])
def test_a_bad_field_is_named(checkpoint, change, named):
    rewrite(checkpoint, change)
    refused(checkpoint, checkpoint.name, named)


def test_a_linked_tensor_file_is_refused(checkpoint):
    pt = checkpoint.with_suffix(".pt")
    pt.unlink()
    pt.symlink_to("/etc/passwd")
    refused(checkpoint, "symbolic link", pt.name)


def test_a_linked_json_is_refused(checkpoint, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    shutil.copy(checkpoint, elsewhere)
    checkpoint.unlink()
    checkpoint.symlink_to(elsewhere)
    refused(checkpoint, "symbolic link", checkpoint.name)


def test_a_json_that_is_not_an_object_is_named(checkpoint):
    checkpoint.write_text("[]")
    refused(checkpoint, checkpoint.name, "is not a streamfit checkpoint")


def test_removing_checkpoints_keeps_everything_else(checkpoint):
    folder = checkpoint.parent
    (folder / "notes.txt").write_text("mine")
    (folder / ".ckpt-000009-e0001-s000001.pt.tmp").write_bytes(b"half")
    remove_checkpoints(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    (folder / "notes.txt").unlink()
    remove_checkpoints(folder)
    assert not folder.exists()
    remove_checkpoints(folder)  # none: nothing to do
