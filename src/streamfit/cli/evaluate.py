"""`streamfit evaluate`: a bundle's scores on labelled data.

Single-label bundles: accuracy, macro F1, per-class scores and the confusion
matrix; multi-label bundles: micro/macro/weighted precision, recall and F1,
subset accuracy, Hamming loss and per-label scores. Both: P@k and R@k (`-k`),
as fastText's `test` prints them. `--json` prints the same names as one object.
"""

from __future__ import annotations

import argparse
import json

from streamfit.cli.args import add_source_arguments, bundle_overrides
from streamfit.recipe.evaluation import (
    check_k,
    evaluate_source,
    format_multilabel_report,
    format_report,
)
from streamfit.sources import RowAccounting


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="score a bundle on labelled data",
                                   description="Score the bundle in DIR on labelled DATA (streamed). "
                                               "Columns and format options default to the bundle's.")
    parser.add_argument("bundle", metavar="DIR", help="a bundle written by `streamfit train`")
    add_source_arguments(parser, defaults=False)
    parser.add_argument("-k", "--top-k", dest="k", type=int, default=1,
                        help="labels per row for P@k and R@k, the most probable first; -1: all "
                             "(default: 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per forward pass")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu or cuda (default auto: an mlp or fasttext bundle runs with "
                             "numpy on the CPU, without torch; a sepcnn bundle on a GPU if torch "
                             "sees one)")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    check_k(args.k)  # before the bundle is read
    # pyarrow and scipy: loaded only for the command that needs them (torch only for a sepcnn
    # bundle, an older weights.pt bundle or --device cuda: recipe.bundle)
    from streamfit.recipe.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    spec = bundle.source_spec(args.data, **bundle_overrides(args))
    accounting = RowAccounting(strict=spec.strict)
    report = evaluate_source(bundle, spec, accounting, k=args.k, batch_size=args.batch_size,
                             device=args.device)
    if args.json:
        print(json.dumps(report))
    else:
        print(format_multilabel_report(report) if report.get("multi_label") else format_report(report))
        print(accounting.summary())
    return 0
