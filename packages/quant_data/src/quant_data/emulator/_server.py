"""The emulator's HTTP server: one local server, three provider dialects, injected faults.

It listens on 127.0.0.1 (stdlib :class:`http.server.ThreadingHTTPServer` in a background
thread) and routes ``/kraken/...``, ``/coinapi/...`` and ``/coingecko/...`` to the dialects;
the rest of each path is the real provider's path. "Now" is the injected clock's, never the
wall clock: candles after it do not exist yet, the last Kraken candle is the one forming.

Examples:
    >>> from quant_core import SimClock, Timeframe, iso_to_ns
    >>> from quant_data import SyntheticMarket
    >>> import httpx
    >>> market = SyntheticMarket(seed=1, symbols=["BTC"], timeframe=Timeframe.H1,
    ...                          start_ns=iso_to_ns("2024-01-01T00:00:00Z"),
    ...                          end_ns=iso_to_ns("2024-01-03T00:00:00Z"))
    >>> clock = SimClock(iso_to_ns("2024-01-02T00:30:00Z"))
    >>> with serve_emulator(market, clock=clock) as emu:
    ...     r = httpx.get(emu.base_url("kraken") + "/0/public/OHLC",
    ...                   params={"pair": "XBTUSD", "interval": 60})
    ...     rows = r.json()["result"]["XXBTZUSD"]
    ...     rows[-1][0] == iso_to_ns("2024-01-02T00:00:00Z") // 10**9
    True
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypedDict, Unpack
from urllib.parse import parse_qsl, urlsplit

import attrs

from quant_core import Clock, SimClock, Timeframe, generator
from quant_core.errors import ValidationError
from quant_data import reasons
from quant_data._records import SourceBar
from quant_data._synthetic import SyntheticMarket
from quant_data.emulator import _coinapi, _coingecko, _kraken
from quant_data.emulator._book import BarBook
from quant_data.emulator._faults import FaultKind, FaultPlan, FaultRule
from quant_data.emulator._wire import Page, Reply, json_bytes

__all__ = [
    "DIALECTS",
    "Emulator",
    "EmulatorOptions",
    "EmulatorSource",
    "ServedRequest",
    "serve_emulator",
    "start_emulator",
]

DIALECTS = ("kraken", "coinapi", "coingecko")
"""The URL prefixes the emulator answers under."""

EmulatorSource = SyntheticMarket | BarBook | Path | str | Sequence[Path] | Iterable[SourceBar]
"""What the emulator can serve: a synthetic market, a bar book, files/directories, or bars."""


@attrs.define
class EmulatorOptions:
    """Switches for wire details that vary in the real world (change them while running).

    Attributes:
        kraken_last_as_string: send Kraken OHLC ``last`` as ``"1706796000"`` instead of an int.
        kraken_trades_ns_field: append the nanosecond time string to each Trades row (the
            8-element rows of the ccxt capture) instead of the 7-element rows.
        coinapi_api_key: the only CoinAPI key accepted (``None``: any non-empty key).
        coinapi_quota: CoinAPI request credits before answers turn into 429.
        coingecko_coins: the CoinGecko market (``None``: the built-in list).
        kraken_min_interval_s: Kraken's public throttle on the emulator's clock: a second call
            to the same endpoint and pair sooner than this gets HTTP 200
            ``EGeneral:Too many requests`` (``None``: no throttle).
    """

    kraken_last_as_string: bool = False
    kraken_trades_ns_field: bool = False
    coinapi_api_key: str | None = None
    coinapi_quota: int = 100_000
    coingecko_coins: Sequence[Mapping[str, Any]] | None = None
    kraken_min_interval_s: float | None = None


@attrs.frozen
class ServedRequest:
    """One request the emulator answered (or dropped).

    Attributes:
        dialect: ``"kraken"``, ``"coinapi"``, ``"coingecko"`` (or ``""`` for an unknown prefix).
        path: the provider path (without the dialect prefix).
        query: the query parameters.
        status: the HTTP status sent (0 when the connection was dropped).
        fault: the fault kind applied, if any.
    """

    dialect: str
    path: str
    query: Mapping[str, str]
    status: int
    fault: str | None = None


def _as_book(source: EmulatorSource, clock: Clock | None, seed: int) -> BarBook:
    if isinstance(source, BarBook):
        return source
    if isinstance(source, SyntheticMarket):
        return BarBook.from_synthetic(source)
    if isinstance(source, str | Path):
        return BarBook.from_files([Path(source)], clock=clock or SimClock(0), seed=seed)
    items = list(source)
    if items and all(isinstance(x, str | Path) for x in items):
        paths = [Path(str(x)) for x in items]
        return BarBook.from_files(paths, clock=clock or SimClock(0), seed=seed)
    if not all(isinstance(x, SourceBar) for x in items):
        raise ValidationError(
            "emulator source must be a SyntheticMarket, a BarBook, paths or SourceBars",
            reason_code=reasons.EMULATOR_INVALID,
        )
    return BarBook([x for x in items if isinstance(x, SourceBar)], seed=seed)


class Emulator:
    """A running emulator. Build it with :func:`serve_emulator` (or :func:`start_emulator`).

    Attributes:
        book: the bars served.
        clock: the emulator's "now".
        options: wire switches (:class:`EmulatorOptions`).
        seed: seed for derived data (trades) and fault draws.
    """

    def __init__(
        self,
        book: BarBook,
        *,
        clock: Clock,
        faults: FaultPlan | None,
        seed: int,
        options: EmulatorOptions,
        port: int,
    ) -> None:
        self.book = book
        self.clock = clock
        self.seed = seed
        self.options = options
        self._lock = threading.Lock()
        self._faults = faults or FaultPlan()
        self._rule_counts = [0] * len(self._faults.rules)
        self._requests: list[ServedRequest] = []
        self.coinapi_used = 0
        self._kraken_last_call: dict[tuple[str, str], int] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="quant-emulator",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The TCP port listened on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, dialect: str) -> str:
        """The base URL a provider adapter is given for ``dialect``.

        Raises:
            ValidationError: ``EMULATOR_INVALID`` for an unknown dialect.
        """
        if dialect not in DIALECTS:
            raise ValidationError(
                f"unknown dialect {dialect!r}; known: {DIALECTS}",
                reason_code=reasons.EMULATOR_INVALID,
            )
        return f"{self.url}/{dialect}"

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in force."""
        return self._faults

    def set_faults(self, plan: FaultPlan | None) -> None:
        """Replace the fault plan; rule counters start again from zero."""
        with self._lock:
            self._faults = plan or FaultPlan()
            self._rule_counts = [0] * len(self._faults.rules)

    @property
    def requests(self) -> list[ServedRequest]:
        """Every request served so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the served requests (counters of fault rules are kept)."""
        with self._lock:
            self._requests.clear()

    def now_ns(self) -> int:
        """The emulator's current time (the injected clock's)."""
        return self.clock.now_ns()

    def charge_coinapi(self, cost: int) -> None:
        """Count CoinAPI credits used (feeds the ``X-RateLimit-*`` headers and the quota)."""
        with self._lock:
            self.coinapi_used += cost

    def visible(
        self, symbol: str, quote: str, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> list[SourceBar]:
        """Bars in ``[start_ns, end_ns)`` as the source shows them *now*.

        Candles opened after now do not exist; late candles stay hidden until their time;
        revisions in force replace the original values.
        """
        now = self.now_ns()
        plan = self._faults
        out = []
        for bar in self.book.window(symbol, quote, timeframe, start_ns, end_ns):
            t = bar.open_time_ns
            if t > now:
                break
            if any(lc.hides(symbol, quote, timeframe.value, t, now) for lc in plan.late):
                continue
            for rev in plan.revisions:
                if rev.applies(symbol, quote, timeframe.value, t, now):
                    bar = rev.apply(bar)
            out.append(bar)
        return out

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- request handling (called from server threads) --------------------------------------

    def _pick_fault(self, dialect: str, path: str) -> tuple[int, FaultRule] | None:
        with self._lock:
            plan = self._faults
            chosen = None
            for i, rule in enumerate(plan.rules):
                if not rule.matches(dialect, path):
                    continue
                number = self._rule_counts[i]
                self._rule_counts[i] += 1
                if chosen is None and rule.fires(plan.seed, i, number):
                    chosen = (number, rule)
            return chosen

    def _kraken_throttled(self, path: str, query: Mapping[str, str]) -> bool:
        interval = self.options.kraken_min_interval_s
        if interval is None:
            return False
        now = self.now_ns()
        key = (path, query.get("pair", ""))
        with self._lock:
            last = self._kraken_last_call.get(key)
            if last is not None and now - last < interval * 1e9:
                return True
            self._kraken_last_call[key] = now
            return False

    def _record(self, request: ServedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def answer(
        self, dialect: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[Reply | None, str | None]:
        """The reply to one request (``None`` = drop the connection) and the fault applied."""
        if dialect == "kraken" and self._kraken_throttled(path, query):
            return _kraken.throttled(), "throttle"
        picked = self._pick_fault(dialect, path)
        rule = picked[1] if picked else None
        if rule is not None and rule.kind is FaultKind.DELAY:
            time.sleep(rule.delay_s)
        pre = _fault_reply(dialect, rule) if rule is not None else None
        if rule is not None and rule.kind is FaultKind.DROP:
            return None, rule.kind.value
        if pre is not None:
            return pre, rule.kind.value if rule else None
        result: Reply | Page
        if dialect == "kraken":
            result = _kraken.handle(self, path, query)
        elif dialect == "coinapi":
            result = _coinapi.handle(self, path, query, headers)
        else:
            result = _coingecko.handle(self, path, query)
        if isinstance(result, Page):
            rows = result.rows
            if rule is not None and picked is not None:
                rows = _fault_rows(rows, rule, self._faults.seed, picked[0])
            result = Reply(result.status, result.render(rows), result.headers)
        if rule is not None and rule.kind is FaultKind.TRUNCATE:
            cut = max(0, min(len(result.body) - 1, int(len(result.body) * rule.fraction)))
            result = Reply(result.status, result.body[:cut], result.headers)
        return result, rule.kind.value if rule else None


def _fault_reply(dialect: str, rule: FaultRule) -> Reply | None:
    kind = rule.kind
    if kind is FaultKind.RATE_LIMIT:
        if dialect == "kraken":
            return _kraken.throttled()
        if dialect == "coinapi":
            return _coinapi.throttled(rule.retry_after_s)
        return _coingecko.throttled(rule.retry_after_s)
    if kind in (FaultKind.SERVER_ERROR, FaultKind.STATUS):
        status = rule.status or (503 if kind is FaultKind.SERVER_ERROR else 400)
        if dialect == "kraken":
            return _kraken.failure(status, rule.message)
        if dialect == "coinapi":
            return _coinapi.failure(status, rule.message, rule.retry_after_s)
        return _coingecko.failure(status, rule.message)
    if kind is FaultKind.KRAKEN_ERROR:
        return _kraken.failure(200, rule.message)
    return None


def _fault_rows(rows: list[Any], rule: FaultRule, seed: int, number: int) -> list[Any]:
    kind = rule.kind
    if kind is FaultKind.PARTIAL:
        return rows[: int(len(rows) * rule.fraction)]
    if kind is FaultKind.DUPLICATE:
        out: list[Any] = []
        for i, row in enumerate(rows):
            out.append(row)
            if i < rule.rows:
                out.append(row)
        return out
    if kind is FaultKind.OUT_OF_ORDER:
        order = generator(seed, "faults", "shuffle", str(number)).permutation(len(rows))
        shuffled = [rows[int(i)] for i in order]
        if len(rows) > 1 and shuffled == rows:
            shuffled = rows[::-1]
        return shuffled
    return rows


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "quant-emulator"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default stderr access log."""

        def do_GET(self) -> None:
            """Route one GET request."""
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            prefix, _, rest = parts.path.lstrip("/").partition("/")
            path = "/" + rest
            if prefix not in DIALECTS:
                self._send(Reply(404, b'{"error": "unknown provider prefix"}'))
                emulator._record(ServedRequest("", parts.path, query, 404))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                reply, fault = emulator.answer(prefix, path, query, headers)
            except Exception as exc:  # noqa: BLE001 - a bug must answer 500, not hang a client
                body = json_bytes({"error": f"emulator failure: {type(exc).__name__}: {exc}"})
                reply, fault = Reply(500, body), None
            if reply is None:
                self.close_connection = True
                emulator._record(ServedRequest(prefix, path, query, 0, fault))
                return
            emulator._record(ServedRequest(prefix, path, query, reply.status, fault))
            self._send(reply)

        def do_POST(self) -> None:
            """Kraken's public endpoints refuse POST since 2024; so does everything here."""
            self._send(Reply(405, b'{"error": ["EGeneral:Invalid request method"]}'))

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(reply.body)

    return Handler


def start_emulator(
    source: EmulatorSource,
    *,
    faults: FaultPlan | None = None,
    port: int = 0,
    seed: int = 0,
    clock: Clock | None = None,
    options: EmulatorOptions | None = None,
) -> Emulator:
    """Start an emulator in a background thread; call :meth:`Emulator.stop` when done.

    Args:
        source: the bars to serve (see :data:`EmulatorSource`).
        faults: the fault plan (none by default).
        port: TCP port on 127.0.0.1 (0 = any free port).
        seed: seed for derived trades and probabilistic faults.
        clock: the emulator's now; by default a fixed :class:`SimClock` at the close of the
            latest bar, so every bar held is closed and served (a bar whose close time equals
            now is complete).
        options: wire switches.

    Raises:
        ValidationError: ``EMULATOR_INVALID`` when the source holds no bars.
    """
    book = _as_book(source, clock, seed)
    if not book.series_keys():
        raise ValidationError(
            "the emulator source holds no bars", reason_code=reasons.EMULATOR_INVALID
        )
    if clock is None:
        clock = SimClock(book.latest_ns())
    return Emulator(
        book,
        clock=clock,
        faults=faults,
        seed=seed,
        options=options or EmulatorOptions(),
        port=port,
    )


class _StartOptions(TypedDict, total=False):
    """The keyword arguments of :func:`start_emulator`, for :func:`serve_emulator`."""

    faults: FaultPlan | None
    port: int
    seed: int
    clock: Clock | None
    options: EmulatorOptions | None


@contextlib.contextmanager
def serve_emulator(source: EmulatorSource, **options: Unpack[_StartOptions]) -> Iterator[Emulator]:
    """Serve ``source`` on 127.0.0.1 for the duration of a ``with`` block.

    Same arguments as :func:`start_emulator`.
    """
    emulator = start_emulator(source, **options)
    try:
        yield emulator
    finally:
        emulator.stop()
