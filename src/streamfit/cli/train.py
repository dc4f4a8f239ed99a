"""`streamfit train`: raw files to a bundle with the guide's n-gram MLP.

Its options are `TrainConfig`'s fields (`streamfit.recipe.config`): one flag
each, with the field's help, default, choices and name as `dest`; DATA, the
source options, `--validation` and `--nproc` are the command line's own. The
fields that are source options too (`--multi-label`, `--label-sep`) have the
source options' flag, under the field's name.

`--nproc N` trains with N processes on this machine: the command relaunches
itself under torch's launcher (as `torchrun --nproc-per-node N -m streamfit
train ...` would) and returns the first failing rank's exit status.
"""

from __future__ import annotations

import argparse
import os
import sys

from streamfit.cli.args import (
    add_config_arguments,
    add_source_arguments,
    config_values,
    source_spec,
)
from streamfit.distributed import launcher
from streamfit.errors import RankZeroFailed, TrainingInterrupted, UserError, check_number
from streamfit.recipe.config import TrainConfig, label_sources, option_fields, start_prepare
from streamfit.recipe.resume import check_resume
from streamfit.sources.accounting import describe_notes

#: The fields whose flags `add_config_arguments` makes: not those the source options have.
_CONFIG_FLAGS = tuple(field.name for field, about in option_fields() if not about.source)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a classifier and save a bundle",
                                   description="Train a text classifier on DATA and save a bundle in --output.")
    add_source_arguments(parser)
    parser.add_argument("--validation", nargs="+", metavar="DATA",
                        help="validation data (read like DATA); default: --validation-split of DATA")
    add_config_arguments(parser, _CONFIG_FLAGS)
    parser.add_argument("--nproc", type=int, default=1, metavar="N",
                        help="train with N processes on this machine (DistributedDataParallel: each "
                             "takes --batch-size / N rows of every batch; default: 1)")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Check the options, relaunch under `--nproc`, start preparing, then train; the exit status."""
    config = TrainConfig(**config_values(args))
    check_number("nproc", args.nproc, minimum=1)
    if args.nproc > 1 and not launcher.launched():
        if args.batch_size % args.nproc:
            raise UserError(f"--batch-size {args.batch_size} is split between --nproc {args.nproc} "
                            f"processes; use a multiple of {args.nproc}")
        return launcher.launch(args.nproc, _command_line(args))
    if args.nproc > 1 and args.nproc != int(os.environ.get("LOCAL_WORLD_SIZE", args.nproc)):
        raise UserError(f"--nproc {args.nproc} under torchrun, which started "
                        f"{os.environ['LOCAL_WORLD_SIZE']} processes here; drop --nproc")
    spec = source_spec(args)
    validation = None
    if args.validation:
        validation = source_spec(argparse.Namespace(**{**vars(args), "data": args.validation}))
    spec, validation = label_sources(spec, config, validation)
    if not launcher.launched():  # under torchrun rank 0 checks it, in the recipe
        check_resume(spec, config, validation)  # before preparing: a refused resume needs no cache
    log = print if config.verbose else (lambda line: None)
    # One process: the data is prepared in a child process while this one
    # loads torch and the recipe (streamfit.prepare.background). Under torchrun
    # the recipe has rank 0 prepare, after the ranks have met.
    prepared = None if launcher.launched() else start_prepare(spec, config, validation, log)
    try:
        from streamfit import distributed
        from streamfit.recipe import train_text_classifier

        result = train_text_classifier(spec, config, validation=validation, log=log, prepared=prepared)
    except (RankZeroFailed, TrainingInterrupted) as error:
        if distributed.is_main():
            raise
        # Rank 0 reports it; one message, not one per rank.
        return 130 if isinstance(error, TrainingInterrupted) else 2
    finally:
        if prepared is not None:
            prepared.cancel()  # only does something when training stopped before the data was ready
    accounting = result.dataset.manifest["accounting"]
    if config.verbose and distributed.is_main():
        print(f"data: read {accounting['rows_read']} rows, used {accounting['rows_used']}"
              + _skipped(accounting))
        for note in describe_notes(accounting):  # as `streamfit inspect` shows them
            print(f"data: note {note}")
        if result.replaced is not None:
            print(f"replaced the bundle in {result.bundle} ({result.replaced})")
        if result.thresholds is not None:
            print(f"thresholds: {_describe_thresholds(result.thresholds)}")
        s = result.seconds
        print(f"saved {result.bundle} ({result.model_kind}; prepare {s['prepare']:.1f}s, "
              f"train {s['train']:.1f}s, total {s['total']:.1f}s)")
    return 0


def _describe_thresholds(thresholds) -> str:
    """`0.38, tuned on 120 validation rows (micro-F1 0.912)`, or per label, or the untuned 0.5."""
    values = thresholds.values
    if not thresholds.validation_rows:
        return f"{values[0]:g} for every label (no validation rows to tune it on)"
    what = (f"per label, {values.min():.3g} to {values.max():.3g}" if thresholds.per_label
            else f"{values[0]:.3g} for every label")
    return (f"{what}, tuned on {thresholds.validation_rows} validation rows "
            f"(micro-F1 {thresholds.micro_f1:.3f})")


def _command_line(args: argparse.Namespace) -> list[str]:
    """The command line as typed (each rank runs it again; under the launcher `--nproc` is moot).

    Raises:
        UserError: `run` was called with arguments other than the command line's.
    """
    from streamfit.cli.main import build_parser

    argv = sys.argv[1:]
    try:
        typed = vars(build_parser().parse_args(argv))
    except SystemExit:
        typed = {}
    if {**typed, "parser": None} != {**vars(args), "parser": None}:
        raise UserError("--nproc relaunches the command line, which is not this one; run "
                        "`streamfit train ... --nproc N` from a shell, or torchrun")
    return argv


def _skipped(accounting: dict) -> str:
    if not accounting["skipped"]:
        return ", skipped none"
    parts = []
    for cause, count in accounting["skipped"].items():
        where = ", ".join(accounting["examples"].get(cause, [])[:3])
        parts.append(f"{count} {cause}" + (f" ({where})" if where else ""))
    return ", skipped " + "; ".join(parts)
