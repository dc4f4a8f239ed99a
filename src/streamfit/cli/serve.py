"""`streamfit serve`: bundles over HTTP (FastAPI on uvicorn; `streamfit.serve`).

FastAPI and uvicorn come with the extra `streamfit[serve]`; without them
the command is one line naming `pip install 'streamfit[serve]'` (exit 2).
"""

from __future__ import annotations

import argparse

from streamfit.errors import UserError
from streamfit.serve.limits import (
    EXTRA_MODULES,
    GRACEFUL_SECONDS,
    INSTALL,
    MAX_BATCH,
    MAX_BODY_BYTES,
    Limits,
)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve bundles as an HTTP JSON service",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Serve bundles over HTTP (FastAPI on uvicorn; pip install 'streamfit[serve]').\n\n"
            "  POST /predict   {\"text\": \"...\"} or {\"texts\": [...], \"k\": 3, \"threshold\": 0.4}\n"
            "                  -> {\"predictions\": [[{\"label\": ..., \"probability\": ...}, ...]]}\n"
            "  GET /metadata   labels, model kind, multi-label thresholds, training summary\n"
            "  GET /health     {\"status\": \"ok\", \"models\": [...]}\n"
            "  GET /docs       the OpenAPI documentation\n\n"
            "With several bundles each is served by its directory's name, under\n"
            "/models/NAME/predict and /models/NAME/metadata (GET /models lists them all).\n"
            "k and threshold are those of `streamfit predict`. A body over --max-body-bytes or a\n"
            "batch over --max-batch is refused with 413; malformed JSON or a field of the wrong\n"
            "type with 422 and a message. SIGTERM or Ctrl-C stops the server gracefully: requests\n"
            "in flight are answered (for at most --graceful-timeout seconds), then exit 0."))
    parser.add_argument("bundles", nargs="+", metavar="DIR", help="bundles written by `streamfit train`")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: 127.0.0.1; 0.0.0.0 for every "
                             "interface)")
    parser.add_argument("--port", type=int, default=8000, help="the TCP port (default: 8000)")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes, each with its own copy of the bundles (default: 1)")
    parser.add_argument("--max-batch", type=int, default=MAX_BATCH, metavar="N",
                        help=f"the most texts per request (default: {MAX_BATCH})")
    parser.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES, metavar="BYTES",
                        help=f"the largest request body (default: {MAX_BODY_BYTES}, 1 MiB)")
    parser.add_argument("--graceful-timeout", type=float, default=GRACEFUL_SECONDS,
                        metavar="SECONDS", dest="graceful_seconds",
                        help="how long SIGTERM waits for requests in flight (default: "
                             f"{GRACEFUL_SECONDS:g})")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false",
                        help="do not log each request on stderr")
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    limits = Limits(max_batch=args.max_batch, max_body_bytes=args.max_body_bytes,
                    graceful_seconds=args.graceful_seconds)
    try:
        from streamfit.serve.app import create_app  # noqa: F401 (FastAPI and uvicorn, or the fix)
        from streamfit.serve.runner import serve
    except ImportError as error:
        if error.name not in EXTRA_MODULES:
            raise
        raise UserError(f"serve needs FastAPI and uvicorn, which are not installed: {INSTALL}") \
            from None
    return serve(args.bundles, host=args.host, port=args.port, workers=args.workers, limits=limits,
                 access_log=args.access_log)
