"""`streamfit prepare`: build the prepared dataset (vocabulary, counts, token ids) once."""

from __future__ import annotations

import argparse

from streamfit.cli.args import add_source_arguments, source_spec
from streamfit.prepare.pipeline import PrepareOptions, load_or_prepare


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("prepare", help="build the prepared dataset in a cache directory",
                                   description="Read DATA, build the vocabulary, label map, n-gram "
                                               "counts and token ids, and write them to --cache; "
                                               "`train` with the same data and options reuses it.")
    add_source_arguments(parser)
    parser.add_argument("--cache", metavar="DIR", default=None,
                        help="directory to write (default: ~/.cache/streamfit/<digest>)")
    parser.add_argument("--validation-split", type=float, default=0.1, metavar="F",
                        help="fraction of rows held out for validation (default: 0.1, as train)")
    parser.add_argument("--ngrams", type=int, default=2, metavar="N", help="count word n-grams up to N")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    options = PrepareOptions(ngram_range=(1, args.ngrams), validation_split=args.validation_split,
                             seed=args.seed)
    dataset = load_or_prepare(source_spec(args), options, args.cache,
                              progress=lambda what: print(f"prepare: {what}"))
    stats, accounting = dataset.stats, dataset.manifest["accounting"]
    print(f"{'reused' if dataset.reused else 'wrote'} {dataset.directory}: "
          f"{stats['train_rows']} training rows, {stats['validation_rows']} validation rows, "
          f"{len(dataset.labels)} classes, {stats['vocabulary_size']} word ids; read "
          f"{accounting['rows_read']} rows, skipped {sum(accounting['skipped'].values())}")
    return 0
