"""`python -m streamfit` as one rank under torchrun, recording what the rank did.

For each batch of a prepared split it reads, a JSON line of
`RECORD/rows-RANK.txt` (split, epoch, step, row ids); for each checkpoint
file or bundle it writes, a line of `RECORD/writes-RANK.txt`. Run by tests/distributed/test_training.py.
"""

import json
import os
import sys
import threading
from pathlib import Path

import streamfit.recipe.train
import streamfit.training.checkpoint.file
from streamfit.batches.prepared import PreparedBatches
from streamfit.cli.main import main

RECORD = Path(os.environ["STREAMFIT_TEST_RECORD"])
RANK = os.environ["RANK"]
_lock = threading.Lock()  # loader threads read batches concurrently


def _append(kind: str, line: str) -> None:
    with _lock, open(RECORD / f"{kind}-{RANK}.txt", "a") as file:
        file.write(line + "\n")


def _recorded(function, describe):
    def wrapper(*args, **kwargs):
        _append(*describe(*args, **kwargs))
        return function(*args, **kwargs)
    return wrapper


def _batch(self, epoch, index):
    split = "train" if self.sampler.shuffle else "validation"
    rows = self.sampler.indices(epoch, index).tolist()
    return "rows", json.dumps({"split": split, "epoch": epoch, "step": index, "rows": rows})


PreparedBatches.batch = _recorded(PreparedBatches.batch, _batch)
streamfit.training.checkpoint.file.write_atomic = _recorded(
    streamfit.training.checkpoint.file.write_atomic, lambda path, write: ("writes", str(path)))
streamfit.recipe.train.save_bundle = _recorded(
    streamfit.recipe.train.save_bundle, lambda output, **kw: ("writes", str(output)))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
