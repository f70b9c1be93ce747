"""The ASGI application: :func:`create_app` composes the API, the push channel and the UI.

Layout: ``/api/v1/...`` (:mod:`~quant_apps.serve.api`, :mod:`~quant_apps.serve.push`), the
OpenAPI schema at ``/api/v1/openapi.json`` (behind the token; no third-party docs page, which
would load scripts from a CDN), the UI's routers at ``/`` (passed in, so this module never
imports the UI) and ``/static`` when the package ships it.

Every error is one JSON shape, ``{"ok": false, "reason_code", "message"}``:
:class:`~quant_apps.serve.security.ApiError` keeps its status; a :class:`QuantError` from the
control plane answers 422 when it is a validation refusal and 409 otherwise; request
validation answers 422 ``INVALID_INPUT``; anything unexpected 500 ``INTERNAL_ERROR`` without
detail. A page (not ``/api``) GET without a session is redirected to ``/login``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from quant_apps.serve import api, push, reasons
from quant_apps.serve._control import ControlPlane
from quant_apps.serve.security import (
    DEFAULT_BODY_LIMIT,
    ApiError,
    Auth,
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    current_operator,
    error_body,
)
from quant_core.errors import QuantError, ValidationError
from quant_core.reasons import INTERNAL_ERROR, INVALID_INPUT
from quant_core.settings import redact_text

__all__ = ["API_PREFIX", "STATIC_DIR", "create_app"]

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def create_app(
    control: ControlPlane,
    auth: Auth,
    *,
    origin: str,
    routers: Sequence[APIRouter] = (),
    hosts: Sequence[str] = LOOPBACK_HOSTS,
    body_limit: int = DEFAULT_BODY_LIMIT,
    event_wait_s: float = 1.0,
    heartbeat_s: float = 15.0,
    static_dir: Path = STATIC_DIR,
) -> FastAPI:
    """The operator server's application over ``control``.

    Args:
        control: the running session's control plane.
        auth: the token, its operator and login codes.
        origin: this server's origin as a browser sees it (``http://127.0.0.1:8765``):
            state changes from any other origin are refused.
        routers: the UI's routers, included at ``/`` (``quant serve`` passes
            :mod:`quant_apps.serve.ui`'s).
        hosts: ``Host`` names answered (others get 400: DNS-rebinding protection); ``"*"``
            for any.
        body_limit: the largest request body in bytes.
        event_wait_s: the push channel's wait per poll of the control plane.
        heartbeat_s: seconds of silence before the push channel sends a heartbeat.
        static_dir: the folder served at ``/static`` (the UI's styles, script and vendored assets).
    """
    app = FastAPI(
        title="quant operator API",
        version="1",
        summary="Local control API of a running quant session (token required).",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.control = control
    app.state.auth = auth
    app.state.origins = frozenset({origin.rstrip("/").lower()})
    app.state.event_wait_s = event_wait_s
    app.state.heartbeat_every = max(1, round(heartbeat_s / event_wait_s))

    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(push.router, prefix=API_PREFIX)

    @app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
    def openapi(_operator: str = Depends(current_operator)) -> dict[str, Any]:
        return app.openapi()

    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=static_dir), name="static")

    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(QuantError, _quant_error)
    app.add_exception_handler(Exception, _internal_error)
    # Outermost last: headers on every answer, then the Host check, then the body limit.
    app.add_middleware(BodyLimitMiddleware, limit=body_limit)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def _wants_page(request: Request) -> bool:
    return request.method == "GET" and not request.url.path.startswith(f"{API_PREFIX}/")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 401 and _wants_page(request):
        return RedirectResponse("/login", status_code=303)
    if isinstance(exc, ApiError):
        code, message = exc.reason_code, exc.message
    elif exc.status_code in (404, 405):
        code, message = reasons.ROUTE_NOT_FOUND, str(exc.detail)
    else:
        code, message = INVALID_INPUT, str(exc.detail)
    return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Where and what, never the input itself (it may be long, or hold what it should not).
    errors = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    body = error_body(INVALID_INPUT, "the request failed validation", errors=errors)
    return JSONResponse(body, status_code=422)


async def _quant_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QuantError)
    status = 422 if isinstance(exc, ValidationError) else 409
    return JSONResponse(error_body(exc.reason_code, redact_text(exc.message)), status)


async def _internal_error(_request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body(INTERNAL_ERROR, "internal error"), status_code=500)
