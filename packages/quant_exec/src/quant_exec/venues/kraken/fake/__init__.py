"""A fake Kraken exchange for tests and demos, over real HTTP on 127.0.0.1.

:class:`FakeKraken` keeps an account (:class:`FakeBook`'s balances, orders and trades),
verifies keys, signatures and nonces exactly as Kraken does (same error strings), enforces
Kraken's call and order counters on the injected clock and injects faults
(:class:`FakeFault`); :func:`serve_fake_kraken` serves it on a free local port in a
background thread. :meth:`FakeKraken.add_listener` hears every order state change, fill and
balance change as Kraken WebSocket v2 ``executions``/``balances`` items (:func:`encode_v2`
writes them as Kraken's JSON), for the WebSocket fake. It lives in the execution library
beside the client it fakes (decision 0095) so the library's own tests and the apps' demos
share one fake.

Examples:
    >>> from decimal import Decimal
    >>> from quant_core import SimClock
    >>> fake = FakeKraken(SimClock(0))
    >>> fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    >>> with serve_fake_kraken(fake) as server:
    ...     server.base_url.startswith("http://127.0.0.1:")
    True
"""

from quant_exec.venues.kraken.fake._events import encode_v2
from quant_exec.venues.kraken.fake._server import FakeFault, FakeKraken, serve_fake_kraken
from quant_exec.venues.kraken.fake._ws import FakeKrakenWs, FakeWsFault, serve_fake_kraken_ws

__all__ = [
    "FakeFault",
    "FakeKraken",
    "FakeKrakenWs",
    "FakeWsFault",
    "encode_v2",
    "serve_fake_kraken",
    "serve_fake_kraken_ws",
]
