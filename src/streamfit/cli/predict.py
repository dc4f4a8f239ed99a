"""`streamfit predict`: one prediction (label, probability) per input row."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from streamfit.cli.args import add_source_arguments, bundle_overrides
from streamfit.errors import UserError
from streamfit.sources import RowAccounting


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="predict labels for new data",
                                   description="Write one prediction per row of DATA: the label and "
                                               "its probability, as CSV or JSON Lines (by the "
                                               "extension of --output; CSV on stdout).")
    parser.add_argument("bundle", metavar="DIR", help="a bundle written by `streamfit train`")
    add_source_arguments(parser, defaults=False)
    parser.add_argument("--output", "-o", metavar="FILE", help="a .csv or .jsonl file (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=1024, help="rows per forward pass")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    # torch: loaded only for the command that needs it
    from streamfit.recipe.bundle import load_bundle

    if args.output and not args.output.endswith((".csv", ".jsonl")):
        raise UserError(f"--output {args.output}: use a .csv or .jsonl file name")
    bundle = load_bundle(args.bundle)
    spec = bundle.source_spec(args.data, labelled=False, **bundle_overrides(args, label=False))
    accounting = RowAccounting(strict=spec.strict)
    jsonl = bool(args.output and args.output.endswith(".jsonl"))
    names = pa.array(bundle.labels.names, pa.string())
    quoted = pa.array([json.dumps(name) for name in bundle.labels.names], pa.string())
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        first = True
        for _, probabilities in bundle.predict_source(spec, accounting, args.batch_size, args.device):
            best = probabilities.argmax(axis=1)
            probability = pa.array(probabilities[np.arange(len(best)), best].round(6))
            if jsonl:
                lines = pc.binary_join_element_wise(
                    '{"label": ', quoted.take(pa.array(best)), ', "probability": ',
                    pc.cast(probability, pa.string()), "}\n", "")
                # The lines' UTF-8 bytes back to back: the array's data buffer, no per-row Python.
                _, offsets, data = lines.buffers()
                ends = np.frombuffer(offsets, dtype=np.int32)[[lines.offset, lines.offset + len(lines)]]
                out.write(memoryview(data)[ends[0]:ends[1]])
            else:
                table = pa.table({"label": names.take(pa.array(best)), "probability": probability})
                sink = pa.BufferOutputStream()
                pcsv.write_csv(table, sink, pcsv.WriteOptions(include_header=first, quoting_style="needed"))
                out.write(sink.getvalue().to_pybytes())
            first = False
    finally:
        if args.output:
            out.close()
    if accounting.rows_read != accounting.rows_used:
        print(f"streamfit: {accounting.summary()}", file=sys.stderr)
    return 0
