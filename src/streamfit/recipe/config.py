"""The recipe's options, once: `TrainConfig`'s fields, and the start of preparing.

Each field of `TrainConfig` is made by `option`, which keeps beside its
default what the rest of streamfit needs to know about it (`Option`): its
help text, its flag where the flag is not the field's name, its choices and
bounds, and whether a checkpoint must agree on it to be resumed. From these
`streamfit train` makes its flags (`streamfit.cli.train`), `TrainConfig`
checks its values, and the recipe takes its resume fingerprint.

Nothing here imports torch, so the command line starts preparing (see
`start_prepare`) before it loads torch and the training step
(`streamfit.recipe.train`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from streamfit.errors import OptionError, check_number
from streamfit.prepare.background import PrepareProcess
from streamfit.prepare.pipeline import PrepareOptions
from streamfit.sources import SourceSpec

MODEL_KINDS = ("auto", "mlp", "sepcnn", "fasttext")


@dataclass(frozen=True)
class Option:
    """What streamfit knows about one option of `TrainConfig`, beside its default.

    Attributes:
        help: what the option means (the text of `streamfit train --help`).
        flag: the command line's flag, where it is not `--` and the field's
            name with dashes (`--checkpoint-every` for `checkpoint_every_steps`).
        short: a one-letter flag besides (`-o`), or None.
        metavar: the flag value's name in `--help`, or None for argparse's.
        choices: the values allowed, or None for any; None is allowed too
            where it is the default.
        bounds: `check_number`'s keyword arguments for a number (`minimum=1`),
            or None where the value is no number.
        fingerprint: whether a checkpoint must have been written with the
            same value to be resumed (options that change the trained
            weights); output, cache and speed options need not.
        default_help: how `--help` shows a default of None (`~/.cache/...`).
        from_flag: the field's value from the flag's (`--ngrams N` is
            `ngram_range=(1, N)`), or None where they are the same.
        to_flag: the flag's value from the field's (its default in `--help`).
        flag_type: the type argparse reads the flag's value as, where the
            field's type is not that (a tuple read from one integer).
        validate: `validate(name, value)` raises an `OptionError` for a
            value that choices and bounds cannot describe, or None.
        source: the option is also the training data's (a `SourceSpec`
            field of the same name): its flag is among the source options
            (`streamfit.cli.args.add_source_arguments`), not made again.
    """

    help: str
    flag: str | None = None
    short: str | None = None
    metavar: str | None = None
    choices: tuple | None = None
    bounds: dict[str, Any] | None = None
    fingerprint: bool = True
    default_help: str | None = None
    from_flag: Callable[[Any], Any] | None = None
    to_flag: Callable[[Any], Any] | None = None
    flag_type: type | None = None
    validate: Callable[[str, Any], None] | None = None
    source: bool = False

    def flag_for(self, name: str) -> str:
        """The command line's flag of the field `name` (`batch_size` -> `--batch-size`)."""
        return self.flag or "--" + name.replace("_", "-")

    def check(self, name: str, value: Any, default: Any) -> None:
        """Raise an `OptionError` naming `name` unless `value` is allowed."""
        if self.choices is not None and value not in self.choices and not (
                value is None and default is None):
            allowed = ", ".join(map(repr, self.choices)) + (" or None" if default is None else "")
            raise OptionError(name, value, f"must be one of {allowed}")
        if self.bounds is not None:
            check_number(name, value, **self.bounds)
        if self.validate is not None:
            self.validate(name, value)


def option(default: Any = dataclasses.MISSING, *, help: str, **about: Any) -> Any:
    """A `TrainConfig` field: its default, and its `Option` as metadata.

    Args:
        default: the field's default; none for a required field.
        help: what the option means.
        about: the other attributes of `Option` (`flag=`, `bounds=`, ...).

    Returns:
        A `dataclasses.field` whose `metadata["option"]` is the `Option`.
    """
    return dataclasses.field(default=default, metadata={"option": Option(help=help, **about)})


def _ngram_range(max_n: int) -> tuple[int, int]:
    # The flag's value is checked as it is read: the pair's message,
    # `ngram_range=(1, 0) ...`, would name a value `--ngrams 0` never showed.
    return 1, check_number("ngram_range", max_n, minimum=1)


def _check_ngram_range(name: str, value: Any) -> None:
    ok = (isinstance(value, tuple | list) and len(value) == 2
          and all(isinstance(n, int) and not isinstance(n, bool) for n in value)
          and 1 <= value[0] <= value[1])
    if not ok:
        raise OptionError(name, value, "must be a pair (min_n, max_n) with 1 <= min_n <= max_n")


@dataclass
class TrainConfig:
    """What `streamfit train` does: each field's `help` says what it means.

    The defaults are the guide's MLP recipe retuned by measurement on this
    project's 2-core machine (IMDB, 20 Newsgroups, SST-2 test accuracy; see
    README "Benchmarks"): the guide's batch 128, Adam 1e-3, patience 2, top 20k
    features and 64 units reached 0.910 / 0.841 / 0.80 in 6.2 s of IMDB training;
    batch 512, Adam 4e-3, patience 1, top 50k features and 32 units reached
    0.908 / 0.848 / 0.833 in 3.3 s. Short-text data (SST-2) needs the larger
    feature set; 32 units keep Adam's per-step cost (memory bound, proportional
    to features x units) where 20k x 64 had it.

    Raises:
        OptionError: a value out of its range or choices, naming the field
            (`dropout=1.5 must be a number in [0, 1)`).

    Example:
        >>> TrainConfig(output="runs/m", model_kind="mlp", epochs=3).batch_size
        512
    """

    output: str = option(help="the bundle directory to write", short="-o", metavar="DIR",
                         fingerprint=False)
    model_kind: str = option("auto", help="auto picks by the guide's samples/words-per-sample rule",
                             flag="--model", choices=MODEL_KINDS)
    epochs: int = option(10, help="the most epochs; early stopping ends sooner when there is "
                                  "validation data", bounds={"minimum": 1}, fingerprint=False)
    batch_size: int = option(512, help="rows per batch, over all processes (each of N processes "
                                       "takes batch_size / N rows of every batch)",
                             bounds={"minimum": 1})
    learning_rate: float = option(4e-3, help="Adam's learning rate",
                                  bounds={"minimum": 0, "integer": False})
    patience: int = option(1, help="early stopping patience on validation loss, in epochs",
                           bounds={"minimum": 0})
    top_k: int = option(50000, help="n-gram features kept (mlp)", bounds={"minimum": 1})
    ngram_range: tuple[int, int] = option(
        (1, 2), help="word n-grams up to N (mlp, fasttext)", flag="--ngrams", metavar="N",
        from_flag=_ngram_range, to_flag=lambda ngram_range: ngram_range[1], flag_type=int,
        validate=_check_ngram_range)
    units: int = option(32, help="MLP hidden units", bounds={"minimum": 1})
    layers: int = option(2, help="MLP layers", bounds={"minimum": 1})
    dropout: float = option(0.2, help="dropout rate", bounds={"minimum": 0, "below": 1, "integer": False})
    seed: int = option(0, help="seed of the split, the shuffle, the initial weights and dropout",
                       bounds={"minimum": 0})
    cache: str | None = option(
        None, help="one prepared dataset's folder, replaced only when it holds a prepared dataset "
                   "or nothing; not the root of many (by default each data and options get a "
                   "folder of their own under $STREAMFIT_CACHE or ~/.cache/streamfit)",
        metavar="DIR", default_help="~/.cache/streamfit/<digest>", fingerprint=False)
    validation_split: float = option(
        0.1, help="fraction of the training rows held out for validation and early stopping "
                  "when there is no validation data (0 for none)", metavar="F",
        bounds={"minimum": 0, "below": 1, "integer": False})
    class_weight: str | None = option(None, help="balanced: weight classes inversely to their "
                                                 "frequency (with --multi-label each label's "
                                                 "positive and negative rows, as one binary "
                                                 "problem per label)", choices=("balanced",))
    multi_label: bool = option(False, help="rows carry any number of labels (several __label__ "
                                           "words, a --label-sep list, JSON Lines or Parquet "
                                           "lists): one sigmoid per label with binary "
                                           "cross-entropy, and a decision threshold tuned on the "
                                           "validation data", source=True)
    label_sep: str | None = option(None, help="the separator of a label column holding a list of "
                                              "labels (';'); needs --multi-label", metavar="SEP",
                                   source=True)
    threshold_per_label: bool = option(
        False, help="tune each label's own decision threshold on its F1 (a label without "
                    "validation positives keeps the global one); by default one threshold for "
                    "all labels, maximising micro-F1; needs --multi-label", fingerprint=False)
    device: str = option("auto", help="auto, cpu or cuda", fingerprint=False)
    workers: int = option(2, help="threads producing batches ahead of training", bounds={"minimum": 1},
                          fingerprint=False)
    threads: int | None = option(None, help="torch threads",
                                 default_help="1 for mlp and fasttext, torch's own for sepcnn",
                                 bounds={"minimum": 1, "optional": True})
    verbose: int = option(2, help="0 silent, 1 progress bar, 2 one line per epoch", choices=(0, 1, 2),
                          fingerprint=False)
    checkpoint_every_steps: int | None = option(
        None, help="checkpoint every N steps (there is always one at each epoch end, in "
                   "output/checkpoints)", flag="--checkpoint-every", metavar="N",
        bounds={"minimum": 1, "optional": True}, fingerprint=False)
    checkpoint_every_minutes: float | None = option(
        None, help="checkpoint every M minutes", metavar="M",
        bounds={"above": 0, "integer": False, "optional": True}, fingerprint=False)
    keep_checkpoints: int = option(3, help="keep the newest K checkpoints", metavar="K",
                                   bounds={"minimum": 1}, fingerprint=False)
    resume: bool = option(False, help="continue from the newest checkpoint in output/checkpoints "
                                      "(start afresh when there is none); without it old "
                                      "checkpoints are removed", fingerprint=False)

    def __post_init__(self):
        for field, about in option_fields():
            about.check(field.name, getattr(self, field.name), field.default)
        if self.label_sep is not None and not self.multi_label:
            raise OptionError("label_sep", self.label_sep, "splits a row's labels, which needs "
                              "multi_label (--multi-label); add it, or drop the separator")
        if self.threshold_per_label and not self.multi_label:
            raise OptionError("threshold_per_label", True, "tunes the thresholds of a multi-label "
                              "model, which needs multi_label (--multi-label); add it, or drop "
                              "the option")

    def fingerprint(self) -> dict[str, Any]:
        """The options a checkpoint must agree on to be resumed (see `Option.fingerprint`)."""
        return {field.name: getattr(self, field.name) for field, about in option_fields()
                if about.fingerprint}


def option_fields() -> Iterator[tuple[dataclasses.Field, Option]]:
    """Each field of `TrainConfig` and its `Option`, in the order of the fields."""
    for field in dataclasses.fields(TrainConfig):
        yield field, field.metadata["option"]


def label_sources(spec: SourceSpec, config: TrainConfig,
                  validation: SourceSpec | None = None) -> tuple[SourceSpec, SourceSpec | None]:
    """The training and validation data reading labels as `config` says.

    `config.multi_label` and `config.label_sep` are set on `spec` (the data
    is multi-label when either says so) and on `validation`, which is
    multi-label exactly when the training data is.

    Returns:
        `(spec, validation)`, each unchanged where it already agreed.

    Raises:
        OptionError: `label_sep`, when `config` and a source give different ones.
    """
    def labelled(source: SourceSpec, multi_label: bool) -> SourceSpec:
        if config.label_sep is not None and source.label_sep not in (None, config.label_sep):
            raise OptionError("label_sep", config.label_sep, f"differs from the data's own "
                              f"label_sep={source.label_sep!r}; give the separator once")
        label_sep = source.label_sep if config.label_sep is None else config.label_sep
        if (multi_label, label_sep) == (source.multi_label, source.label_sep):
            return source
        return dataclasses.replace(source, multi_label=multi_label, label_sep=label_sep)

    spec = labelled(spec, spec.multi_label or config.multi_label)
    return spec, None if validation is None else labelled(validation, spec.multi_label)


def start_prepare(spec: SourceSpec, config: TrainConfig, validation: SourceSpec | None = None,
                  log: Callable[[str], None] = print) -> PrepareProcess:
    """Start preparing the recipe's data: `validation`, or `config.validation_split` of `spec`.

    Args:
        spec: the training data.
        config: the recipe's options (`ngram_range`, `seed`, `validation_split`, `cache`,
            and `multi_label`, `label_sep` for both sources, see `label_sources`).
        validation: separate validation data, or None.
        log: where progress lines ("prepare: ...") go when `config.verbose`.

    Returns:
        The running preparation; its `result()` is the `PreparedDataset`.
    """
    progress = (lambda what: log(f"prepare: {what}")) if config.verbose else None
    spec, validation = label_sources(spec, config, validation)
    return PrepareProcess(spec, prepare_options(config, validation), config.cache,
                          validation=validation, progress=progress)


def prepare_options(config: TrainConfig, validation: SourceSpec | None) -> PrepareOptions:
    """The prepare options of the recipe's data: no split of its own when `validation` is given."""
    return PrepareOptions(ngram_range=config.ngram_range, seed=config.seed,
                          validation_split=0.0 if validation else config.validation_split)
