"""Arguments shared by the subcommands: where the data is and how to read it."""

from __future__ import annotations

import argparse

from streamfit.sources import FORMATS, SourceSpec, parse_columns


def add_source_arguments(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """DATA and the options that say how to read it.

    With `defaults=False` (evaluate, predict) unset options are None, so the
    bundle's own options apply.
    """
    parser.add_argument("data", nargs="+", metavar="DATA",
                        help="files, globs ('shards/*.csv.gz') or folders of shards")
    parser.add_argument("--text", default="text" if defaults else None, metavar="COLS",
                        help="text column(s), comma-separated, by name or 0-based index "
                             "(joined with a space)" + (" (default: text)" if defaults else ""))
    parser.add_argument("--label", default="label" if defaults else None, metavar="COL",
                        help="label column by name or 0-based index" + (" (default: label)" if defaults else ""))
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="input format (default: from the extension)")
    parser.add_argument("--no-header", dest="header", action="store_false", default=True if defaults else None,
                        help="the CSV/TSV has no header line; columns are 0-based indexes")
    parser.add_argument("--preset", choices=("zhang",), default=None,
                        help="zhang: the DBPedia/Yelp/Amazon/AG News CSV layout (no header, "
                             "label first, then title and text)")
    parser.add_argument("--encoding", default="utf-8" if defaults else None,
                        help="text encoding, e.g. latin-1 (default: utf-8)")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first bad row instead of skipping and counting it")


def source_spec(args: argparse.Namespace, *, label: bool = True) -> SourceSpec:
    """The SourceSpec of the DATA arguments."""
    options = {"paths": tuple(args.data), "format": args.format, "strict": args.strict,
               "preset": args.preset}
    if args.text is not None:
        options["text"] = parse_columns(args.text)
    if label and args.label is not None:
        options["label"] = parse_columns(args.label)[0]
    if not label:
        options["label"] = None
    if args.header is not None:
        options["header"] = args.header
    if args.encoding is not None:
        options["encoding"] = args.encoding
    return SourceSpec(**options)


def bundle_overrides(args: argparse.Namespace, *, label: bool = True) -> dict:
    """Options given on the command line that replace a bundle's own."""
    overrides = {"format": args.format, "header": args.header, "encoding": args.encoding,
                 "preset": args.preset, "strict": args.strict or None}
    if args.text is not None:
        overrides["text"] = parse_columns(args.text)
    if label and args.label is not None:
        overrides["label"] = parse_columns(args.label)[0]
    return overrides
