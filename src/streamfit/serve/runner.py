"""Running the app on uvicorn: names, workers, signals (`serve`).

Every bundle is loaded (and so checked) before the port is opened, so that
a bad directory is one line and exit 2, not a server that fails later. Each
bundle is served under its directory's name (`/models/NAME/...`); two
directories of one name are refused.

One worker serves in this process. With `workers > 1` uvicorn's supervisor
starts that many processes on one listening socket (spawned, so each loads
the bundles again: memory grows with the workers, and start-up takes a
bundle load per worker); they find the bundles and limits in the
environment variable `STREAMFIT_SERVE` (`app_from_environment`).

SIGTERM or Ctrl-C stops the server gracefully (uvicorn's shutdown): the
socket closes, idle connections close, and requests in flight run to the end
and are answered (for at most `Limits.graceful_seconds`); then `serve`
returns 0. uvicorn raises the signal again once it is done; the handlers set
here take it, so the process exits 0 rather than dying of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from streamfit.errors import OptionError, UserError
from streamfit.serve.limits import Limits

if TYPE_CHECKING:
    from fastapi import FastAPI

    from streamfit.recipe.bundle import Bundle

ENVIRONMENT = "STREAMFIT_SERVE"
WORKER_START_SECONDS = 120  # uvicorn's health check of a worker loading its bundles (default 5 s)


def bundle_names(directories: list[str]) -> dict[str, str]:
    """Each bundle directory by the name its routes use: the directory's own name.

    Raises:
        UserError: no directory, or two with the same name.
    """
    if not directories:
        raise UserError("give one or more bundle directories to serve")
    names: dict[str, str] = {}
    for directory in directories:
        name = Path(directory).resolve().name or str(directory)
        if name in names:
            raise UserError(f"{names[name]} and {directory} are both named {name!r}, and each "
                            "bundle is served as /models/NAME by its directory's name; rename or "
                            "copy one of them")
        names[name] = str(directory)
    return names


def load_bundles(directories: dict[str, str]) -> dict[str, Bundle]:
    """The bundles of `directories` (name -> directory), loaded and checked (`load_bundle`)."""
    from streamfit.recipe.bundle import load_bundle

    return {name: load_bundle(directory) for name, directory in directories.items()}


def app_from_environment() -> FastAPI:
    """The app of the bundles and limits in `STREAMFIT_SERVE` (uvicorn's factory, one per worker)."""
    from streamfit.serve.app import create_app

    settings = json.loads(os.environ[ENVIRONMENT])
    return create_app(load_bundles(settings["bundles"]), Limits(**settings["limits"]))


def serve(directories: list[str], *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          limits: Limits | None = None, access_log: bool = True,
          log: Callable[[str], None] | None = None) -> int:
    """Serve the bundles of `directories` over HTTP until SIGTERM or Ctrl-C.

    Args:
        directories: bundle directories, served by their names.
        host: the address to listen on (0.0.0.0: every interface).
        port: the TCP port.
        workers: server processes (uvicorn's `workers`).
        limits: the request limits (default `Limits()`).
        access_log: log each request (uvicorn's access log, on stderr).
        log: where the start-up lines go (default: stderr).

    Returns:
        0, once a signal has stopped the server and its requests in flight
        are answered.

    Raises:
        OptionError: a bad port or worker count.
        UserError: a bundle that does not load, two bundles of one name, or
            an address that cannot be listened on.
    """
    import uvicorn

    from streamfit.serve.app import create_app

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise OptionError("port", port, "must be a TCP port, an integer in [0, 65535]")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise OptionError("workers", workers, "must be an integer >= 1")
    limits = limits or Limits()
    names = bundle_names(list(directories))
    bundles = load_bundles(names)
    for name, bundle in bundles.items():
        kind = "multi-label" if bundle.multi_label else "single-label"
        log(f"streamfit: serving {name} ({bundle.model_kind}, {kind}, "
            f"{len(bundle.labels.names)} labels) from {names[name]}")
    routes = "/predict" if len(names) == 1 else "/models/NAME/predict"
    log(f"streamfit: POST {routes} on http://{host}:{port} ({workers} worker"
        f"{'s' if workers > 1 else ''}; docs at /docs)")
    options = dict(host=host, port=port, access_log=access_log, log_level="info",
                   timeout_graceful_shutdown=limits.graceful_seconds)
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(create_app(bundles, limits), **options))
        with _quiet_signals():
            try:
                server.run()
            except SystemExit:  # uvicorn exits 1 when it cannot bind, after logging why
                server.started = False
        if not server.started:
            raise UserError(f"could not listen on {host}:{port} (see uvicorn's line above: a port "
                            "in use, or an address not of this machine); give another --port or "
                            "--host")
        return 0
    del bundles  # each worker loads its own
    os.environ[ENVIRONMENT] = json.dumps({"bundles": names, "limits": asdict(limits)})
    config = uvicorn.Config("streamfit.serve.runner:app_from_environment", factory=True,
                            workers=workers, timeout_worker_healthcheck=WORKER_START_SECONDS,
                            **options)
    try:
        sock = config.bind_socket()
    except SystemExit:
        raise UserError(f"could not listen on {host}:{port} (see uvicorn's line above: a port in "
                        "use, or an address not of this machine); give another --port or "
                        "--host") from None
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[sock]).run()
    return 0


@contextlib.contextmanager
def _quiet_signals():
    """SIGTERM and SIGINT do nothing while uvicorn runs, beyond what uvicorn's own handlers do.

    uvicorn puts its handlers in for the run, puts these back, and raises the
    signal it stopped for again: these take it, so a graceful stop is exit 0.
    """
    signals = [signal.SIGTERM, signal.SIGINT]
    previous = {sig: signal.signal(sig, lambda sig, frame: None) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
