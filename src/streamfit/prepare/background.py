"""Prepare the data in a child process while this one loads torch.

`streamfit train` spends its first seconds on two things that do not depend
on each other: preparing the data (pyarrow and numpy on two threads) and
importing torch and its optimizers (about 2 s of one core, holding the GIL).
On threads they queue on the GIL and take as long as one after the other; in
two processes they overlap (IMDB here: 4.8 s for both in turn, 3.3 s
overlapped). `PrepareProcess` forks before torch is imported, so the child
is small, runs `load_or_prepare` and reports the dataset's directory through
a pipe; the parent opens it when it needs it.

The child never outlives its work: `cancel()` stops it (SIGTERM, which the
child turns into an exception that unwinds through prepare's cleanup), waits
for it and then sweeps the cache folder's parent of work folders whose lock
is free (`streamfit.workspace.sweep_stale`), so whatever instant the signal lands at,
even before the child installed its handler or in the middle of its
cleanup, nothing of its work is left. SIGTERM is blocked across the fork
and unblocked by the child once its handler is in place. On Linux the child
also asks the kernel for SIGTERM when its parent dies
(`prctl(PR_SET_PDEATHSIG)`), so a killed `streamfit train` takes its
prepare child with it; what a child killed outright leaves is swept by the
next prepare in the same folder.

Only `fork` gives the child this process's state without re-importing it,
and forking is safe only before threads start, so `PrepareProcess` prepares
in this process instead (when the caller asks for the result) on platforms
without `fork`, when torch is already imported (a library caller: there is
nothing left to overlap), or when another thread runs.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from streamfit.errors import DataError, OptionError, UserError
from streamfit.prepare.folders import cache_root
from streamfit.prepare.pipeline import (
    PreparedDataset,
    PrepareOptions,
    load_or_prepare,
    open_prepared,
)
from streamfit.sources import SourceSpec
from streamfit.workspace import sweep_stale

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
        # Where the child's work folder lies: beside its cache folder.
        self._work_parent = Path(cache_dir).parent if cache_dir else cache_root()
        if can_fork():
            context = multiprocessing.get_context("fork")
            self._receive, send = context.Pipe(duplex=False)
            self._process = context.Process(target=_child, args=(send, os.getpid(), *self._arguments),
                                            name="streamfit-prepare", daemon=True)
            # The child starts with SIGTERM blocked and unblocks it once its handler is set,
            # so a cancel() however early is handled, never the default death mid-work.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            try:
                self._process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
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
        dataset = open_prepared(value, verify=False)  # the child has just written or checked it
        dataset.reused = reused
        return dataset

    def cancel(self) -> None:
        """Stop the child, wait for it, and remove what is left of its unfinished work.

        The child removes its work folder as it unwinds; whatever the moment
        the signal reached it, the sweep after it has ended removes the rest
        (its lock died with it). Work folders of live processes stay.
        """
        if self._process is None:
            return
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._receive.close()
        sweep_stale(self._work_parent)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send this process SIGTERM when its parent dies; exit if it already has.

    The parent may die between the fork and the request, so the parent's pid
    is checked after it: if it changed, this process was orphaned already.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the child may outlive a killed parent
        return
    if os.getppid() != parent:
        sys.exit(128 + signal.SIGTERM)


def _child(send, parent, spec, options, cache_dir, validation, progress) -> None:
    # SIGTERM (cancel, or the parent's death) unwinds like an exception, so
    # prepare's cleanup removes its work folder; it was blocked across the
    # fork and is unblocked only once the handler is set. Ctrl-C reaches the
    # parent too, which reports it.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        _die_with_parent(parent)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
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
