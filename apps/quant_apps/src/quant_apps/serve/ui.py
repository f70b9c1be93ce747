"""The operator web UI: server-rendered pages and htmx fragments over the control plane.

Pages are GET routes (``/``, ``/decisions``, ``/holdings``, ``/assets/{coin}``, ``/risk``,
``/profiles``, ``/bundles``, ``/data``, ``/audit``, ``/kraken`` (onboarding), ``/login``);
a page request without a session answers 401, which the app
(:func:`~quant_apps.serve.app.create_app`) turns into a redirect to ``/login``. Every state
change is a POST under ``/ui/...`` that calls the same
:class:`~quant_apps.runtime.operator.control.ControlPlane` method the API calls (so a refusal
carries the same reason code), is protected by :func:`~quant_apps.serve.security.csrf_protect`
and attributed to :func:`~quant_apps.serve.security.current_operator`, and answers an HTML
fragment. Live updates: ``static/app.js`` turns the server-sent events of ``/api/v1/events``
into DOM events (``quant:decision``, ``quant:fill``, ``quant:status``, ``quant:change``) that
the fragments under ``/ui/fragments/...`` re-fetch on.

Templates autoescape everything; nothing from the data is marked safe. There is no inline
script or style (the CSP is ``default-src 'self'``): chart data is fetched as JSON from
``/ui/data/...`` by ``static/app.js``.

Examples:
    >>> iso_ns(1_704_067_200 * 10**9)
    '2024-01-01 00:00:00Z'
    >>> duration(3725), duration(None), iso_ns(None)
    ('1h 02m 05s', '—', '—')
    >>> fixed("0.123456", 2), fixed(None), fixed("abc")
    ('0.12', '—', 'abc')
    >>> horizon(4 * 3600 * 10**9), horizon(24 * 3600 * 10**9), horizon(None)
    ('4h', '1d', '—')
    >>> short_profile("strategy v2 / risk v1 / sha256:ab12"), short_profile(None)
    ('strategy v2 / risk v1', '—')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from quant_apps.runtime.trading.credentials import CredentialStore
from quant_apps.runtime.trading.onboarding import onboarding_status
from quant_apps.serve import reasons as serve_reasons
from quant_apps.serve._control import CommandResult, ControlPlane
from quant_apps.serve.security import (
    COOKIE,
    clear_session_cookie,
    csrf_protect,
    current_operator,
    set_session_cookie,
)
from quant_core import reasons
from quant_core.errors import QuantError

if TYPE_CHECKING:
    from quant_apps.serve.security import Auth

__all__ = ["duration", "fixed", "horizon", "iso_ns", "router", "short_profile"]

HERE = Path(__file__).resolve().parent
ACTIONS = ("none", "buy", "sell", "rejected")
PAGE_SIZE = 25
"""Decisions per page."""
NAV = (
    ("/", "Overview"),
    ("/decisions", "Decisions"),
    ("/holdings", "Holdings"),
    ("/risk", "Risk gates"),
    ("/profiles", "Profiles"),
    ("/bundles", "Bundles"),
    ("/data", "Data"),
    ("/audit", "Audit"),
    ("/kraken", "Kraken"),
)


def iso_ns(ns: object) -> str:
    """A UTC timestamp in ns as ``YYYY-MM-DD HH:MM:SSZ`` (``—`` for ``None`` or missing)."""
    if not isinstance(ns, int):
        return "—"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: object) -> str:
    """A duration in seconds as ``1h 02m 05s`` (``—`` for ``None`` or missing)."""
    if not isinstance(seconds, int | float):
        return "—"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s"


def fixed(value: Any, places: int = 2) -> str:
    """A decimal (string or number) rounded to ``places``; other text as it is."""
    if value is None or isinstance(value, jinja2.Undefined):
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{number:.{places}f}"


def horizon(ns: object) -> str:
    """A horizon in ns as ``4h`` or ``1d`` (``—`` for a missing one)."""
    if not isinstance(ns, int):
        return "—"
    hours = ns // (3600 * 10**9)
    return f"{hours // 24}d" if hours and hours % 24 == 0 else f"{hours}h"


def short_profile(label: object) -> str:
    """A profile label without its content hash: ``strategy v2 / risk v1``."""
    parts = str(label or "").split(" / ")
    return " / ".join(p for p in parts if not p.startswith("sha256:")) or "—"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        iso_ns=iso_ns, duration=duration, fixed=fixed, horizon=horizon, short_profile=short_profile
    )
    env.globals.update(nav=NAV, actions=ACTIONS)
    return env


TEMPLATES = Jinja2Templates(env=_environment())
router = APIRouter(include_in_schema=False)


def _control(request: Request) -> ControlPlane:
    control: ControlPlane = request.app.state.control
    return control


def _auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


# A page GET without a session answers 401, which the app turns into a redirect to /login.
Operator = Annotated[str, Depends(current_operator)]
CHANGE = [Depends(csrf_protect)]


def _csrf(request: Request) -> str:
    token = request.cookies.get(COOKIE)
    return _auth(request).csrf_for(token) if token else ""


def _coins(control: ControlPlane) -> list[str]:
    return [f["instrument"] for f in control.status().get("freshness", [])]


def _page(
    request: Request, name: str, operator: str, context: Mapping[str, Any], status: int = 200
) -> HTMLResponse:
    now = _control(request).status()
    ctx = {
        "operator": operator,
        "csrf_token": _csrf(request),
        "path": request.url.path,
        "coins": [f["instrument"] for f in now.get("freshness", [])],
        "mode": now.get("mode", "paper"),
        **context,
    }
    return TEMPLATES.TemplateResponse(request, name, ctx, status_code=status)


def _fragment(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, dict(context), headers=headers)


def _refused(message: str, kind: str, actor: str) -> dict[str, Any]:
    """A change the form itself refuses, shaped as the control plane's answers are."""
    return CommandResult(False, kind, actor, message, reasons.INVALID_INPUT).to_dict()


def _result(request: Request, result: Mapping[str, Any]) -> HTMLResponse:
    headers = {"HX-Trigger": "quant:change"} if result.get("ok") else None
    return _fragment(request, "fragments/result.html", {"result": result}, headers)


def _unconfirmed(kind: str, actor: str) -> dict[str, Any]:
    return _refused("Tick the confirmation box to go ahead.", kind, actor)


# --- login ------------------------------------------------------------------------------


def _login_page(request: Request, error: QuantError | None, status: int) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "operator": None,
        "error": error,
        "path": "/login",
        "coins": [],
        "csrf_token": "",
    }
    return TEMPLATES.TemplateResponse(request, "login.html", ctx, status_code=status)


def _signed_in(token: str) -> RedirectResponse:
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, token)
    return response


@router.get("/login", response_model=None)
def login(request: Request, code: str | None = None) -> Response:
    """The sign-in form; ``?code=`` redeems a one-time code printed by ``quant serve``."""
    if code is None:
        return _login_page(request, None, 200)
    token = _auth(request).redeem(code)
    if token is None:
        error = QuantError(
            "That sign-in code is not valid: unknown, used or expired.",
            reason_code=serve_reasons.LOGIN_CODE_INVALID,
        )
        return _login_page(request, error, 401)
    return _signed_in(token)


@router.post("/login", response_model=None, dependencies=CHANGE)
def login_token(request: Request, token: Annotated[str, Form()] = "") -> Response:
    """Sign in with the access token; sets the session cookie and goes to the overview."""
    if _auth(request).operator_for(token) is None:
        error = QuantError("That token is not valid.", reason_code=serve_reasons.AUTH_INVALID)
        return _login_page(request, error, 401)
    return _signed_in(token)


@router.post("/ui/logout", dependencies=CHANGE)
def logout(_: Operator) -> RedirectResponse:
    """Forget the session cookie."""
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response)
    return response


# --- pages ------------------------------------------------------------------------------


def _overview(control: ControlPlane) -> dict[str, Any]:
    return {"health": control.health(), "status": control.status()}


@router.get("/")
def overview(request: Request, operator: Operator) -> HTMLResponse:
    """Health, mode, uptime, the kill switch and the equity curve."""
    return _page(request, "overview.html", operator, _overview(_control(request)))


@router.get("/ui/fragments/status")
def overview_fragment(request: Request, _: Operator) -> HTMLResponse:
    """The overview's status block (re-fetched on live events)."""
    return _fragment(request, "fragments/status.html", _overview(_control(request)))


@router.get("/ui/data/equity")
def equity_data(request: Request, _: Operator) -> JSONResponse:
    """The equity curve as ``[[time_s, value], ...]`` for the overview chart."""
    equity = _control(request).status().get("equity", [])
    return JSONResponse([[ns // 10**9, str(pv)] for ns, pv in equity])


def _decisions(
    control: ControlPlane,
    coin: str | None,
    reason: str | None,
    action: str | None,
    before: int | None,
) -> dict[str, Any]:
    filters = {"instrument": coin or None, "reason": reason or None, "action": action or None}
    try:
        page = control.decisions(before=before, limit=PAGE_SIZE, **filters)
        error = None
    except QuantError as exc:
        page, error = {"items": [], "next_before": None}, exc
    return {
        "page": page,
        "error": error,
        "filters": {"coin": coin or "", "reason": reason or "", "action": action or ""},
        "before": before,
        "reason_codes": control.reason_codes(),
        "predictions": control.predictions(),
    }


@router.get("/decisions")
def decisions(
    request: Request,
    operator: Operator,
    coin: str | None = None,
    reason: str | None = None,
    action: str | None = None,
    before: Annotated[int | None, Query()] = None,
) -> HTMLResponse:
    """Decisions, newest first, filtered by coin, reason code and action ("why no trade")."""
    ctx = _decisions(_control(request), coin, reason, action, before)
    return _page(request, "decisions.html", operator, ctx, 400 if ctx["error"] else 200)


@router.get("/ui/fragments/decisions")
def decisions_fragment(
    request: Request,
    _: Operator,
    coin: str | None = None,
    reason: str | None = None,
    action: str | None = None,
) -> HTMLResponse:
    """The newest decisions with the given filters (re-fetched when a decision is pushed)."""
    ctx = _decisions(_control(request), coin, reason, action, None)
    return _fragment(request, "fragments/decisions.html", ctx)


def _holdings(control: ControlPlane) -> dict[str, Any]:
    return {
        "holdings": control.holdings(),
        "orders": control.orders(),
        "ledger": control.ledger(),
    }


@router.get("/holdings")
def holdings(request: Request, operator: Operator) -> HTMLResponse:
    """Positions, working orders and the ledger's fills."""
    return _page(request, "holdings.html", operator, _holdings(_control(request)))


@router.get("/ui/fragments/holdings")
def holdings_fragment(request: Request, _: Operator) -> HTMLResponse:
    """The holdings block (re-fetched on fills and decisions)."""
    return _fragment(request, "fragments/holdings.html", _holdings(_control(request)))


def _instrument(control: ControlPlane, coin: str) -> str:
    for instrument in _coins(control):
        if coin in (instrument, instrument.split("/")[0]):
            return instrument
    return coin


@router.get("/assets/{coin}")
def asset(request: Request, operator: Operator, coin: str) -> HTMLResponse:
    """One coin's candles with entries, partial exits, exits and the prediction overlay."""
    control = _control(request)
    instrument = _instrument(control, coin)
    try:
        chart = control.candles(instrument)
    except QuantError as exc:
        ctx = {"title": f"No such coin: {coin}", "error": exc}
        return _page(request, "error.html", operator, ctx, 404)
    ctx = {"instrument": instrument, "coin": coin, "chart": chart}
    return _page(request, "asset.html", operator, ctx)


@router.get("/ui/data/assets/{coin}")
def asset_data(request: Request, _: Operator, coin: str) -> JSONResponse:
    """The asset chart's data (bars, markers, predictions) as JSON."""
    control = _control(request)
    try:
        return JSONResponse(control.candles(_instrument(control, coin)))
    except QuantError as exc:
        return JSONResponse({"reason_code": exc.reason_code, "message": exc.message}, 404)


@router.get("/risk")
def risk(request: Request, operator: Operator) -> HTMLResponse:
    """Each risk gate's use against its limit."""
    return _page(request, "risk.html", operator, {"gates": _control(request).risk()})


@router.get("/ui/fragments/risk")
def risk_fragment(request: Request, _: Operator) -> HTMLResponse:
    """The risk gates block (re-fetched on live events)."""
    return _fragment(request, "fragments/risk.html", {"gates": _control(request).risk()})


def _profile_fields(profiles: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One form field per parameter (a nested value, such as an exposure limit, per part)."""
    bounds = profiles.get("bounds", {})
    fields = []
    for kind in ("strategy", "risk"):
        for name, value in profiles.get(kind, {}).get("values", {}).items():
            bound = bounds.get(f"{kind}.{name}") or bounds.get(name) or {}
            parts = value.items() if isinstance(value, Mapping) else [(None, value)]
            for part, current in parts:
                key = ".".join(p for p in (kind, name, part) if p)
                fields.append(
                    {"key": key, "kind": kind, "name": name, "part": part, "value": current}
                    | {k: bound.get(k) for k in ("min", "max", "unit", "doc")}
                )
    return fields


@router.get("/profiles")
def profiles(request: Request, operator: Operator) -> HTMLResponse:
    """Current strategy and risk profiles with bounds; an edit form with a diff preview."""
    current = _control(request).profiles()
    ctx = {"profiles": current, "fields": _profile_fields(current)}
    return _page(request, "profiles.html", operator, ctx)


@router.get("/ui/fragments/profiles")
def profiles_fragment(request: Request, _: Operator) -> HTMLResponse:
    """The current profile versions (re-fetched after a change)."""
    return _fragment(request, "fragments/profiles.html", {"profiles": _control(request).profiles()})


def _changes(fields: list[dict[str, Any]], form: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What the form changes: ``{"strategy": {...}, "risk": {...}}`` (empty parts omitted)."""
    changes: dict[str, dict[str, Any]] = {"strategy": {}, "risk": {}}
    changed = {
        (f["kind"], f["name"])
        for f in fields
        if f["key"] in form and str(form[f["key"]]).strip() != str(f["value"])
    }
    for f in fields:
        if (f["kind"], f["name"]) not in changed:
            continue
        raw = str(form.get(f["key"], f["value"])).strip()
        value: Any = int(raw) if type(f["value"]) is int and raw.lstrip("-").isdigit() else raw
        target = changes[f["kind"]]
        if f["part"] is None:
            target[f["name"]] = value
        else:
            target.setdefault(f["name"], {})[f["part"]] = value
    return {k: v for k, v in changes.items() if v}


@router.post("/ui/profiles/preview", dependencies=CHANGE)
async def profiles_preview(request: Request, _: Operator) -> HTMLResponse:
    """The diff a profile edit would make (no change made), or why it would be refused."""
    control = _control(request)
    form = await request.form()
    changes = _changes(_profile_fields(control.profiles()), form)
    diff = (
        control.profile_diff(changes.get("strategy"), changes.get("risk"))
        if changes
        else {"ok": True, "changes": []}
    )
    ctx = {"diff": diff, "changes_json": json.dumps(changes, sort_keys=True)}
    return _fragment(request, "fragments/profile_preview.html", ctx)


@router.post("/ui/profiles/apply", dependencies=CHANGE)
def profiles_apply(
    request: Request,
    operator: Operator,
    changes: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Apply a previewed profile edit through the governed path (bounds enforced there)."""
    if confirm != "yes":
        return _result(request, _unconfirmed("apply_profile", operator))
    try:
        parsed = json.loads(changes)
        if not isinstance(parsed, dict):
            raise TypeError
    except (ValueError, TypeError):
        refused = _refused("the change set is not a JSON object", "apply_profile", operator)
        return _result(request, refused)
    result = _control(request).apply_profile(
        strategy=parsed.get("strategy"), risk=parsed.get("risk"), actor=operator, reason=reason
    )
    return _result(request, result.to_dict())


@router.post("/ui/kill-switch", dependencies=CHANGE)
def kill_switch(
    request: Request,
    operator: Operator,
    action: Annotated[str, Form()] = "engage",
    reason: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Engage (halt new risk) or release the kill switch, with a reason."""
    kind = "resume" if action == "release" else "halt"
    if confirm != "yes":
        return _result(request, _unconfirmed(kind, operator))
    control = _control(request)
    command = control.resume if kind == "resume" else control.halt
    return _result(request, command(reason, actor=operator).to_dict())


def _bundles(control: ControlPlane) -> dict[str, Any]:
    return {"bundle": control.bundle_status()}


@router.get("/bundles")
def bundles(request: Request, operator: Operator) -> HTMLResponse:
    """The bundle store: active and previous bundle, update source; check, apply, rollback."""
    return _page(request, "bundles.html", operator, _bundles(_control(request)))


@router.get("/ui/fragments/bundles")
def bundles_fragment(request: Request, _: Operator) -> HTMLResponse:
    """The bundle status block (re-fetched after a change)."""
    return _fragment(request, "fragments/bundles.html", _bundles(_control(request)))


@router.post("/ui/bundles/{command}", dependencies=CHANGE)
def bundle_command(
    request: Request, operator: Operator, command: str, confirm: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """``check``, ``apply`` or ``rollback`` (the last two need the confirmation box)."""
    control = _control(request)
    commands = {
        "check": ("check_update", control.check_update),
        "apply": ("apply_update", control.apply_update),
        "rollback": ("rollback", control.rollback),
    }
    if command not in commands:
        raise HTTPException(404, "no such bundle command")
    kind, call = commands[command]
    if command != "check" and confirm != "yes":
        return _result(request, _unconfirmed(kind, operator))
    return _result(request, call(actor=operator).to_dict())


@router.get("/data")
def data(request: Request, operator: Operator) -> HTMLResponse:
    """Data coverage per coin, its gaps and the last sync."""
    return _page(request, "data.html", operator, {"data": _control(request).data()})


@router.get("/audit")
def audit(request: Request, operator: Operator) -> HTMLResponse:
    """Verification of the hash-chained audit log."""
    return _page(request, "audit.html", operator, {"audit": _control(request).verify_audit()})


@router.get("/kraken")
def kraken(request: Request, operator: Operator) -> HTMLResponse:
    """Kraken onboarding: the permissions, the stored key (fingerprint only), going live."""
    url = getattr(request.app.state, "kraken_url", None)  # a demo's fake exchange
    status = onboarding_status(CredentialStore(), *([url] if url else []))
    return _page(request, "kraken.html", operator, {"onboarding": status})
