"""`streamfit prepare`: build the prepared dataset (vocabulary, counts, token ids) once."""

from __future__ import annotations

import argparse

from streamfit.cli.args import (
    add_config_arguments,
    add_source_arguments,
    config_values,
    source_spec,
)
from streamfit.prepare.pipeline import PrepareOptions, load_or_prepare

#: The options of `TrainConfig` that say how the data is prepared.
PREPARE_OPTIONS = ("cache", "ngram_range", "validation_split", "seed")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("prepare", help="build the prepared dataset in a cache directory",
                                   description="Read DATA, build the vocabulary, label map, n-gram "
                                               "counts and token ids, and write them to --cache; "
                                               "`train` with the same data and options reuses it.")
    add_source_arguments(parser)
    # train's own options, so that `train` with the same values reuses the cache.
    add_config_arguments(parser, PREPARE_OPTIONS)
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    values = config_values(args, PREPARE_OPTIONS)
    cache = values.pop("cache")
    dataset = load_or_prepare(source_spec(args), PrepareOptions(**values), cache,
                              progress=lambda what: print(f"prepare: {what}"))
    stats, accounting = dataset.stats, dataset.manifest["accounting"]
    print(f"{'reused' if dataset.reused else 'wrote'} {dataset.directory}: "
          f"{stats['train_rows']} training rows, {stats['validation_rows']} validation rows, "
          f"{_classes(dataset)}, {stats['vocabulary_size']} word ids; read "
          f"{accounting['rows_read']} rows, skipped {sum(accounting['skipped'].values())}")
    return 0


def _classes(dataset) -> str:
    """`2 classes`, or for multi-label data `5 labels (1.42 per row, 21 label sets)`."""
    if not dataset.multi_label:
        return f"{len(dataset.labels)} classes"
    stats = dataset.stats
    sets = f"{'' if stats.get('label_sets_exact', True) else 'at least '}{stats['label_sets']}"
    return (f"{len(dataset.labels)} labels ({stats['label_cardinality']:.2f} per row, "
            f"{sets} label sets)")
