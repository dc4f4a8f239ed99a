"""Data-parallel training over several processes.

| module | owns |
| --- | --- |
| `launcher` | torchrun's environment and the `--nproc` launcher; imports no torch |
| `ranks` | joining the process group, ranks, sums and broadcasts across ranks |

The functions of `ranks` are this package's names too
(`distributed.rank()`), imported on first use, so that importing
`streamfit.distributed.launcher` does not load torch.

`torchrun --nproc-per-node N -m streamfit train ...` (or `streamfit train
--nproc N ...`, which launches the same on this machine: `launcher`)
starts N processes; each finds its rank in torchrun's environment (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and `process_group` joins them:

| device | backend | each rank runs on |
| --- | --- | --- |
| CPU | gloo | the CPU (pin threads with `--threads`) |
| CUDA | NCCL, plus a gloo group for the small host-side values | `cuda:LOCAL_RANK` |

What is whose:

- rank 0 prepares the dataset (the others wait, then open the same cache),
  prints, writes checkpoints and the bundle; the others wait for it;
- every rank reads its own disjoint share of each epoch's rows
  (`PreparedBatches(rank=, world_size=)`) and `Model.fit` averages the
  gradients (`DistributedDataParallel`) and sums the loss and metrics over
  ranks (`streamfit.training.replicas`), so every rank holds the same weights
  and the same History and takes the same early-stopping decision.

Waiting for rank 0 (preparing a large dataset, writing the bundle) is bounded
by the process group's timeout, torch's default of 30 minutes for gloo: run
`streamfit prepare` first when preparing takes longer.
"""

from streamfit.lazy import lazy_exports

_RANKS = ("all_reduce", "any_rank", "broadcast", "device_for", "is_distributed", "is_main",
          "on_main_rank", "process_group", "rank", "world_size")
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(_RANKS, "streamfit.distributed.ranks"))
__all__ = list(_RANKS)
