"""Fixtures of the operator server's tests: a real session (runtime + runner thread +
control plane, from the runtime's own test support) and clients of the real app."""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from quant_apps.serve import Auth, create_app
from quant_core import SimClock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
_control_support: Any = importlib.import_module("runtime_control.conftest")

ORIGIN = "http://127.0.0.1:8765"
TOKEN = "api-test-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (uvicorn's loop)."""
    return "asyncio"


@pytest.fixture
def auth() -> Auth:
    """The server's token, for operator alice."""
    return Auth(TOKEN, "alice", clock=SimClock(0))


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Any]:
    """A started paper session that traded 30 bars of the example market."""
    running = _control_support.start(tmp_path / "out")
    running.advance(30)
    yield running
    if running.thread.is_alive():
        running.stop()
    running.control.index.close()


@pytest.fixture
async def api(session: Any, auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    """A bearer client of the app over the session, in process."""
    app = create_app(session.control, auth, origin=ORIGIN)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN, headers=BEARER) as c:
        yield c
