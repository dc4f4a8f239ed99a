"""Checkpoints of a running `fit`, and exact resumption from them.

| module | holds |
| --- | --- |
| `file` | the checkpoint files: names, format, digests; `read_checkpoint`, `Checkpoint` |
| `fingerprint` | what a resumed run must share with the checkpointed one |
| `resume` | finding and choosing the resume point; another world size restarts its epoch |
| `interrupt` | Ctrl-C: stop after a whole step, `TrainingInterrupted` |
| `checkpointer` | `Checkpointer`: when to write, which checkpoints to keep |

What a checkpoint holds is each stateful part's own `state_dict()` and
`tensor_state_dict()` (`streamfit.training.stateful`): the loop state
(`LoopState`, with the position, running sums and callbacks) and the
model's weights and optimizer state.
"""

from streamfit.training.checkpoint.checkpointer import Checkpointer
from streamfit.training.checkpoint.file import Checkpoint, describe, read_checkpoint, read_tensors
from streamfit.training.checkpoint.fingerprint import check_fingerprint, fingerprint_of
from streamfit.training.checkpoint.resume import (
    check_epochs,
    find_resume_point,
    find_shared_resume_point,
    for_world_size,
    latest_checkpoint,
)

__all__ = ["Checkpoint", "Checkpointer", "check_epochs", "check_fingerprint",
           "describe", "find_resume_point", "find_shared_resume_point", "fingerprint_of",
           "for_world_size", "latest_checkpoint", "read_checkpoint", "read_tensors"]
