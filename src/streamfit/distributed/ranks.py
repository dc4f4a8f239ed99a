"""The process group of a data-parallel run: joining it, ranks, sums and broadcasts across ranks.

See the package docstring (`streamfit.distributed`) for who does what.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.distributed as dist

from streamfit.distributed.launcher import launched, local_rank
from streamfit.errors import RankZeroFailed, UserError
from streamfit.training.tensors import resolve_device

# The group that carries host-side values (row counts, flags, objects): the
# default group on gloo, a gloo group beside NCCL, so that they never wait
# for the GPU.
_control: Any = None


def is_distributed() -> bool:
    """Whether a process group of more than one rank is running in this process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank: the group's, else torchrun's RANK (0 when not launched)."""
    if is_distributed():
        return dist.get_rank()
    return int(os.environ["RANK"]) if launched() else 0


def world_size() -> int:
    """The number of ranks in the process group (1 without one)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Whether this process is rank 0, the one that prints and writes."""
    return rank() == 0


def device_for(device: str) -> str:
    """The device of this rank: "auto" and "cuda" become `cuda:LOCAL_RANK` in a launched run.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N" (an explicit index is kept).
    """
    if launched() and (device == "cuda" or (device == "auto" and torch.cuda.is_available())):
        return f"cuda:{local_rank()}"
    return device


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[None]:
    """Join the ranks torchrun started, for the duration of the block.

    Without torchrun's environment (or with one rank) nothing happens, and
    neither when the caller has started a process group already (it is the
    caller's to end). Otherwise the group uses NCCL for CUDA devices and gloo
    for the CPU; at the end every rank waits for the others (rank 0 may still
    be writing) before the group is destroyed.

    Args:
        device: the device the ranks train on ("auto", "cpu", "cuda").

    Raises:
        UserError: CUDA asked for but unavailable (`resolve_device`), or fewer GPUs than
            local ranks.
    """
    global _control
    if not launched() or dist.is_initialized():
        yield
        return
    on_cuda = resolve_device(device_for(device)).type == "cuda"
    if on_cuda:
        if local_rank() >= torch.cuda.device_count():
            raise UserError(
                f"LOCAL_RANK {local_rank()} has no GPU of its own (this machine has "
                f"{torch.cuda.device_count()}); start at most that many processes per machine")
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend="nccl" if on_cuda else "gloo")
    _control = dist.new_group(backend="gloo") if on_cuda else dist.group.WORLD
    _exit_with_launcher()
    try:
        yield
        dist.barrier(group=_control)
    finally:
        # DDP wrappers left in reference cycles hold the group; one freed only at
        # exit, after the group, aborts the process ("terminate called ...").
        gc.collect()
        dist.destroy_process_group()
        _control = None


def _exit_with_launcher() -> None:
    """End this process when the torchrun agent that started it dies.

    The agent starts each rank in a session of its own, so killing the
    agent's process group (a SIGKILL, an out-of-memory kill) would leave
    ranks training on, writing checkpoints, unseen. Only under the agent
    (TORCHELASTIC_RUN_ID), on POSIX.
    """
    if "TORCHELASTIC_RUN_ID" not in os.environ or os.name != "posix":
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="streamfit-launcher-watch", daemon=True).start()


def _group() -> Any:
    return _control if _control is not None else dist.group.WORLD


def all_reduce(values: list[float], op: str = "sum") -> list[float]:
    """Sum (or take the max of) `values` elementwise over all ranks; as is without a group.

    Host-side values only (counts, flags, loss sums read back): they travel
    as one float64 tensor over the gloo group, never through the GPU.
    """
    if not is_distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM, group=_group())
    return tensor.tolist()


def any_rank(*flags: bool) -> list[bool]:
    """For each flag, whether it is set on any rank (every rank gets the same answer)."""
    return [value > 0 for value in all_reduce([float(bool(flag)) for flag in flags], op="max")]


def broadcast(value: Any = None) -> Any:
    """Rank 0's `value` on every rank (any picklable value; as is without a group)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, group=_group())
    return box[0]


def on_main_rank(work: Callable[[], Any], share: Callable[[Any], Any] | None = None) -> Any:
    """Run `work` on rank 0 only, while the other ranks wait for it.

    Without a process group `work` simply runs.

    Args:
        work: what rank 0 does (prepare the data, write the bundle).
        share: what the other ranks get of its result (picklable: a path,
            a dict); the result itself by default.

    Returns:
        `work()`'s result on rank 0, `share` of it on the others.

    Raises:
        RankZeroFailed: on the other ranks, when `work` raised on rank 0 (which
            raises the error itself), so that no rank waits for a rank that is gone.
    """
    if not is_distributed():
        return work()
    if not is_main():
        outcome = broadcast()
        if "error" in outcome:
            raise RankZeroFailed(f"rank 0 failed: {outcome['error']}")
        return outcome["result"]
    try:
        result = work()
    except BaseException as error:
        broadcast({"error": str(error).splitlines()[0] if str(error) else type(error).__name__})
        raise
    broadcast({"result": share(result) if share is not None else result})
    return result
