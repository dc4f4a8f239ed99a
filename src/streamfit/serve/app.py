"""The HTTP app: FastAPI routes over loaded bundles (`create_app`).

| route | answer |
| --- | --- |
| `POST /predict` | `{"predictions": [[{"label": ..., "probability": ...}, ...], ...]}`, one list per text |
| `GET /metadata` | the bundle's labels, model kind, multi-label thresholds, training summary |
| `GET /health` | `{"status": "ok", "models": [...]}` |
| `GET /models` | every served bundle's metadata |
| `POST /models/NAME/predict`, `GET /models/NAME/metadata` | the same, for the bundle NAME |
| `GET /docs`, `GET /openapi.json` | the OpenAPI description |

The plain `/predict` and `/metadata` answer when one bundle is served; with
several they answer 404 naming the `/models/NAME/...` routes. NAME is only
ever a key of the dict of loaded bundles, never a path: nothing a client
sends reaches the file system.

A prediction request is `{"text": "..."}` or `{"texts": [...]}`, with
optional `k` and `threshold` as `Bundle.predict` (and `streamfit predict`)
take them: by default the most probable label of a single-label bundle,
every label at or above its tuned thresholds for a multi-label one. An
empty text is a text (it gets the model's answer for no words). Errors:

| status | when |
| --- | --- |
| 413 | a body over `Limits.max_body_bytes` (`limits.BodyLimit`), a batch over `Limits.max_batch` |
| 422 | not JSON (or nested too deep to parse), a field of the wrong type, an unknown field, not exactly one of `text`/`texts`, a bad `k` or `threshold`, a text that is not valid Unicode (a lone surrogate) |
| 404 | an unknown route or model name |

Each error body is `{"detail": "one line"}` (422 adds `"errors"`, the
fields at fault). Requests that arrive while a forward pass runs are joined
into the next one (`Batcher`), which runs in the thread pool, so the event
loop keeps answering `/health` and reading other requests.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

import streamfit
from streamfit.errors import OptionError
from streamfit.serve.limits import EXTRA_MODULES, INSTALL, BodyLimit, Limits

try:
    import uvicorn  # noqa: F401 (checked here with the rest; the runner uses it)
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, model_validator
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ModuleNotFoundError as error:  # the extra is not installed
    if error.name not in EXTRA_MODULES:
        raise
    raise ImportError(f"streamfit serve needs FastAPI and uvicorn ({error.name} is not "
                      f"installed): {INSTALL}", name=error.name) from error

if TYPE_CHECKING:
    from streamfit.recipe.bundle import Bundle

# The training summary `GET /metadata` shows: `Bundle.info` less the accounting's examples
# (raw rows and the training machine's file names).
SUMMARY_KEYS = ("train_rows", "epochs", "seconds", "history", "prepare_reused")
# The most texts of several requests joined into one forward pass (`Batcher`).
JOINED_TEXTS = 1024


class PredictRequest(BaseModel):
    """One text or a batch, and which labels to name (fastText's `predict-prob k threshold`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str | None = Field(None, description="one text (give this or texts)")
    texts: list[str] | None = Field(None, description="a batch of texts (give this or text)")
    k: int | None = Field(None, description="the most labels per text, -1 for all (default: 1; "
                                            "all for a multi-label bundle)")
    threshold: float | None = Field(None, description="the least probability a label needs "
                                                      "(default: none; a multi-label bundle's "
                                                      "tuned thresholds)")

    @model_validator(mode="after")
    def _one_input(self):
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of text (a string) and texts (a list of strings)")
        return self


class Prediction(BaseModel):
    label: str
    probability: float


class PredictResponse(BaseModel):
    predictions: list[list[Prediction]] = Field(
        description="per text, the labels chosen, most probable first")


def create_app(bundles: dict[str, Bundle], limits: Limits | None = None) -> FastAPI:
    """The app serving `bundles` by name, with the limits of `limits`.

    Args:
        bundles: loaded bundles (`load_bundle`) by the name their routes
            use (`/models/NAME/predict`); one or more.
        limits: the request limits (default: `Limits()`).

    Returns:
        A FastAPI app (ASGI), e.g. for `uvicorn.run` or
        `fastapi.testclient.TestClient`.

    Raises:
        ValueError: no bundles.
    """
    if not bundles:
        raise ValueError("bundles is empty; give at least one loaded bundle by name")
    limits = limits or Limits()
    metadata = {name: _metadata(name, bundle) for name, bundle in bundles.items()}
    names = ", ".join(bundles)
    one = next(iter(bundles)) if len(bundles) == 1 else None
    app = FastAPI(title="streamfit", version=getattr(streamfit, "__version__", "0"),
                  description=f"Text classification with the streamfit bundle(s) {names}.")

    batchers = {name: Batcher(bundle, max(limits.max_batch, JOINED_TEXTS))
                for name, bundle in bundles.items()}

    async def predict(name: str, request: PredictRequest) -> JSONResponse:
        bundle = bundles[name]
        texts = [request.text] if request.texts is None else request.texts
        if len(texts) > limits.max_batch:
            return _error(413, f"the batch of {len(texts)} texts is over the limit of "
                               f"{limits.max_batch} (--max-batch); send it in parts")
        try:  # k and threshold checked before any text is featurized
            bundle.choose(np.zeros((0, len(bundle.labels.names)), np.float32), request.k,
                          request.threshold)
        except OptionError as error:
            return _error(422, str(error))
        bad = _invalid_unicode(texts)
        if bad is not None:
            where = "text" if request.texts is None else f"texts[{bad}]"
            return _error(422, f"{where} is not valid Unicode (it holds a lone surrogate, such as "
                               "\\ud800); send UTF-8 text")
        probabilities = await batchers[name].probabilities(texts)
        chosen = bundle.choose(probabilities, request.k, request.threshold)
        names = bundle.labels.names
        return JSONResponse({"predictions": [
            [{"label": names[label], "probability": float(p)} for label, p in row]
            for row in chosen.rows()]})

    def model(name: str) -> str:
        if name not in bundles:
            raise _NotFound(f"no model {name!r} here; the models are {names}")
        return name

    @app.get("/health", summary="Whether the server is up, and its models")
    def health() -> dict:
        return {"status": "ok", "models": list(bundles)}

    @app.get("/models", summary="Every model's metadata")
    def models() -> dict:
        return {"models": list(metadata.values())}

    @app.post("/models/{name}/predict", response_model=PredictResponse,
              summary="The labels of one text or a batch, by the model NAME")
    async def predict_named(name: str, request: PredictRequest):
        return await predict(model(name), request)

    @app.get("/models/{name}/metadata", summary="The model NAME's labels, kind and training summary")
    def metadata_named(name: str) -> dict:
        return metadata[model(name)]

    @app.post("/predict", response_model=PredictResponse, include_in_schema=one is not None,
              summary="The labels of one text or a batch")
    async def predict_one(request: PredictRequest):
        if one is None:
            raise _NotFound(f"several models are served: POST /models/NAME/predict, NAME one of "
                            f"{names}")
        return await predict(one, request)

    @app.get("/metadata", include_in_schema=one is not None,
             summary="The model's labels, kind and training summary")
    def metadata_one() -> dict:
        if one is None:
            raise _NotFound(f"several models are served: GET /models/NAME/metadata, NAME one of "
                            f"{names}, or GET /models")
        return metadata[one]

    @app.exception_handler(_NotFound)
    async def not_found(request: Request, error: _NotFound) -> JSONResponse:
        return _error(404, str(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:  # FastAPI's "error parsing the body": JSON nested too deep
            return _error(422, "the body could not be parsed as JSON (nested too deeply?); send "
                               "an object such as {\"texts\": [\"...\"]}")
        return JSONResponse({"detail": error.detail}, status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [_field_error(e) for e in error.errors()]
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and kind != "application/json" and not kind.endswith("+json"):
            errors = [{"field": "", "message": f"the body is sent as {kind}, not JSON; send the "
                                               "header Content-Type: application/json"}]
        return JSONResponse({"detail": _message(errors), "errors": errors}, status_code=422)

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    return app


class _NotFound(Exception):  # noqa: N818 (an HTTP status, not an error of streamfit's)
    pass


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _field_error(error: dict) -> dict:
    """A validation error as `{"field": "texts.2", "message": ...}`, without the input echoed."""
    location = [str(part) for part in error.get("loc", ()) if part != "body"]
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "json_invalid":
        cause = (error.get("ctx") or {}).get("error")
        message = f"the body is not valid JSON ({cause}) at character {location[0]}" if cause and \
            location else "the body is not valid JSON"
        location = []
    if error.get("type") == "missing" and not location:
        message = "the body is empty; send a JSON object such as {\"text\": \"...\"}"
    return {"field": ".".join(location), "message": message.removeprefix("Value error, ")}


def _message(errors: list[dict]) -> str:
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    text = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return text + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")


def _invalid_unicode(texts: list[str]) -> int | None:
    """The index of the first text that UTF-8 cannot encode (JSON allows lone surrogates), or None."""
    try:
        "".join(texts).encode("utf-8")
        return None
    except UnicodeEncodeError:
        for i, text in enumerate(texts):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return i
    return None  # pragma: no cover (the join failed, so one text does)


def _metadata(name: str, bundle: Bundle) -> dict:
    """What `GET /metadata` says of a bundle (JSON-safe: no NaN, no infinity)."""
    meta = getattr(bundle, "meta", None) or {}
    info = bundle.info or {}
    accounting = info.get("accounting") or {}
    training = {key: info[key] for key in SUMMARY_KEYS if key in info}
    for key in ("rows_read", "rows_used", "skipped"):
        if key in accounting:
            training[key] = accounting[key]
    thresholds = None if bundle.thresholds is None else [float(t) for t in bundle.thresholds]
    answer = {"name": name, "kind": getattr(bundle, "kind", bundle.model_kind),
              "labels": list(bundle.labels.names), "multi_label": bool(bundle.multi_label),
              "thresholds": thresholds, "training": training}
    for key in ("model", "weights", "quantized"):
        if key in meta:
            answer[key] = meta[key]
    return _finite(answer)


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class Batcher:
    """Requests for one bundle that arrive together, joined into one forward pass.

    A forward pass of 8 texts costs little more than one of 1 (IMDB, the
    mlp: 7 ms and 6 ms here), so the requests that wait while a pass runs
    are joined into the next (up to `max_texts` texts; a larger request goes
    alone): at 8 clients each waits about two passes, not eight. One pass
    runs at a time per bundle, in the thread pool, so the event loop goes on
    reading requests and answering `/health`, and the passes do not
    compete for the CPUs. The probabilities of a text do not depend on the
    others in its pass (the bag models score each row alone).

    Args:
        bundle: the bundle whose `predict_proba` runs.
        max_texts: the most texts joined into one pass.
    """

    def __init__(self, bundle: Bundle, max_texts: int):
        self.bundle, self.max_texts = bundle, max_texts
        self.waiting: list[tuple[list[str], asyncio.Future]] = []
        self.running = False

    async def probabilities(self, texts: list[str]) -> np.ndarray:
        """The probabilities `(len(texts), labels)` of `texts`, from the next pass."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((texts, future))
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self.waiting:
                taken, count = 0, 0
                while taken < len(self.waiting) and (
                        taken == 0 or count + len(self.waiting[taken][0]) <= self.max_texts):
                    count += len(self.waiting[taken][0])
                    taken += 1
                group, self.waiting = self.waiting[:taken], self.waiting[taken:]
                texts = [text for part, _ in group for text in part]
                try:
                    probabilities = await run_in_threadpool(self.bundle.predict_proba,
                                                            pa.array(texts, pa.string()))
                except Exception as error:  # noqa: BLE001 (each request answers 500 with it)
                    for _, future in group:
                        if not future.done():
                            future.set_exception(error)
                    continue
                start = 0
                for part, future in group:
                    if not future.done():  # not cancelled (the client went away)
                        future.set_result(probabilities[start:start + len(part)])
                    start += len(part)
        finally:
            self.running = False
