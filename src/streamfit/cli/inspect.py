"""`streamfit inspect`: statistics, row accounting and the model recommendation.

With `--multi-label` the classes are counted in rows per label, and the
report adds the label cardinality (mean labels per row) and the number of
distinct label sets (`RowAccounting.to_dict`'s "label_cardinality" and
"label_sets"). Without it, rows with several labels are the note
"several_labels", which suggests the flag.
"""

from __future__ import annotations

import argparse
import json

from streamfit.cli.args import add_source_arguments, source_spec
from streamfit.prepare.inspect import inspect_source
from streamfit.sources.accounting import describe_notes


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("inspect", help="print statistics of the data, write nothing",
                                   description="Read DATA once and print its statistics, the row "
                                               "accounting and the guide's model recommendation.")
    add_source_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    report = inspect_source(source_spec(args, label=args.label != ""))
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"rows: read {report['rows_read']}, used {report['rows_used']}")
    for cause, count in report["skipped"].items():
        print(f"skipped {cause}: {count} (first at {', '.join(report['examples'].get(cause, [])[:3])})")
    for note in describe_notes(report):
        print(f"note {note}")
    multi_label = "label_cardinality" in report
    print(f"classes: {len(report['classes'])}" + (" (rows per label)" if multi_label else ""))
    for label, count in report["classes"].items():
        print(f"  {label}: {count}")
    if multi_label:
        print(f"label cardinality: {report['label_cardinality']:.3f} labels per row")
        print(f"label sets: {report['label_sets']} distinct")
    print(f"median words per sample: {report['median_words_per_sample']:g}")
    print(f"samples / median words per sample: {report['samples_per_word_ratio']:.1f}")
    if report["recommended_model"]:
        rule = "below" if report["recommended_model"] == "mlp" else "at or above"
        print(f"recommended model: {report['recommended_model']} (the guide's rule: ratio {rule} 1500)")
    return 0
