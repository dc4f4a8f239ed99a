"""`streamfit train`: raw files to a bundle with the guide's n-gram MLP.

`--nproc N` trains with N processes on this machine: the command relaunches
itself under torch's launcher (as `torchrun --nproc-per-node N -m streamfit
train ...` would) and returns the first failing rank's exit status.
"""

from __future__ import annotations

import argparse
import os
import sys

from streamfit.distributed import launcher
from streamfit.cli.args import add_source_arguments, source_spec
from streamfit.errors import RankZeroFailed, TrainingInterrupted, UserError
from streamfit.recipe_config import MODEL_CHOICES, TrainConfig, start_prepare


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a classifier and save a bundle",
                                   description="Train a text classifier on DATA and save a bundle in --output.")
    add_source_arguments(parser)
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="bundle directory to write")
    parser.add_argument("--validation", nargs="+", metavar="DATA",
                        help="validation data (read like DATA); default: --validation-split of DATA")
    parser.add_argument("--validation-split", type=float, default=0.1, metavar="F",
                        help="fraction of DATA held out for validation and early stopping "
                             "when --validation is not given (default: 0.1; 0 for none)")
    parser.add_argument("--model", choices=MODEL_CHOICES, default="auto",
                        help="auto picks by the guide's samples/words-per-sample rule (default)")
    parser.add_argument("--epochs", type=int, default=10, help="most epochs (default: 10)")
    parser.add_argument("--batch-size", type=int, default=512,
                        help="rows per batch, over all processes (default: 512)")
    parser.add_argument("--learning-rate", type=float, default=4e-3, help="Adam's learning rate (default: 4e-3)")
    parser.add_argument("--patience", type=int, default=1, help="early stopping patience (default: 1)")
    parser.add_argument("--top-k", type=int, default=50000, help="n-gram features kept (default: 50000)")
    parser.add_argument("--ngrams", type=int, default=2, metavar="N", help="word n-grams up to N (default: 2)")
    parser.add_argument("--units", type=int, default=32, help="MLP hidden units (default: 32)")
    parser.add_argument("--layers", type=int, default=2, help="MLP layers (default: 2)")
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout rate (default: 0.2)")
    parser.add_argument("--class-weight", choices=("balanced",), default=None,
                        help="balanced: weight classes inversely to their frequency")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, shuffle and init (default: 0)")
    parser.add_argument("--cache", metavar="DIR", default=None,
                        help="prepared-dataset directory (default: ~/.cache/streamfit/<digest>)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--workers", type=int, default=2,
                        help="threads producing batches ahead of training (default: 2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: 1 for mlp and fasttext, torch's own for sepcnn)")
    parser.add_argument("--nproc", type=int, default=1, metavar="N",
                        help="train with N processes on this machine (DistributedDataParallel: each "
                             "takes --batch-size / N rows of every batch; default: 1)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest checkpoint in DIR/checkpoints (start when there is none)")
    parser.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                        help="checkpoint every N steps (there is always one at each epoch end)")
    parser.add_argument("--checkpoint-every-minutes", type=float, default=None, metavar="M",
                        help="checkpoint every M minutes")
    parser.add_argument("--keep-checkpoints", type=int, default=3, metavar="K",
                        help="keep the newest K checkpoints (default: 3)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2,
                        help="0 silent, 1 progress bar, 2 one line per epoch (default: 2)")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    for name in ("epochs", "batch_size", "top_k", "ngrams", "units", "layers", "workers", "nproc"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} {getattr(args, name)} must be at least 1")
    if not 0 <= args.dropout < 1:
        raise UserError(f"--dropout {args.dropout} must be in [0, 1)")
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
    config = TrainConfig(
        output=args.output, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, patience=args.patience, top_k=args.top_k,
        ngram_range=(1, args.ngrams), units=args.units, layers=args.layers, dropout=args.dropout,
        seed=args.seed, cache=args.cache, validation_split=args.validation_split,
        class_weight=args.class_weight, device=args.device, workers=args.workers, threads=args.threads,
        verbose=args.verbose, resume=args.resume, checkpoint_every_steps=args.checkpoint_every,
        checkpoint_every_minutes=args.checkpoint_every_minutes, keep_checkpoints=args.keep_checkpoints)
    log = print if args.verbose else (lambda line: None)
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
    if args.verbose and distributed.is_main():
        print(f"data: read {accounting['rows_read']} rows, used {accounting['rows_used']}"
              + _skipped(accounting))
        s = result.seconds
        print(f"saved {result.bundle} ({result.model_name}; prepare {s['prepare']:.1f}s, "
              f"train {s['train']:.1f}s, total {s['total']:.1f}s)")
    return 0


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
