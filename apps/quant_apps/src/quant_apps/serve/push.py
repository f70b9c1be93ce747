r"""The push channel: ``GET /api/v1/events``, server-sent events over the control plane.

Each event is one SSE message: ``id`` (the control plane's event id, the cursor),
``event`` (``decision``, ``fill``, ``status`` or ``change``) and ``data`` (its JSON). A client
that reconnects sends ``Last-Event-ID`` (browsers do it by themselves) and gets what it
missed; ``?after=`` does the same for a first connection. While nothing happens a comment
line (``: heartbeat``) keeps proxies and the client's timeout from closing the stream.

The blocking :meth:`ControlPlane.events_after` runs on a worker thread in short waits, so the
stream notices a disconnect or a shutdown within one wait.

Examples:
    >>> sse_message({"id": 7, "type": "fill", "data": {"qty": "0.1"}})
    'id: 7\nevent: fill\ndata: {"qty":"0.1"}\n\n'
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from quant_apps.serve._control import ControlPlane
from quant_apps.serve.security import current_operator

__all__ = ["router", "sse_message"]

router = APIRouter()


def sse_message(event: Mapping[str, Any]) -> str:
    """One event as a server-sent-events message (``data`` is compact JSON, one line)."""
    data = json.dumps(event["data"], separators=(",", ":"), sort_keys=True)
    return f"id: {event['id']}\nevent: {event['type']}\ndata: {data}\n\n"


def _cursor(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is not None and last_event_id.strip().isdigit():
        return int(last_event_id)
    return after if after is not None else 0


async def _stream(
    control: ControlPlane, cursor: int, *, wait_s: float, heartbeat_every: int
) -> AsyncIterator[str]:
    yield f"retry: 2000\n: connected at {cursor}\n\n"
    idle = 0
    while True:
        cursor, events = await anyio.to_thread.run_sync(
            control.events_after, cursor, wait_s, abandon_on_cancel=True
        )
        for event in events:
            yield sse_message(event)
        if not events and control.hub.closed:  # the session stopped: nothing more will come
            return
        idle = 0 if events else idle + 1
        if idle >= heartbeat_every:
            idle = 0
            yield ": heartbeat\n\n"


@router.get(
    "/events",
    summary="Server-sent events: new decisions, fills, status changes and governed changes",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    request: Request,
    _operator: Annotated[str, Depends(current_operator)],
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    after: Annotated[int | None, Query(ge=0, description="Events after this id.")] = None,
) -> StreamingResponse:
    """Stream events after ``Last-Event-ID`` (or ``after``, else from now-ish: id 0)."""
    settings = request.app.state
    stream = _stream(
        settings.control,
        _cursor(last_event_id, after),
        wait_s=settings.event_wait_s,
        heartbeat_every=settings.heartbeat_every,
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )
