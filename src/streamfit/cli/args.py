"""Arguments shared by the subcommands: where the data is and how to read it."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from streamfit.recipe.config import TrainConfig, option_fields
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
    parser.add_argument("--multi-label", dest="multi_label", action="store_true",
                        default=False if defaults else None,
                        help="rows carry any number of labels: every __label__ word, a --label-sep "
                             "list, a JSON Lines or Parquet list; an empty list is a row with no "
                             "labels" + ("" if defaults else " (default: the bundle's)"))
    parser.add_argument("--label-sep", dest="label_sep", default=None, metavar="SEP",
                        help="the literal separator of a label column holding several labels, "
                             "e.g. ';' (needs --multi-label)")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first bad row instead of skipping and counting it, "
                             "and at a damaged prepared cache instead of rebuilding it")


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
    if args.multi_label is not None:
        options["multi_label"] = args.multi_label
    if args.label_sep is not None:
        options["label_sep"] = args.label_sep
    return SourceSpec(**options)


def bundle_overrides(args: argparse.Namespace, *, label: bool = True) -> dict:
    """Options given on the command line that replace a bundle's own."""
    overrides = {"format": args.format, "header": args.header, "encoding": args.encoding,
                 "preset": args.preset, "strict": args.strict or None,
                 "multi_label": args.multi_label or None, "label_sep": args.label_sep}
    if args.text is not None:
        overrides["text"] = parse_columns(args.text)
    if label and args.label is not None:
        overrides["label"] = parse_columns(args.label)[0]
    return overrides


def add_config_arguments(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    """A flag for each field of `TrainConfig` (or those in `names`), whose `dest` is the field's name.

    The name is what `OptionError.option` holds, so an error of the library
    (`batch_size=0 ...`) is shown with the flag (`--batch-size 0 ...`, see
    `streamfit.cli.main`).
    """
    hints = typing.get_type_hints(TrainConfig)
    for field, about in option_fields():
        if names is not None and field.name not in names:
            continue
        flags = [about.flag_for(field.name), *([about.short] if about.short else [])]
        required = field.default is dataclasses.MISSING
        default = None if required else field.default
        if about.to_flag is not None:
            default = about.to_flag(default)
        if hints[field.name] is bool:
            parser.add_argument(*flags, dest=field.name, action="store_true", help=about.help)
            continue
        shown = about.default_help or (None if default is None or required else default)
        text = about.help + (f" (default: {shown})" if shown is not None else "")
        parser.add_argument(*flags, dest=field.name, type=about.flag_type or _value_type(hints[field.name]),
                            default=default, required=required, choices=about.choices,
                            metavar=about.metavar, help=text)


def _value_type(hint) -> type:
    """The type of a flag's value: the field's, less an `| None`."""
    types = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
    return types[0]


def config_values(args: argparse.Namespace, names: tuple[str, ...] | None = None) -> dict:
    """The `TrainConfig` field values of the parsed flags (those in `names`), field by field."""
    values = {}
    for field, about in option_fields():
        if names is not None and field.name not in names:
            continue
        value = getattr(args, field.name)
        values[field.name] = about.from_flag(value) if about.from_flag is not None else value
    return values
