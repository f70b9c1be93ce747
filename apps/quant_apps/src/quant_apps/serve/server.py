"""Running the app: bind (loopback unless allowed), then uvicorn until a signal.

:func:`bind` opens the listening socket first, so port 0 gives a known free port before the
server starts and the URL can be printed; :class:`Server` runs uvicorn programmatically on
that socket with the access log off (a login code in a URL never reaches a log), no server
header and a short graceful shutdown (open event streams are closed after it).

Examples:
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    >>> origin_for("::1", 8765)
    'http://[::1]:8765'
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI

from quant_apps.serve import reasons
from quant_core.errors import QuantUsageError

__all__ = ["Server", "bind", "check_bind", "is_loopback", "origin_for"]

GRACEFUL_S = 3
"""Seconds open requests (event streams) get to finish on shutdown."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback ``host`` unless ``allow_remote`` (``REMOTE_BIND_REFUSED``).

    Examples:
        >>> check_bind("0.0.0.0", allow_remote=False)
        Traceback (most recent call last):
        ...
        quant_core.errors.QuantUsageError: [REMOTE_BIND_REFUSED] ...
    """
    if not is_loopback(host) and not allow_remote:
        raise QuantUsageError(
            f"refusing to listen on {host}: not a loopback address; pass --allow-remote "
            "(every request still needs the token)",
            reason_code=reasons.REMOTE_BIND_REFUSED,
        )


def origin_for(host: str, port: int) -> str:
    """The origin a browser uses for ``host:port``."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one; read it back).

    Examples:
        >>> sock = bind("127.0.0.1", 0)
        >>> sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        True
        >>> sock.close()
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it. asyncio sets it only on sockets it knows are TCP, and
    # uvicorn re-wraps a given socket without its protocol number: without this line every
    # answer waits ~40 ms for a delayed ACK (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class Server:
    """uvicorn on one bound socket; :meth:`run` blocks until :meth:`stop` or a signal.

    Args:
        app: the application (:func:`~quant_apps.serve.app.create_app`).
        sock: the listening socket (:func:`bind`).
        graceful_s: seconds open requests get on shutdown.
    """

    def __init__(self, app: FastAPI, sock: socket.socket, *, graceful_s: int = GRACEFUL_S):
        """Configure uvicorn (no access log, no server header, no lifespan, no websockets)."""
        self.sock = sock
        config = uvicorn.Config(
            app,
            access_log=False,
            log_config=None,
            log_level="warning",
            lifespan="off",
            ws="none",
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=graceful_s,
        )
        self._server = uvicorn.Server(config)
        self.signals: list[int] = []

    @property
    def port(self) -> int:
        """The bound port."""
        port: int = self.sock.getsockname()[1]
        return port

    @property
    def started(self) -> bool:
        """Whether uvicorn accepts connections."""
        return bool(self._server.started)

    def run(self) -> None:
        """Serve until :meth:`stop`, SIGINT or SIGTERM; the signal is recorded, not re-raised.

        In the main thread the two signals are routed to a graceful shutdown (uvicorn's own
        handling re-raises them afterwards, which would kill the process before the session
        is flushed); in another thread (tests) only :meth:`stop` ends it.
        """
        main = threading.current_thread() is threading.main_thread()
        previous = {}
        if main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._record)
        try:
            self._server.run(sockets=[self.sock])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.sock.close()

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        # Reached only when uvicorn's own handlers are not installed (before start, after
        # stop): a signal then still means "stop".
        self.signals.append(signum)
        self.stop()

    def stop(self) -> None:
        """Ask the server to shut down gracefully (thread-safe)."""
        self._server.should_exit = True
