"""The operator server's security: token, login codes, CSRF, body limit and headers.

* :class:`Auth` — one long-lived random token per server, kept in a token file only its owner
  may read (``0600``), bound to one operator name. A browser never sees the token in a URL:
  ``quant serve`` prints a *one-time login code* that expires; redeeming it sets the
  ``quant_session`` cookie (HttpOnly, SameSite=Strict). Programs send
  ``Authorization: Bearer <token>``.
* :func:`current_operator` — the dependency every route takes: the operator's name, or 401.
* :func:`csrf_protect` — the dependency every state change takes: a foreign ``Origin`` (or
  ``Referer``, or ``Sec-Fetch-Site: cross-site``) is refused with 403; a cookie-authenticated
  request must also carry the CSRF token (header ``X-CSRF-Token`` or form field
  ``csrf_token``), which is :meth:`Auth.csrf_for` of its token. Bearer requests need none: a
  browser never adds that header by itself.
* :class:`BodyLimitMiddleware` — 413 for a declared or streamed body over the limit.
* :class:`SecurityHeadersMiddleware` — CSP ``default-src 'self'`` (no inline script),
  ``frame-ancestors 'none'``, ``nosniff``, ``no-referrer``; API answers are never cached.

There is no CORS middleware on purpose: a page of another origin cannot read any answer.
The token never leaves this module except through the token file and :meth:`Auth.redeem`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quant_apps.serve import reasons
from quant_core import Clock
from quant_core.errors import QuantUsageError, RejectedError
from quant_core.settings import Secret

__all__ = [
    "COOKIE",
    "CSP",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "DEFAULT_BODY_LIMIT",
    "ApiError",
    "Auth",
    "BodyLimitMiddleware",
    "SecurityHeadersMiddleware",
    "check_operator_name",
    "clear_session_cookie",
    "csrf_protect",
    "current_operator",
    "error_body",
    "session_token",
    "set_session_cookie",
]

COOKIE = "quant_session"
"""The session cookie: holds the token, HttpOnly, SameSite=Strict, path ``/``."""
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
DEFAULT_BODY_LIMIT = 64 * 1024
"""Bytes a request body may hold: profiles and reasons are small."""
CODE_TTL_S = 300
"""Seconds a one-time login code stays valid."""
MAX_OPEN_CODES = 16
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN_BYTES = 32
_NS = 10**9


class ApiError(HTTPException):
    """A refusal the server answers as ``{"ok": false, "reason_code", "message"}``.

    Examples:
        >>> error = ApiError(403, "CSRF_REFUSED", "foreign origin")
        >>> error.status_code, error.reason_code
        (403, 'CSRF_REFUSED')
    """

    def __init__(
        self,
        status_code: int,
        reason_code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """A refusal with HTTP ``status_code``, a registered ``reason_code`` and a message."""
        super().__init__(status_code, detail=message, headers=headers)
        self.reason_code = reason_code
        self.message = message


def check_operator_name(name: str) -> str:
    """Return ``name`` stripped, or raise ``OPERATOR_NAME_INVALID``.

    Examples:
        >>> check_operator_name(" alice ")
        'alice'
    """
    name = name.strip()
    if not 0 < len(name) <= 64 or not name.isprintable():
        raise QuantUsageError(
            "an operator name needs 1 to 64 printable characters",
            reason_code=reasons.OPERATOR_NAME_INVALID,
        )
    return name


class Auth:
    """The server's one token, its operator, its login codes and CSRF tokens.

    Args:
        token: the long-lived token (kept as a :class:`~quant_core.settings.Secret`).
        operator: the name every change made with this token is attributed to.
        clock: the clock login codes expire on.
        path: the token file it came from (for messages), if any.
        code_ttl_s: seconds a login code stays valid.
        new_code: makes a fresh random code (default :func:`secrets.token_urlsafe`).

    Examples:
        >>> from quant_core import SimClock
        >>> clock = SimClock(0)
        >>> auth = Auth("t0ken", "alice", clock=clock)
        >>> auth
        Auth(operator='alice', path=None)
        >>> auth.operator_for("t0ken"), auth.operator_for("guess")
        ('alice', None)
        >>> code = auth.new_login_code()
        >>> auth.redeem(code) == "t0ken", auth.redeem(code)
        (True, None)
        >>> late = auth.new_login_code()
        >>> clock.advance_by(CODE_TTL_S * 10**9 + 1)
        >>> auth.redeem(late) is None
        True
    """

    def __init__(
        self,
        token: str,
        operator: str,
        *,
        clock: Clock,
        path: Path | None = None,
        code_ttl_s: int = CODE_TTL_S,
        new_code: Callable[[int], str] = secrets.token_urlsafe,
    ) -> None:
        """Hold ``token`` for ``operator`` (see the class docs)."""
        self._token = Secret(token)
        self.operator = check_operator_name(operator)
        self.path = path
        self._clock = clock
        self._ttl_ns = code_ttl_s * _NS
        self._new_code = new_code
        self._codes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._csrf_key = hashlib.sha256(b"quant-serve csrf\0" + token.encode()).digest()

    @classmethod
    def load_or_create(
        cls,
        path: Path,
        *,
        operator: str | None,
        clock: Clock,
        default_operator: str = "operator",
        new_token: Callable[[int], str] = secrets.token_urlsafe,
    ) -> Auth:
        """Read the token file at ``path``, or create it (mode ``0600``) on first start.

        An existing file keeps its token; ``operator`` (when given and different) renames its
        operator. A new file gets ``operator`` or ``default_operator``.

        Raises:
            RejectedError: ``TOKEN_FILE_INSECURE`` when the file is open to group or others,
                belongs to another user, or is not a token file (its contents are never
                shown).
        """
        if path.exists():
            info = path.stat()
            mode = info.st_mode
            if mode & 0o077 or info.st_uid != os.getuid():
                raise RejectedError(
                    f"the token file {path} is open to others or not yours (mode "
                    f"{mode & 0o777:o}); make it owner-only (chmod 600) or delete it to make "
                    "a new one",
                    reason_code=reasons.TOKEN_FILE_INSECURE,
                )
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                token, name = str(stored["token"]), str(stored["operator"])
            except (ValueError, KeyError, TypeError):
                raise RejectedError(
                    f"{path} is not a quant serve token file",
                    reason_code=reasons.TOKEN_FILE_INSECURE,
                ) from None
            if operator is not None and check_operator_name(operator) != name:
                name = check_operator_name(operator)
                _write_token_file(path, token, name)
        else:
            token = new_token(_TOKEN_BYTES)
            name = check_operator_name(operator or default_operator)
            _write_token_file(path, token, name)
        return cls(token, name, clock=clock, path=path)

    def __repr__(self) -> str:
        """Never shows the token."""
        return f"Auth(operator={self.operator!r}, path={self.path!r})"

    def operator_for(self, token: str) -> str | None:
        """The operator ``token`` authenticates, or ``None`` (compared in constant time)."""
        if hmac.compare_digest(token.encode(), self._token.reveal().encode()):
            return self.operator
        return None

    def new_login_code(self) -> str:
        """A fresh one-time login code, valid for ``code_ttl_s`` seconds."""
        now = self._clock.now_ns()
        code = self._new_code(16)
        with self._lock:
            self._codes = {c: t for c, t in self._codes.items() if t > now}
            while len(self._codes) >= MAX_OPEN_CODES:
                del self._codes[next(iter(self._codes))]
            self._codes[code] = now + self._ttl_ns
        return code

    def redeem(self, code: str) -> str | None:
        """The token for a valid, unused ``code`` (spending it), else ``None``."""
        with self._lock:
            expires = self._codes.pop(code, None)
        if expires is None or self._clock.now_ns() > expires:
            return None
        return self._token.reveal()

    def csrf_for(self, token: str) -> str:
        """The CSRF token of a session holding ``token`` (an HMAC; it reveals nothing)."""
        return hmac.new(self._csrf_key, token.encode(), hashlib.sha256).hexdigest()


def _write_token_file(path: Path, token: str, operator: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"operator": operator, "token": token, "version": 1}, fh)
        fh.write("\n")
    os.replace(temp, path)


def set_session_cookie(response: Response, token: str) -> None:
    """Set the ``quant_session`` cookie (HttpOnly, SameSite=Strict) on ``response``."""
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")


def clear_session_cookie(response: Response) -> None:
    """Delete the ``quant_session`` cookie."""
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", path="/")


def _auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def session_token(request: Request) -> str | None:
    """The token a request carries: its bearer header, else its ``quant_session`` cookie."""
    return _bearer(request) or request.cookies.get(COOKIE) or None


def current_operator(request: Request) -> str:
    """FastAPI dependency: the operator the request's token names, else 401.

    The token comes from ``Authorization: Bearer`` or, failing that, the ``quant_session``
    cookie. The refusal never echoes what was sent.
    """
    token = session_token(request)
    challenge = {"WWW-Authenticate": "Bearer"}
    if not token:
        raise ApiError(401, reasons.AUTH_REQUIRED, "a token is required", challenge)
    operator = _auth(request).operator_for(token)
    if operator is None:
        raise ApiError(401, reasons.AUTH_INVALID, "the token is not valid", challenge)
    return operator


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _refuse_csrf(message: str) -> ApiError:
    return ApiError(403, reasons.CSRF_REFUSED, message)


async def csrf_protect(request: Request) -> None:
    """FastAPI dependency for every state change: same origin, and a CSRF token with cookies.

    Safe methods pass. Otherwise a present ``Origin`` (else ``Referer``) must be one of the
    app's origins or the request's own (``Host``), and ``Sec-Fetch-Site`` must not be
    ``cross-site``; a request authenticated by the cookie (no bearer header) must carry
    ``X-CSRF-Token`` or a ``csrf_token`` form field equal to :meth:`Auth.csrf_for` of its
    token.
    """
    if request.method in _SAFE_METHODS:
        return
    origins: frozenset[str] = request.app.state.origins
    # The request's own origin always counts: the Host check (loopback names only, unless
    # remote) has vetted it, and a rebinding page lacks the token anyway.
    origins = origins | {f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    if origin is not None and origin.lower() not in origins:
        raise _refuse_csrf("the request's Origin is not this server")
    if origin is None and referer is not None and _origin_of(referer) not in origins:
        raise _refuse_csrf("the request's Referer is not this server")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise _refuse_csrf("the browser marked the request cross-site")
    if _bearer(request) is not None:
        return
    token = request.cookies.get(COOKIE)
    if not token or _auth(request).operator_for(token) is None:
        return  # unauthenticated: current_operator answers 401 where a token is needed
    sent = request.headers.get(CSRF_HEADER.lower())
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if sent is None or not hmac.compare_digest(sent, _auth(request).csrf_for(token)):
        raise _refuse_csrf("a cookie session's state change needs its CSRF token")


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes with 413 ``BODY_TOO_LARGE``.

    A declared ``Content-Length`` over the limit is refused before the app runs; a streamed
    body is counted as the app reads it and refused when it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, limit: int = DEFAULT_BODY_LIMIT) -> None:
        """Wrap ``app``."""
        self.app, self.limit = app, limit

    def _too_large(self) -> ApiError:
        message = f"request bodies are limited to {self.limit} bytes"
        return ApiError(413, reasons.BODY_TOO_LARGE, message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the streamed bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _send_json(send, self._too_large())
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise self._too_large()
            return message

        await self.app(scope, counted, send)


async def _send_json(send: Send, error: ApiError) -> None:
    body = json.dumps(error_body(error.reason_code, error.message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def error_body(reason_code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of every refusal.

    Examples:
        >>> error_body("CSRF_REFUSED", "no")
        {'ok': False, 'reason_code': 'CSRF_REFUSED', 'message': 'no'}
    """
    return {"ok": False, "reason_code": reason_code, "message": message, **extra}


_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP answer; ``Cache-Control: no-store`` on the API."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers as the answer starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = not str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                drop = _NAMES | {b"cache-control"} if no_store else _NAMES
                headers = [h for h in message.get("headers", []) if h[0] not in drop]
                headers.extend(_HEADERS)
                if no_store:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


_NAMES = frozenset(name for name, _ in _HEADERS)
