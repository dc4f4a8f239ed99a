"""What one request may hold, and the ASGI middleware that holds requests to it.

A body over `Limits.max_body_bytes` is refused with 413 before the app sees
it: by its Content-Length when it says one, else by counting the chunks as
they arrive (chunked transfer encoding), so the server never holds more
than the limit plus one chunk of a request. A batch of more than
`Limits.max_batch` texts is refused with 413 by the app (`serve.app`).

No FastAPI here: the middleware is plain ASGI, and `Limits` is checked by
the command line before anything heavy is imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from streamfit.errors import check_number

MAX_BATCH = 1024
MAX_BODY_BYTES = 1 << 20
GRACEFUL_SECONDS = 30.0
INSTALL = "pip install 'streamfit[serve]'"
EXTRA_MODULES = ("fastapi", "uvicorn", "starlette", "pydantic")  # the extra `serve` brings these


@dataclass(frozen=True)
class Limits:
    """The server's limits per request, and at shutdown.

    Attributes:
        max_batch: the most texts one request may hold (`texts`).
        max_body_bytes: the largest request body, in bytes.
        graceful_seconds: how long a SIGTERM waits for requests in flight to
            finish before their connections are closed.

    Raises:
        OptionError: a limit that is not a positive number.
    """

    max_batch: int = MAX_BATCH
    max_body_bytes: int = MAX_BODY_BYTES
    graceful_seconds: float = GRACEFUL_SECONDS

    def __post_init__(self):
        check_number("max_batch", self.max_batch, minimum=1)
        check_number("max_body_bytes", self.max_body_bytes, minimum=1)
        check_number("graceful_seconds", self.graceful_seconds, above=0, integer=False)


def error_body(message: str) -> bytes:
    """The JSON of an error answer, as FastAPI writes its own: `{"detail": message}`."""
    return json.dumps({"detail": message}).encode()


class BodyLimit:
    """ASGI middleware: HTTP request bodies over `max_bytes` get 413, the app never sees them.

    The body is read whole here (it is at most `max_bytes`) and handed on in
    one piece; other scopes (lifespan) pass through untouched.

    Args:
        app: the ASGI app to guard.
        max_bytes: the largest body let through.
    """

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, f"the request body of {int(declared)} bytes is over the limit "
                                     f"of {self.max_bytes} (--max-body-bytes)")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, f"the request body is over the limit of {self.max_bytes} "
                                         "bytes (--max-body-bytes)")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server says it

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send, message: str) -> None:
        body = error_body(message)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
