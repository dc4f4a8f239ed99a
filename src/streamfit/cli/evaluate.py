"""`streamfit evaluate`: accuracy, macro F1, per-class scores and the confusion matrix."""

from __future__ import annotations

import argparse
import json

import numpy as np

from streamfit.cli.args import add_source_arguments, bundle_overrides
from streamfit.errors import UserError
from streamfit.recipe.evaluation import ConfusionMatrix, format_report
from streamfit.sources import RowAccounting


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="score a bundle on labelled data",
                                   description="Score the bundle in DIR on labelled DATA (streamed). "
                                               "Columns and format options default to the bundle's.")
    parser.add_argument("bundle", metavar="DIR", help="a bundle written by `streamfit train`")
    add_source_arguments(parser, defaults=False)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per forward pass")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    # torch: loaded only for the command that needs it
    from streamfit.recipe.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    spec = bundle.source_spec(args.data, **bundle_overrides(args))
    if spec.label is None:
        raise UserError("evaluate needs labels; pass --label COL")
    accounting = RowAccounting(strict=spec.strict)
    matrix = ConfusionMatrix(bundle.labels.names)
    for records, probabilities in bundle.predict_source(spec, accounting, args.batch_size, args.device):
        true = bundle.labels.encode(records.column("label"))
        known = true >= 0
        if not known.all():  # a label training never saw is reported, not mapped
            accounting.reject("unseen_label", np.asarray(records.column("source"))[~known],
                              np.asarray(records.column("line"))[~known])
        matrix.update(true[known], probabilities[known].argmax(axis=1))
    report = matrix.report()
    if report["samples"] == 0:
        raise UserError(f"{', '.join(args.data)}: no rows to evaluate ({accounting.summary()})")
    report["data"] = accounting.to_dict()
    if args.json:
        print(json.dumps(report))
    else:
        print(format_report(report))
        print(accounting.summary())
    return 0
