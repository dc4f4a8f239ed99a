"""The recipe's options, and the start of its first step: preparing the data.

`TrainConfig` is what `streamfit train` does; `start_prepare` starts
preparing its data (in a child process when one can be forked, see
`streamfit.prepare.background`). Nothing here imports torch, so the command
line starts preparing before it loads torch and the recipe (`streamfit.recipe`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from streamfit.prepare.background import PrepareProcess
from streamfit.prepare.pipeline import PrepareOptions
from streamfit.sources import SourceSpec

MODEL_CHOICES = ("auto", "mlp", "sepcnn", "fasttext")


@dataclass
class TrainConfig:
    """What `streamfit train` does.

    The defaults are the guide's MLP recipe retuned by measurement on this
    project's 2-core machine (IMDB, 20 Newsgroups, SST-2 test accuracy; see
    README "Benchmarks"): the guide's batch 128, Adam 1e-3, patience 2, top 20k
    features and 64 units reached 0.910 / 0.841 / 0.80 in 6.2 s of IMDB training;
    batch 512, Adam 4e-3, patience 1, top 50k features and 32 units reached
    0.908 / 0.848 / 0.833 in 3.3 s. Short-text data (SST-2) needs the larger
    feature set; 32 units keep Adam's per-step cost (memory bound, proportional
    to features x units) where 20k x 64 had it.

    Args:
        output: the bundle directory to write.
        model: "auto" (the guide's rule, see `choose_model`), "mlp", "sepcnn" or "fasttext".
        epochs: the most epochs; early stopping ends sooner when there is validation data.
        batch_size: rows per batch: the global batch when several processes
            train together, each taking `batch_size / world_size` rows of it.
        learning_rate: Adam's learning rate.
        patience: early stopping patience on validation loss.
        top_k: n-gram features kept (mlp).
        ngram_range: word n-gram orders (mlp, fasttext).
        units, layers, dropout: the MLP's shape.
        seed: seeds the split, the shuffle, the initialisation and dropout.
        cache: where the prepared dataset lives (None: the default cache).
        validation_split: fraction of the training rows held out, when no validation data.
        class_weight: None or "balanced".
        device: "auto", "cpu" or "cuda".
        workers: threads producing batches ahead of the trainer.
        threads: torch's intra-op threads; None: `sparse_model_threads` (1 for the
            sparse bag models mlp and fasttext, torch's default for sepcnn).
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        checkpoint_every_steps: also checkpoint every N steps (there is always one
            at each epoch end, in `output/checkpoints`).
        checkpoint_every_minutes: also checkpoint every N minutes.
        keep_checkpoints: how many of the newest checkpoints to keep.
        resume: continue from the newest checkpoint in `output/checkpoints`
            (start afresh when there is none); without it old checkpoints are removed.
    """

    output: str
    model: str = "auto"
    epochs: int = 10
    batch_size: int = 512
    learning_rate: float = 4e-3
    patience: int = 1
    top_k: int = 50000
    ngram_range: tuple[int, int] = (1, 2)
    units: int = 32
    layers: int = 2
    dropout: float = 0.2
    seed: int = 0
    cache: str | None = None
    validation_split: float = 0.1
    class_weight: str | None = None
    device: str = "auto"
    workers: int = 2
    threads: int | None = None
    verbose: int = 2
    checkpoint_every_steps: int | None = None
    checkpoint_every_minutes: float | None = None
    keep_checkpoints: int = 3
    resume: bool = False


def start_prepare(spec: SourceSpec, config: TrainConfig, validation: SourceSpec | None = None,
                  log: Callable[[str], None] = print) -> PrepareProcess:
    """Start preparing the recipe's data: `validation`, or `config.validation_split` of `spec`.

    Progress lines ("prepare: ...") go to `log` when `config.verbose`.
    """
    options = PrepareOptions(ngram_range=config.ngram_range, seed=config.seed,
                             validation_split=0.0 if validation else config.validation_split)
    progress = (lambda what: log(f"prepare: {what}")) if config.verbose else None
    return PrepareProcess(spec, options, config.cache, validation=validation, progress=progress)
