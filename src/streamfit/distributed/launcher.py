"""Starting ranks: torchrun's environment, and the `--nproc` launcher.

`launched` and `local_rank` read the environment torchrun gives each rank;
`launch` starts N ranks on this machine as `torchrun --standalone` would.
This module imports nothing heavy at import time, so that the command line
can decide how to start (one process that prepares the data while torch
loads, or N ranks) before torch is loaded. Running ranks: `streamfit.distributed.ranks`.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid

#: What torchrun (and any launcher that follows its conventions) sets in each process.
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched() -> bool:
    """Whether this process was started by torchrun (or alike) as one of several ranks."""
    return all(name in os.environ for name in LAUNCH_VARIABLES) and int(os.environ["WORLD_SIZE"]) > 1


def local_rank() -> int:
    """This process's index on its machine (torchrun's LOCAL_RANK; 0 when unset)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def launch(nproc: int, argv: list[str]) -> int:
    """Run `python -m streamfit ARGV` as `nproc` ranks on this machine, as torchrun would.

    The ranks meet on a free local port (torchrun's `--standalone`). Ctrl-C
    reaches every rank (each stops after its step and rank 0 saves a
    checkpoint); if the launcher is killed, the ranks end too.

    Args:
        nproc: processes to start (at least 2).
        argv: the command line for each rank, e.g. `["train", "data.csv", ...]`.

    Returns:
        The exit status: 0, the status of the first rank that failed (2 for a
        user error, 130 after Ctrl-C), or 128 + N for a rank killed by signal N.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # The agent's warnings ("Received 2 death signal...") repeat what the ranks say;
    # each of its modules sets its logger's level itself.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.ERROR)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0)
    try:
        elastic_launch(config, sys.executable)("-u", "-m", "streamfit", *argv)
    except ChildFailedError as error:
        _, failure = error.get_first_failure()
        return failure.exitcode if failure.exitcode >= 0 else 128 - failure.exitcode
    except SignalException as error:
        return 128 + int(error.sigval)
    return 0
