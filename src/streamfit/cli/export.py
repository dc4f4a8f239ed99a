"""`streamfit export`: a bundle's model as ONNX or TorchScript, with its featurizing spec.

`streamfit export DIR --format onnx --output OUT` writes the directory OUT:
`model.onnx` (or `model.pt` for `--format torchscript`), `featurize.json`
(raw text to model input: tokenizer, vocabulary, n-grams or hashing, IDF,
normalisation) and `reference.json` (a few texts, their model input and the
bundle's probabilities). See `streamfit.export` for the formats. OUT must be
new, empty, or an earlier export; anything else is refused, untouched.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a bundle's model as ONNX or TorchScript, with its featurizing spec",
        description="Write the model of the bundle DIR to the directory OUT as an ONNX graph "
                    "(model.onnx: ids, offsets and weights in, probabilities out; sepcnn: padded "
                    "ids in) or a TorchScript module (model.pt), beside featurize.json (how raw "
                    "text becomes the model's input) and reference.json (test vectors).")
    parser.add_argument("bundle", metavar="DIR", help="the bundle (a training run's output)")
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx",
                        help="onnx (default; needs pip install 'streamfit[export]') or torchscript")
    parser.add_argument("--output", "-o", required=True, metavar="OUT",
                        help="the export directory: new, empty, or an earlier export (replaced)")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    from streamfit.export import FORMATS, export_bundle

    output = export_bundle(args.bundle, args.output, args.format)
    size = (output / FORMATS[args.format]).stat().st_size
    print(f"export: wrote {output}: {FORMATS[args.format]} ({size / 1e6:.1f} MB), featurize.json, "
          "reference.json")
    return 0
