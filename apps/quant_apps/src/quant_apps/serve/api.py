"""The local control API under ``/api/v1``: one route per :class:`ControlPlane` method.

Every route needs the token (:func:`~quant_apps.serve.security.current_operator`); every
state change also passes :func:`~quant_apps.serve.security.csrf_protect` and is attributed to
the token's operator. Answers are the control plane's plain JSON data, unchanged. A governed
change answers its :class:`~quant_apps.runtime.operator.control.CommandResult`: 200 when
applied, 409 when refused, with the same ``reason_code`` the CLI gives. Errors are
``{"ok": false, "reason_code", "message"}`` (see :mod:`quant_apps.serve.app`).

Routes are plain ``def`` functions: FastAPI runs them on its worker threads, so a change that
waits for the runner never blocks the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from quant_apps.runtime.trading.credentials import CredentialStore
from quant_apps.runtime.trading.onboarding import onboarding_status
from quant_apps.runtime.trading.views import CHART_BARS
from quant_apps.serve import reasons
from quant_apps.serve._control import CommandResult, ControlPlane
from quant_apps.serve.security import (
    ApiError,
    clear_session_cookie,
    csrf_protect,
    current_operator,
    session_token,
    set_session_cookie,
)

__all__ = [
    "CommandBody",
    "DecisionPage",
    "ErrorBody",
    "HealthBody",
    "LoginBody",
    "ProfileApplyBody",
    "ProfileChangeBody",
    "ReasonBody",
    "router",
]

Operator = Annotated[str, Depends(current_operator)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Value = bool | int | float | Annotated[str, StringConstraints(max_length=64)] | None
Values = Annotated[dict[Name, Value], Field(max_length=64)]


class ErrorBody(BaseModel):
    """Every refusal: ``ok`` false, a stable reason code and a message."""

    ok: bool = False
    reason_code: str
    message: str


class ReasonBody(BaseModel):
    """A kill-switch change: why (it lands in the decision and audit logs)."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ProfileChangeBody(BaseModel):
    """Proposed parameter values per profile (``strategy``, ``risk``); absent = unchanged."""

    model_config = ConfigDict(extra="forbid")
    strategy: Values | None = None
    risk: Values | None = None


class ProfileApplyBody(ProfileChangeBody):
    """A profile change to apply, with its reason."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class LoginBody(BaseModel):
    """A one-time login code, as ``quant serve`` printed it."""

    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class CommandBody(BaseModel):
    """What a governed change answers: 200 when applied, 409 (``ok`` false) when refused."""

    ok: bool
    kind: str
    actor: str
    message: str
    reason_code: str | None = None
    details: dict[str, Any] = {}


class DecisionPage(BaseModel):
    """One page of decisions: the logged lines plus ``run`` and ``id``, newest first."""

    items: list[dict[str, Any]]
    next_before: int | None
    filters: dict[str, Any]


class HealthBody(BaseModel):
    """Whether the session runs, its health word and its clock."""

    ok: bool
    health: str
    now_ns: int


_COMMAND: dict[int | str, dict[str, Any]] = {
    200: {"model": CommandBody, "description": "Applied (or nothing to change)."},
    409: {"model": CommandBody, "description": "Refused; `reason_code` says why."},
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or not the server's token."},
    422: {"model": ErrorBody, "description": "The request failed validation (INVALID_INPUT)."},
}
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    403: {"model": ErrorBody, "description": "Foreign origin or missing CSRF token."},
    409: {"model": ErrorBody, "description": "Refused; the reason code says why."},
    413: {"model": ErrorBody, "description": "The body is larger than the limit."},
}

router = APIRouter(responses=_ERRORS)
changes = APIRouter(dependencies=[Depends(csrf_protect)], responses=_CHANGE_ERRORS)


def _control(request: Request) -> ControlPlane:
    control: ControlPlane = request.app.state.control
    return control


Control = Annotated[ControlPlane, Depends(_control)]


def _answer(result: CommandResult) -> JSONResponse:
    return JSONResponse(result.to_dict(), status_code=200 if result.ok else 409)


# --- session -----------------------------------------------------------------------------


@changes.post("/login", summary="Redeem a one-time login code for the session cookie")
def login(body: LoginBody, request: Request) -> JSONResponse:
    """Spend ``code``; set the ``quant_session`` cookie; answer the operator and CSRF token."""
    auth = request.app.state.auth
    token = auth.redeem(body.code)
    if token is None:
        raise ApiError(401, reasons.LOGIN_CODE_INVALID, "the login code is invalid or spent")
    response = JSONResponse(
        {"ok": True, "operator": auth.operator, "csrf_token": auth.csrf_for(token)}
    )
    set_session_cookie(response, token)
    return response


@changes.post("/logout", summary="End the browser session (delete the cookie)")
def logout(_operator: Operator) -> JSONResponse:
    """Delete the session cookie (the token itself stays valid)."""
    response = JSONResponse({"ok": True})
    clear_session_cookie(response)
    return response


@router.get("/session", summary="Who the token names, and the CSRF token for its changes")
def session(operator: Operator, request: Request) -> dict[str, Any]:
    """The operator and the CSRF token a cookie session sends with each change."""
    token = session_token(request) or ""
    return {"operator": operator, "csrf_token": request.app.state.auth.csrf_for(token)}


# --- reads -------------------------------------------------------------------------------


@router.get("/health", summary="Health of the runtime", responses={200: {"model": HealthBody}})
def health(control: Control, _operator: Operator) -> dict[str, Any]:
    """``{"ok", "health", "now_ns"}``."""
    return control.health()


@router.get("/status", summary="Mode, uptime, freshness per coin, bundle, kill switch, equity")
def status(control: Control, _operator: Operator) -> dict[str, Any]:
    """The read model's status plus uptime, cash, portfolio value and the equity curve."""
    return control.status()


@router.get("/risk", summary="Risk gates with their limits and utilisation")
def risk(control: Control, _operator: Operator) -> list[dict[str, Any]]:
    """Each gate's use against its limit (``utilisation_pct``)."""
    return control.risk()


@router.get(
    "/decisions",
    summary="Decisions, newest first, paged and filtered",
    responses={200: {"model": DecisionPage}},
)
def decisions(
    control: Control,
    _operator: Operator,
    coin: Annotated[str | None, Query(max_length=32, description="Instrument or coin.")] = None,
    reason: Annotated[str | None, Query(max_length=64, description="A reason code.")] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    run: Annotated[int | None, Query(ge=1, description="A run of the log.")] = None,
    before: Annotated[int | None, Query(ge=1, description="Cursor: `next_before`.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """``{"items", "next_before", "filters"}``; no-trade decisions included."""
    return control.decisions(
        instrument=coin, reason=reason, action=action, run=run, before=before, limit=limit
    )


@router.get("/reason-codes", summary="Reason codes seen in the decision log")
def reason_codes(control: Control, _operator: Operator) -> list[str]:
    """Distinct codes, for the decisions filter."""
    return control.reason_codes()


@router.get("/predictions", summary="Latest prediction per coin")
def predictions(control: Control, _operator: Operator) -> list[dict[str, Any]]:
    """One row per coin: instrument, time, model and the prediction's values."""
    return control.predictions()


@router.get("/holdings", summary="Open positions")
def holdings(control: Control, _operator: Operator) -> list[dict[str, Any]]:
    """One row per held instrument."""
    return control.holdings()


@router.get("/orders", summary="Open paper orders")
def orders(control: Control, _operator: Operator) -> list[dict[str, Any]]:
    """One row per open order."""
    return control.orders()


@router.get("/ledger", summary="Cash, portfolio value and fills")
def ledger(control: Control, _operator: Operator) -> dict[str, Any]:
    """``{"cash", "portfolio_value", "fills"}``."""
    return control.ledger()


@router.get("/kraken", summary="Kraken onboarding: permissions, credential store, stored key")
def kraken(request: Request, _: Operator) -> dict[str, Any]:
    """The onboarding status; a stored key only by its fingerprint (never the key)."""
    url = getattr(request.app.state, "kraken_url", None)  # a demo's fake exchange
    return onboarding_status(CredentialStore(), *([url] if url else []))


@router.get("/assets/{coin}/candles", summary="Candles with trade markers and predictions")
def candles(
    control: Control,
    _operator: Operator,
    coin: Annotated[str, Path(min_length=1, max_length=32)],
    limit: Annotated[int, Query(ge=1, le=CHART_BARS)] = CHART_BARS,
) -> dict[str, Any]:
    """``{"bars", "markers", "predictions"}``; an unknown coin is refused (422)."""
    return control.candles(coin, limit=limit)


@router.get("/profiles", summary="Current profiles, their bounds and history")
def profiles(control: Control, _operator: Operator) -> dict[str, Any]:
    """``{"strategy", "risk", "bounds", "history"}``."""
    return control.profiles()


@router.get("/bundles", summary="Active bundle, rollback target and update source")
def bundles(control: Control, _operator: Operator) -> dict[str, Any]:
    """The bundle store's status."""
    return control.bundle_status()


@router.get("/data", summary="Data coverage, gaps and last sync per coin")
def data(control: Control, _operator: Operator) -> dict[str, Any]:
    """Per instrument: first/last bar, bar count, gaps, last sync."""
    return control.data()


@router.get("/audit/verify", summary="Verify the hash-chained audit log")
def audit_verify(control: Control, _operator: Operator) -> dict[str, Any]:
    """``{"ok", "entries", "reason_code"?, "message"?}``."""
    return control.verify_audit()


# --- governed changes --------------------------------------------------------------------


@changes.post("/profiles/diff", summary="What a profile change would change (nothing applied)")
def profile_diff(body: ProfileChangeBody, control: Control, _operator: Operator) -> JSONResponse:
    """``{"ok", "changes": [{profile, name, old, new}]}``; a refusal answers 409."""
    result = control.profile_diff(body.strategy, body.risk)
    return JSONResponse(result, status_code=200 if result.get("ok", True) else 409)


@changes.post(
    "/profiles/apply",
    summary="Apply a profile change (governed, versioned, audited)",
    responses=_COMMAND,
)
def profile_apply(body: ProfileApplyBody, control: Control, operator: Operator) -> JSONResponse:
    """Out-of-bounds or unknown parameters are refused exactly as the profile file is."""
    return _answer(
        control.apply_profile(
            strategy=body.strategy, risk=body.risk, actor=operator, reason=body.reason
        )
    )


@changes.post(
    "/killswitch/engage", summary="Engage the kill switch (halt new entries)", responses=_COMMAND
)
def killswitch_engage(body: ReasonBody, control: Control, operator: Operator) -> JSONResponse:
    """Halts the session; the decision and audit logs name the operator and the reason."""
    return _answer(control.halt(body.reason, actor=operator))


@changes.post("/killswitch/release", summary="Release the kill switch", responses=_COMMAND)
def killswitch_release(body: ReasonBody, control: Control, operator: Operator) -> JSONResponse:
    """Resumes the session; logged like an engage."""
    return _answer(control.resume(body.reason, actor=operator))


@changes.post(
    "/bundles/check", summary="Check the update source for a newer bundle", responses=_COMMAND
)
def bundles_check(control: Control, operator: Operator) -> JSONResponse:
    """The check's result, or its refusal with a reason code."""
    return _answer(control.check_update(actor=operator))


@changes.post("/bundles/apply", summary="Install the update and load it", responses=_COMMAND)
def bundles_apply(control: Control, operator: Operator) -> JSONResponse:
    """Installs, activates and loads the new bundle (audited)."""
    return _answer(control.apply_update(actor=operator))


@changes.post(
    "/bundles/rollback", summary="Roll back to the previous bundle and load it", responses=_COMMAND
)
def bundles_rollback(control: Control, operator: Operator) -> JSONResponse:
    """Activates the rollback target (audited); refused when there is none."""
    return _answer(control.rollback(actor=operator))


router.include_router(changes)
