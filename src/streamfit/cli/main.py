"""The `streamfit` command: train, evaluate, predict, prepare, inspect.

Each subcommand is a thin shell over the library. User mistakes end with one
line on stderr (`streamfit: error: ...`) and exit status 2, never a traceback;
a bad option value is named by its flag (`--batch-size 0 ...`), where the
library names the Python argument (`batch_size=0 ...`). Anything else is a
bug in streamfit: a traceback and exit status 70 (BSD's EX_SOFTWARE).
The subcommands import torch only when they run (it takes a second or two),
so that `train` can start preparing the data first and `--help` is quick.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import sys
import traceback

from streamfit.cli import evaluate, export, inspect, predict, prepare, quantize, serve, train
from streamfit.errors import OptionError, TrainingInterrupted, UserError

COMMANDS = (train, evaluate, predict, prepare, inspect, export, serve, quantize)
EXIT_USER_ERROR, EXIT_BUG, EXIT_INTERRUPTED = 2, 70, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamfit",
        description="Train text classifiers on data that does not fit in memory.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def _limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at 2 (M_ARENA_MAX), before any thread starts.

    glibc gives each thread its own arena and keeps freed memory there; with
    the prepare and loader threads that held hundreds of MB that no longer
    counted for anything (20 Newsgroups prepare: peak 790 MB, 676 MB with one
    arena). Not glibc (macOS, musl): nothing to do.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # -8 is M_ARENA_MAX in malloc.h


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each argument's destination and the flag that sets it (`batch_size` -> `--batch-size`)."""
    flags = {}
    for action in parser._actions:
        long = [option for option in action.option_strings if option.startswith("--")]
        if long:
            flags.setdefault(action.dest, long[0])
    return flags


def _user_message(error: UserError, parser: argparse.ArgumentParser) -> str:
    if isinstance(error, OptionError) and error.option in _flags(parser):
        return error.with_flag(_flags(parser)[error.option])
    return str(error)


def main(argv: list[str] | None = None) -> int:
    _limit_malloc_arenas()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except TrainingInterrupted as e:
        print(f"streamfit: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as e:
        print(f"streamfit: error: {_user_message(e, args.parser)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("streamfit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception:
        traceback.print_exc()
        print("streamfit: internal error: this is a bug in streamfit, not in your data or "
              "options; please report it with the traceback above", file=sys.stderr)
        return EXIT_BUG


def entry() -> None:
    """The `streamfit` executable and `python -m streamfit`: `main()`, then exit.

    At exit the interpreter collects, one by one, the objects that torch and
    its compiler stack made at import: 1.1 s after each command here (0.25 s
    after `gc.freeze()`). Frozen, they go with the process; atexit handlers
    still run. Not in `main`, which tests call in a process that goes on.
    """
    code = main()
    gc.freeze()
    sys.exit(code)
