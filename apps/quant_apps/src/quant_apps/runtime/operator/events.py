"""The push hub: a bounded ring of events with increasing ids that readers wait on.

The control plane publishes what a running session did (new decisions, fills, status and
governed changes) as events; a server streams them (server-sent events, ``Last-Event-ID``)
by calling :meth:`EventHub.events_after` with the last id it sent. Ids start at 1 and grow
by one per event; the hub keeps the newest ``capacity`` events, so a reader that fell
further behind gets what is still kept (and can tell from the first id that it missed some).
A cursor from another hub's life (larger than any id given out) reads from the start.

Thread-safe: any thread publishes, any number of threads wait.

Examples:
    >>> hub = EventHub(capacity=2)
    >>> hub.publish("status", {"health": "running"})
    1
    >>> _ = hub.publish("decision", {"seq": 1}), hub.publish("decision", {"seq": 2})
    >>> cursor, events = hub.events_after(0, timeout_s=0)
    >>> cursor, [e["id"] for e in events]
    (3, [2, 3])
    >>> hub.events_after(3, timeout_s=0)
    (3, [])
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_CAPACITY", "EventHub"]

DEFAULT_CAPACITY = 4096
"""Events a hub keeps by default."""


class EventHub:
    """A thread-safe, bounded ring of events (see the module docs).

    Args:
        capacity: how many of the newest events are kept (at least 1).

    Raises:
        ValueError: ``capacity`` below 1.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        """An empty hub."""
        if capacity < 1:
            raise ValueError("an event hub keeps at least one event")
        self._events: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._last = 0
        self._changed = threading.Condition()
        self._closed = False

    @property
    def last_id(self) -> int:
        """The id of the newest event (0: none yet)."""
        with self._changed:
            return self._last

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a reader's loop should end)."""
        with self._changed:
            return self._closed

    def publish(self, kind: str, data: Mapping[str, Any]) -> int:
        """Add an event ``{"id", "type": kind, "data": data}``; wake the waiters; its id."""
        with self._changed:
            self._last += 1
            self._events.append({"id": self._last, "type": kind, "data": dict(data)})
            self._changed.notify_all()
            return self._last

    def close(self) -> None:
        """Wake every waiter now and from now on (the session is going away)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def events_after(self, cursor: int, timeout_s: float) -> tuple[int, list[dict[str, Any]]]:
        """The kept events newer than ``cursor``, waiting up to ``timeout_s`` for one.

        Returns:
            ``(new cursor, events)``: the cursor is the last event's id (``cursor`` itself
            when none came in time; ``0`` for a cursor this hub never gave out and no event).
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._changed:
            if cursor > self._last:  # a cursor from before a restart: read from the start
                cursor = 0
            while self._last <= cursor and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            events = [e for e in self._events if e["id"] > cursor]
        return (events[-1]["id"] if events else cursor), events
