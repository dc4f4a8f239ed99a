"""`streamfit serve`: bundles as an HTTP JSON service, FastAPI on uvicorn (`streamfit[serve]`).

| module | owns |
| --- | --- |
| `app` | the routes (`create_app`): predict, metadata, health, docs, several bundles by name; the 422 messages |
| `limits` | the limits per request (`Limits`) and the body limit (`BodyLimit`, 413), plain ASGI |
| `runner` | uvicorn: loading and naming the bundles, workers, graceful shutdown (`serve`) |

FastAPI and uvicorn are the optional extra `serve`, imported on first use of
`create_app` or `serve` (`streamfit.lazy`): without them that fails with an
`ImportError` naming `pip install 'streamfit[serve]'`; `Limits` needs neither.

Example:
    >>> from streamfit.recipe import load_bundle
    >>> from streamfit.serve import create_app
    >>> app = create_app({"imdb": load_bundle("imdb-bundle")})   # doctest: +SKIP
"""

from __future__ import annotations

from streamfit.lazy import lazy_exports
from streamfit.serve.limits import INSTALL, Limits

_EXPORTS = {"create_app": "streamfit.serve.app", "serve": "streamfit.serve.runner"}
__all__ = ["INSTALL", "Limits", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
