"""The operator server's security: token file, login codes, CSRF, body limit, headers.

The app is the real :func:`create_app`; the state-changing route under test is a router
passed in the way the UI's are (``current_operator`` + ``csrf_protect``), so these tests need
no running session.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, Form, Request

from quant_apps.serve import Auth, create_app, csrf_protect, current_operator
from quant_apps.serve.security import COOKIE, CSP, BodyLimitMiddleware, check_operator_name
from quant_core import SimClock
from quant_core.errors import QuantError

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:8765"
TOKEN = "s3cret-token-value"


def _ui_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(csrf_protect)])

    @router.post("/ui/echo")
    def echo(
        operator: Annotated[str, Depends(current_operator)],
        text: Annotated[str, Form(max_length=2000)],
    ) -> dict[str, Any]:
        return {"operator": operator, "text": text}

    @router.get("/page")
    def page(operator: Annotated[str, Depends(current_operator)]) -> dict[str, str]:
        return {"operator": operator}

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    @router.get("/refused")
    def refused(request: Request) -> None:
        raise QuantError("nope <b>", reason_code="INVALID_INPUT")

    return router


@pytest.fixture
def auth() -> Auth:
    return Auth(TOKEN, "alice", clock=SimClock(0))


@pytest.fixture
async def client(auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        None,  # type: ignore[arg-type]  # these routes need no session
        auth,
        origin=ORIGIN,
        routers=[_ui_router()],
        body_limit=1024,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as c:
        yield c


BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_no_token_is_401_with_a_reason_code(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/v1/session")
    assert answer.status_code == 401
    assert answer.json() == {
        "ok": False,
        "reason_code": "AUTH_REQUIRED",
        "message": "a token is required",
    }
    assert answer.headers["www-authenticate"] == "Bearer"
    wrong = await client.get("/api/v1/session", headers={"Authorization": "Bearer guess"})
    assert (wrong.status_code, wrong.json()["reason_code"]) == (401, "AUTH_INVALID")
    assert "guess" not in wrong.text
    basic = await client.get("/api/v1/session", headers={"Authorization": "Basic eDp5"})
    assert basic.json()["reason_code"] == "AUTH_REQUIRED"


async def test_a_page_without_a_session_redirects_to_login(client: httpx.AsyncClient) -> None:
    answer = await client.get("/page")
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert (await client.get("/page", headers=BEARER)).json() == {"operator": "alice"}


async def test_bearer_session_and_openapi(client: httpx.AsyncClient, auth: Auth) -> None:
    answer = await client.get("/api/v1/session", headers=BEARER)
    assert answer.json() == {"operator": "alice", "csrf_token": auth.csrf_for(TOKEN)}
    assert (await client.get("/api/v1/openapi.json")).status_code == 401
    schema = (await client.get("/api/v1/openapi.json", headers=BEARER)).json()
    engage = schema["paths"]["/api/v1/killswitch/engage"]["post"]
    refused = engage["responses"]["409"]["content"]["application/json"]["schema"]
    assert refused == {"$ref": "#/components/schemas/CommandBody"}
    assert {"401", "403", "413", "422"} <= engage["responses"].keys()
    assert (await client.get("/docs")).status_code == 404


async def test_login_code_sets_an_httponly_strict_cookie_once(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    code = auth.new_login_code()
    answer = await client.post("/api/v1/login", json={"code": code})
    assert answer.json() == {"ok": True, "operator": "alice", "csrf_token": auth.csrf_for(TOKEN)}
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith(f"{COOKIE}=")
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert TOKEN not in answer.text  # the token travels only in the cookie header
    assert (await client.get("/api/v1/session")).json()["operator"] == "alice"
    headers = {"X-CSRF-Token": auth.csrf_for(TOKEN)}
    out = await client.post("/api/v1/logout", headers=headers)
    assert out.json() == {"ok": True}
    assert 'quant_session=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert (await client.get("/api/v1/session")).status_code == 401
    again = await client.post("/api/v1/login", json={"code": code})
    assert (again.status_code, again.json()["reason_code"]) == (401, "LOGIN_CODE_INVALID")


async def test_foreign_origin_on_a_state_change_is_403(client: httpx.AsyncClient) -> None:
    for headers in (
        {"Origin": "http://evil.example"},
        {"Referer": "http://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        answer = await client.post("/ui/echo", data={"text": "x"}, headers={**BEARER, **headers})
        assert answer.status_code == 403, headers
        assert answer.json()["reason_code"] == "CSRF_REFUSED"
    same = {"Origin": ORIGIN, "Referer": f"{ORIGIN}/profiles"}
    ok = await client.post("/ui/echo", data={"text": "x"}, headers={**BEARER, **same})
    assert ok.json() == {"operator": "alice", "text": "x"}


async def test_cookie_state_changes_need_the_csrf_token(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    client.cookies.set(COOKIE, TOKEN)
    bare = await client.post("/ui/echo", data={"text": "x"})
    assert (bare.status_code, bare.json()["reason_code"]) == (403, "CSRF_REFUSED")
    wrong = await client.post("/ui/echo", data={"text": "x", "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    csrf = auth.csrf_for(TOKEN)
    form = await client.post("/ui/echo", data={"text": "x", "csrf_token": csrf})
    assert form.json() == {"operator": "alice", "text": "x"}
    multipart = await client.post(
        "/ui/echo", data={"text": "y", "csrf_token": csrf}, files={"f": ("a", b"1")}
    )
    assert multipart.json()["text"] == "y"
    header = await client.post("/ui/echo", data={"text": "z"}, headers={"X-CSRF-Token": csrf})
    assert header.json()["text"] == "z"
    as_json = await client.post("/api/v1/logout", json={})
    assert as_json.status_code == 403  # JSON body: only the header counts


async def test_a_stale_cookie_is_401_not_403(client: httpx.AsyncClient) -> None:
    client.cookies.set(COOKIE, "old-token")
    answer = await client.post("/ui/echo", data={"text": "x"})
    assert (answer.status_code, answer.json()["reason_code"]) == (401, "AUTH_INVALID")


async def test_oversized_bodies_are_413(client: httpx.AsyncClient) -> None:
    big = "x" * 2000
    declared = await client.post("/ui/echo", data={"text": big}, headers=BEARER)
    assert (declared.status_code, declared.json()["reason_code"]) == (413, "BODY_TOO_LARGE")
    bogus = await client.post(
        "/ui/echo", content=b"text=x", headers={**BEARER, "Content-Length": "ten"}
    )
    assert bogus.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"text=" + b"x" * 400 + b"&"

    streamed = await client.post(
        "/ui/echo",
        content=chunks(),
        headers={**BEARER, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (streamed.status_code, streamed.json()["reason_code"]) == (413, "BODY_TOO_LARGE")
    small = await client.post("/ui/echo", data={"text": "ok"}, headers=BEARER)
    assert small.status_code == 200


async def test_security_headers_and_no_cors(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "/api/v1/session", headers={**BEARER, "Origin": "http://evil.example"}
    )
    assert answer.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP
    assert "frame-ancestors 'none'" in CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in answer.headers
    preflight = await client.options(
        "/api/v1/killswitch/engage",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.json()["reason_code"] == "ROUTE_NOT_FOUND"


async def test_foreign_host_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/v1/session", headers={**BEARER, "Host": "evil.example"})
    assert answer.status_code == 400


async def test_errors_share_one_json_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing", headers=BEARER)
    assert (missing.status_code, missing.json()["reason_code"]) == (404, "ROUTE_NOT_FOUND")
    invalid = await client.post("/api/v1/login", json={"code": "", "extra": 1})
    body = invalid.json()
    assert (invalid.status_code, body["reason_code"]) == (422, "INVALID_INPUT")
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "code"), ("body", "extra")}
    broken = await client.post(
        "/api/v1/login", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    boom = await client.get("/boom")
    assert boom.json() == {
        "ok": False,
        "reason_code": "INTERNAL_ERROR",
        "message": "internal error",
    }
    refused = await client.get("/refused")
    assert refused.status_code == 409
    assert refused.json()["message"] == "nope <b>"


async def test_get_without_body_or_other_scopes_pass_the_middleware() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await BodyLimitMiddleware(app, limit=1)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    from quant_apps.serve.security import SecurityHeadersMiddleware

    await SecurityHeadersMiddleware(app)({"type": "websocket"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan", "websocket"]


# --- Auth and the token file --------------------------------------------------------------


def test_token_file_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "serve" / "serve.token"
    clock = SimClock(0)
    first = Auth.load_or_create(path, operator=None, clock=clock, default_operator="bob")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.operator == "bob"
    assert first.path == path
    token = json.loads(path.read_text())["token"]
    assert len(token) >= 43
    assert first.operator_for(token) == "bob"
    assert token not in repr(first)
    assert "bob" in repr(first)
    again = Auth.load_or_create(path, operator=None, clock=clock)
    assert again.operator_for(token) == "bob"
    renamed = Auth.load_or_create(path, operator="carol", clock=clock)
    assert renamed.operator_for(token) == "carol"
    assert json.loads(path.read_text()) == {"operator": "carol", "token": token, "version": 1}
    same = Auth.load_or_create(path, operator="carol", clock=clock)
    assert same.operator == "carol"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["serve.token"]


def test_an_open_or_foreign_token_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "serve.token"
    Auth.load_or_create(path, operator="alice", clock=SimClock(0))
    token = json.loads(path.read_text())["token"]
    os.chmod(path, 0o644)
    with pytest.raises(QuantError) as info:
        Auth.load_or_create(path, operator=None, clock=SimClock(0))
    assert info.value.reason_code == "TOKEN_FILE_INSECURE"
    assert token not in str(info.value)
    path.write_text('{"token": 1}')
    os.chmod(path, 0o600)
    with pytest.raises(QuantError) as info:
        Auth.load_or_create(path, operator=None, clock=SimClock(0))
    assert info.value.reason_code == "TOKEN_FILE_INSECURE"


def test_login_codes_expire_and_are_bounded() -> None:
    clock = SimClock(0)
    counter = iter(range(1000))
    auth = Auth(TOKEN, "alice", clock=clock, code_ttl_s=10, new_code=lambda _n: f"c{next(counter)}")
    codes = [auth.new_login_code() for _ in range(20)]
    assert auth.redeem(codes[0]) is None  # pushed out: at most 16 open codes
    assert auth.redeem(codes[-1]) == TOKEN
    clock.advance_by(11 * 10**9)
    assert auth.redeem(codes[-2]) is None
    assert auth.redeem("c999") is None
    fresh = auth.new_login_code()  # expired codes are dropped as new ones are made
    assert auth.redeem(fresh) == TOKEN


@pytest.mark.parametrize("name", ["", " ", "x" * 65, "bad\nname"])
def test_operator_names_are_checked(name: str) -> None:
    with pytest.raises(QuantError) as info:
        check_operator_name(name)
    assert info.value.reason_code == "OPERATOR_NAME_INVALID"


async def test_a_malformed_form_is_400_invalid_input(client: httpx.AsyncClient) -> None:
    client.cookies.set(COOKIE, TOKEN)
    answer = await client.post(
        "/ui/echo", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"}
    )
    assert (answer.status_code, answer.json()["reason_code"]) == (400, "INVALID_INPUT")
