"""The `streamfit` command: train, evaluate, predict, prepare, inspect.

Each subcommand is a thin shell over the library. User mistakes end with one
line on stderr (`streamfit: error: ...`) and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from streamfit.cli import evaluate, inspect, predict, prepare, train
from streamfit.errors import UserError
from streamfit.training import TrainingInterrupted

COMMANDS = (train, evaluate, predict, prepare, inspect)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamfit",
        description="Train text classifiers on data that does not fit in memory.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except TrainingInterrupted as e:
        print(f"streamfit: {e}", file=sys.stderr)
        return 130
    except UserError as e:
        print(f"streamfit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("streamfit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
