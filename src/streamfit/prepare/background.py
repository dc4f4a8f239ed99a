"""Prepare the data in a child process while this one loads torch.

`streamfit train` spends its first seconds on two things that do not depend
on each other: preparing the data (pyarrow and numpy on two threads) and
importing torch and its optimizers (about 2 s of one core, holding the GIL).
On threads they queue on the GIL and take as long as one after the other; in
two processes they overlap (IMDB here: 4.8 s for both in turn, 3.3 s
overlapped). `PrepareProcess` forks before torch is imported, so the child
is small, runs `load_or_prepare` and reports the dataset's directory through
a pipe; the parent opens it when it needs it.

Only `fork` gives the child this process's state without re-importing it,
and forking is safe only before threads start, so `PrepareProcess` prepares
in this process instead (when the caller asks for the result) on platforms
without `fork`, when torch is already imported (a library caller: there is
nothing left to overlap), or when another thread runs.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from streamfit.errors import DataError, OptionError, UserError
from streamfit.prepare.pipeline import (
    PreparedDataset,
    PrepareOptions,
    load_or_prepare,
    open_prepared,
)
from streamfit.sources import SourceSpec

# The errors a child reports by name and constructor arguments (an exception's
# pickle would rebuild an OptionError from its message alone), most specific first.
_ERRORS = {"OptionError": OptionError, "DataError": DataError, "UserError": UserError}


def can_fork() -> bool:
    """Whether a prepare child may be forked here: Linux, one thread, torch not yet loaded."""
    return (sys.platform.startswith("linux") and "torch" not in sys.modules
            and threading.active_count() == 1)


class PrepareProcess:
    """`load_or_prepare`, in a forked child when `can_fork()`, else when `result()` is called.

    Args:
        spec, options, cache_dir, validation, progress: as for `load_or_prepare`
            (in a child, `progress` is called there; its output shares this
            process's stdout).

    Call `result()` once; `cancel()` when the result is no longer wanted.
    """

    def __init__(self, spec: SourceSpec, options: PrepareOptions, cache_dir: str | Path | None = None,
                 validation: SourceSpec | None = None, progress: Callable[[str], None] | None = None):
        self._arguments = (spec, options, cache_dir, validation, progress)
        self._process = None
        if can_fork():
            context = multiprocessing.get_context("fork")
            self._receive, send = context.Pipe(duplex=False)
            self._process = context.Process(target=_child, args=(send, *self._arguments),
                                            name="streamfit-prepare", daemon=True)
            self._process.start()
            send.close()  # the child holds the other end; its exit ends our recv()

    @property
    def in_child(self) -> bool:
        """Whether the data is being prepared in a child process."""
        return self._process is not None

    def result(self) -> PreparedDataset:
        """The prepared dataset: wait for the child and open what it wrote, or prepare here.

        Raises:
            UserError, DataError, OptionError: preparing failed on the data or
                options (the child's error, with its message and, for an
                `OptionError`, its option and value).
            RuntimeError: the child failed otherwise (its traceback is in the
                message) or died without a word (killed, e.g. out of memory).
        """
        spec, options, cache_dir, validation, progress = self._arguments
        if self._process is None:
            return load_or_prepare(spec, options, cache_dir, validation=validation, progress=progress)
        try:
            outcome = self._receive.recv()
        except EOFError:
            outcome = None
        finally:
            self._receive.close()
            self._process.join()
        if outcome is None:
            code = self._process.exitcode
            how = f"was killed by signal {-code}" if code and code < 0 else f"exited with status {code}"
            raise RuntimeError(f"the prepare process {how} before it finished (out of memory?); "
                               "run `streamfit prepare` with the same data to see it fail")
        kind, value, reused = outcome
        if kind in _ERRORS:
            raise _ERRORS[kind](*value)
        if kind == "crash":
            raise RuntimeError(f"preparing the data failed in its process:\n{value}")
        dataset = open_prepared(value)
        dataset.reused = reused
        return dataset

    def cancel(self) -> None:
        """Stop the child, which removes its unfinished work, and wait for it."""
        if self._process is None:
            return
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._receive.close()


def _child(send, spec, options, cache_dir, validation, progress) -> None:
    # SIGTERM (cancel) unwinds like an exception, so prepare's cleanup removes
    # its temporary folder; Ctrl-C reaches the parent too, which reports it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        dataset = load_or_prepare(spec, options, cache_dir, validation=validation, progress=progress)
        send.send(("ok", str(dataset.directory), dataset.reused))
    except UserError as error:  # DataError and OptionError are ones too
        kind = next(name for name, cls in _ERRORS.items() if isinstance(error, cls))
        arguments = ((error.option, error.value, error.problem) if isinstance(error, OptionError)
                     else (str(error),))
        send.send((kind, arguments, False))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        send.send(("crash", traceback.format_exc(), False))
    finally:
        send.close()
