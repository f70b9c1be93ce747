"""The Kraken private REST client: signed, nonced, rate-counted; writes once, reads retried.

- Every call carries a fresh nonce from the :class:`NonceSource` and an ``API-Sign`` over its
  exact body; the public key travels as a secret header, the private key only as a prepared
  HMAC state (neither appears in a repr, a log line or an error).
- Reads (balances, order and trade queries, the websocket token, the dead-man's switch,
  which is idempotent) go through :class:`quant_net.ReadClient`: a service failure, a
  malformed answer, a stale nonce or a rate-limit answer is retried with seeded backoff, each
  attempt re-counted and re-nonced.
- Writes (``AddOrder``, ``CancelOrder``) go through :class:`quant_net.WriteClient`: sent once.
  A timeout, a reset, an HTTP 5xx, ``EService:*`` or ``EGeneral:Internal error`` after sending
  raises :class:`quant_net.UnknownOutcomeError`; the caller then asks :meth:`find_order` by
  the order's ``cl_ord_id`` (open and closed orders) before sending anything again (RT-02).
- A definitive refusal raises :class:`quant_net.ProviderError` with the reason code of
  :data:`quant_net.kraken.PRIVATE_ERRORS`; rate-limit answers fill the local counters,
  ``EGeneral:Temporary lockout`` pauses every private call for ``lockout_s`` and
  ``EService:Throttled:<ts>`` until ``<ts>`` (:class:`PausedError`, nothing sent).

Calls on one client are serialised (nonce assignment and send under one lock, RT-13).

History (``TradesHistory``, ``ClosedOrders``) is served 50 rows a page, newest first, and new
rows arriving between two page fetches shift the offsets: :meth:`all_trades` and
:meth:`all_closed_orders` pin the window's ``end`` to the first page's newest id, page by
``ofs`` inside it and deduplicate by id, so the result is exactly the window's rows (RT-11);
a truncated or invalid page is a malformed answer, retried and never taken as partial data.
:meth:`check_clock_skew` compares the clock with Kraken's ``/0/public/Time`` (RT-12).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar

from quant_core import NS_PER_SECOND, Clock
from quant_core.settings import Secret, redact_url
from quant_exec.venues.kraken._counter import (
    INTERMEDIATE_ORDERS,
    STARTER,
    CallCounter,
    OrderRateLimiter,
    cancel_cost,
)
from quant_exec.venues.kraken._errors import ClockSkewError
from quant_exec.venues.kraken._history import Bound, paged
from quant_exec.venues.kraken._nonce import NonceSource
from quant_exec.venues.kraken._types import (
    ApiKeyInfo,
    DeadMansSwitch,
    KrakenOrder,
    OrderAck,
    OrdersPage,
    ServerTime,
    TradesPage,
    WebSocketsToken,
    ack_from,
    balance_from,
    key_info_from,
    orders_from,
    server_time_from,
    trades_from,
)
from quant_net import ProviderError, ReadClient, ReadPolicy, Response, WriteClient, WritePolicy
from quant_net import kraken as wire

__all__ = ["KrakenPrivateClient"]

T = TypeVar("T")

PROVIDER: Final = "kraken"
_PAUSING: Final = frozenset({"VENUE_LOCKOUT", "VENUE_THROTTLED"})


def _amount(value: Decimal) -> str:
    return format(value, "f")


class KrakenPrivateClient:
    """One API key's private REST client.

    Args:
        base_url: Kraken's root (:data:`quant_net.kraken.BASE_URL`) or the fake exchange's.
        api_key: the public key (sent as ``API-Key``).
        secret: the private key, base64 as Kraken shows it (used only to sign).
        clock: the injected clock (counters, pauses, backoff).
        nonce: this key's :class:`NonceSource`.
        seed: root seed for the read retries' jitter.
        counter: the key's :class:`CallCounter` (default: Starter tier on ``clock``).
        order_limiter: the per-pair :class:`OrderRateLimiter` (default: Intermediate tier).
        read_policy: the read network policy (default suits Kraken).
        write_policy: the write network policy (default suits Kraken).
        lockout_s: how long a ``Temporary lockout`` pauses private calls (default 15 min).
        sleep: how to wait (default that of ``clock``).
        otp: the key's two-factor password, if it has one (sent as ``otp`` with every private
            call; a callable is asked afresh each call, for a one-time code).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: Secret,
        secret: Secret,
        clock: Clock,
        nonce: NonceSource,
        seed: int,
        counter: CallCounter | None = None,
        order_limiter: OrderRateLimiter | None = None,
        read_policy: ReadPolicy | None = None,
        write_policy: WritePolicy | None = None,
        lockout_s: float = 900.0,
        sleep: Callable[[float], None] | None = None,
        otp: Secret | Callable[[], Secret] | None = None,
    ) -> None:
        self._clock = clock
        self._otp = otp
        self._nonce = nonce
        self._signer = wire.RequestSigner(secret)
        self.counter = counter or CallCounter(STARTER, clock, sleep=sleep)
        self.order_limiter = order_limiter or OrderRateLimiter(
            INTERMEDIATE_ORDERS, clock, sleep=sleep
        )
        self.lockout_s = lockout_s
        self._lock = threading.RLock()
        secrets = {"API-Key": api_key}
        self.reads = ReadClient(
            PROVIDER,
            base_url,
            clock=clock,
            seed=seed,
            policy=read_policy or ReadPolicy(timeout_s=15.0, rate_per_s=100.0, burst=100),
            secret_headers=secrets,
            sleep=sleep,
        )
        self.writes = WriteClient(
            PROVIDER,
            base_url,
            clock=clock,
            policy=write_policy or WritePolicy(timeout_s=10.0, rate_per_s=100.0, burst=100),
            secret_headers=secrets,
            sleep=sleep,
        )
        self.public = ReadClient(
            PROVIDER,
            base_url,
            clock=clock,
            seed=seed,
            policy=read_policy or ReadPolicy(timeout_s=15.0, rate_per_s=1.0, burst=5),
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"KrakenPrivateClient({redact_url(self.reads.base_url)!r}, {self.counter!r})"

    def close(self) -> None:
        """Close the connection pools."""
        self.reads.close()
        self.writes.close()
        self.public.close()

    # --- the envelope ---------------------------------------------------------------------

    def _result(self, response: Response, *, write: bool, pair: str | None) -> dict[str, Any]:
        if response.status != 200:
            response.expect_ok()
        try:
            body = json.loads(response.payload, parse_float=str)
        except ValueError:
            raise wire.invalid(response, "not JSON (truncated?)") from None
        if not isinstance(body, dict):
            raise wire.invalid(response, "not a JSON object")
        errors = body.get("error") or []
        if errors:
            raise self._refusal(response, [str(e) for e in errors], write=write, pair=pair)
        found = body.get("result")
        if not isinstance(found, dict):
            raise wire.invalid(response, "no result object")
        return found

    def _refusal(
        self, response: Response, errors: list[str], *, write: bool, pair: str | None
    ) -> ProviderError:
        entry = wire.classify_private(errors)
        code = entry.reason_code
        if code == "VENUE_RATE_LIMITED":
            self.counter.saturate()
        elif code == "VENUE_ORDER_RATE_LIMITED" and pair is not None:
            self.order_limiter.saturate(pair)
        elif code == "VENUE_LOCKOUT":
            self.counter.pause_until(self._clock.now_ns() + int(self.lockout_s * NS_PER_SECOND))
        elif code == "VENUE_THROTTLED":
            until = errors[0].rsplit(":", 1)[-1].strip()
            if until.isdigit():
                self.counter.pause_until(int(until) * NS_PER_SECOND)
        if write:
            retryable = entry.outcome is wire.Outcome.UNKNOWN
        else:
            retryable = entry.outcome is not wire.Outcome.REFUSED and code not in _PAUSING
        return ProviderError(
            f"{PROVIDER}: {'; '.join(errors)} for {response.request}",
            provider=PROVIDER,
            status=response.status,
            retryable=retryable,
            reason_code=code,
        )

    # --- sending --------------------------------------------------------------------------

    def _signed(self, method: str, params: Mapping[str, str]) -> tuple[dict[str, str], Any]:
        """A fresh nonce, the form, and the signer over its exact body."""
        nonce = self._nonce.next()
        form = {"nonce": str(nonce), **params}
        if self._otp is not None:
            otp = self._otp() if callable(self._otp) else self._otp
            form["otp"] = otp.reveal()

        def sign(uri_path: str, body: bytes) -> dict[str, str]:
            return {"API-Sign": self._signer(uri_path, nonce, body)}

        return form, sign

    def _read(
        self, method: str, params: Mapping[str, str], make: Callable[[dict[str, Any]], T]
    ) -> T:
        holder: dict[str, Any] = {}

        def form() -> Mapping[str, str]:
            self.counter.acquire(method)
            built, holder["sign"] = self._signed(method, params)
            return built

        def sign(uri_path: str, body: bytes) -> Mapping[str, str]:
            signer: Callable[[str, bytes], Mapping[str, str]] = holder["sign"]
            return signer(uri_path, body)

        def parse(response: Response) -> T:
            return make(self._result(response, write=False, pair=None))

        with self._lock:
            return self.reads.post(f"/0/private/{method}", form, parse=parse, sign=sign)

    def _write(
        self,
        method: str,
        params: Mapping[str, str],
        make: Callable[[dict[str, Any]], T],
        *,
        pair: str | None,
        order_cost: int,
    ) -> T:
        def parse(response: Response) -> T:
            return make(self._result(response, write=True, pair=pair))

        with self._lock:
            self.counter.acquire(method)
            if pair is not None and order_cost:
                self.order_limiter.acquire(pair, order_cost)
            form, sign = self._signed(method, params)
            return self.writes.post(f"/0/private/{method}", form, parse=parse, sign=sign)

    # --- writes ---------------------------------------------------------------------------

    def add_order(
        self,
        *,
        pair: str,
        side: str,
        order_type: str,
        volume: Decimal,
        price: Decimal | None = None,
        cl_ord_id: str | None = None,
        post_only: bool = False,
        validate: bool = False,
    ) -> OrderAck:
        """Place one order (``AddOrder``), once.

        Args:
            pair: Kraken's pair name (``XBTUSD``).
            side: ``buy`` or ``sell``.
            order_type: ``market`` or ``limit``.
            volume: base quantity.
            price: the limit price (limit orders only).
            cl_ord_id: the client order id (unique among open orders): how an unknown
                outcome is resolved.
            post_only: ``oflags=post`` (a limit order that would take is refused).
            validate: a dry run: Kraken checks the order and places nothing.

        Raises:
            UnknownOutcomeError: the order may or may not have been placed; ask
                :meth:`find_order` with its ``cl_ord_id`` before sending it again.
            WriteNotSentError: the request never left (safe to send again).
            ProviderError: a definitive refusal (``VENUE_INSUFFICIENT_FUNDS``, ...).
            CallBudgetError, PausedError: nothing was sent.
        """
        params = {"ordertype": order_type, "type": side, "volume": _amount(volume), "pair": pair}
        if price is not None:
            params["price"] = _amount(price)
        if cl_ord_id is not None:
            params["cl_ord_id"] = cl_ord_id
        if post_only:
            params["oflags"] = "post"
        if validate:
            params["validate"] = "true"
        return self._write(
            "AddOrder",
            params,
            lambda found: ack_from(found, cl_ord_id),
            pair=pair,
            order_cost=0 if validate else 1,
        )

    def cancel_order(
        self,
        *,
        txid: str | None = None,
        cl_ord_id: str | None = None,
        pair: str | None = None,
        age_s: float | None = None,
    ) -> int:
        """Cancel one order by venue id or client order id (``CancelOrder``), once.

        ``pair`` and ``age_s`` (the order's age) charge the per-pair cancel penalty.
        Returns how many orders Kraken canceled.

        Raises:
            ValueError: neither or both of ``txid`` and ``cl_ord_id``.
            ProviderError: ``VENUE_UNKNOWN_ORDER`` and the other refusals.
            UnknownOutcomeError: as for :meth:`add_order` (query before trying again).
        """
        if (txid is None) == (cl_ord_id is None):
            raise ValueError("give exactly one of txid and cl_ord_id")
        params = {"txid": txid} if txid is not None else {"cl_ord_id": str(cl_ord_id)}
        cost = cancel_cost(age_s) if age_s is not None else 0
        return self._write(
            "CancelOrder",
            params,
            lambda found: int(found.get("count", 0)),
            pair=pair,
            order_cost=cost,
        )

    def cancel_all(self) -> int:
        """Cancel every open order of the account (``CancelAll``), once; returns the count.

        Repeating it is harmless, so after an
        :class:`~quant_net.UnknownOutcomeError` the caller may simply call it again (or check
        :meth:`open_orders`).

        Raises:
            UnknownOutcomeError: the answer was lost after sending.
            ProviderError: a refusal (``VENUE_PERMISSION_DENIED``, ...).
        """
        return self._write(
            "CancelAll", {}, lambda found: int(found.get("count", 0)), pair=None, order_cost=0
        )

    # --- reads ----------------------------------------------------------------------------

    def query_orders(
        self, txids: tuple[str, ...] = (), *, cl_ord_id: str | None = None
    ) -> OrdersPage:
        """Orders by venue id(s) or by client order id (``QueryOrders``), open or closed."""
        params = {"txid": ",".join(txids)} if txids else {}
        if cl_ord_id is not None:
            params["cl_ord_id"] = cl_ord_id
        return self._read("QueryOrders", params, lambda found: orders_from(found, None))

    def open_orders(self, *, cl_ord_id: str | None = None) -> OrdersPage:
        """Open orders, optionally only those with ``cl_ord_id`` (``OpenOrders``)."""
        params = {} if cl_ord_id is None else {"cl_ord_id": cl_ord_id}
        return self._read("OpenOrders", params, lambda found: orders_from(found, "open"))

    def closed_orders(
        self,
        *,
        cl_ord_id: str | None = None,
        start: Bound = None,
        end: Bound = None,
        ofs: int | None = None,
    ) -> OrdersPage:
        """Closed orders, newest first by Kraken, 50 a page (``ClosedOrders``).

        ``start`` (exclusive) and ``end`` (inclusive) are Unix seconds or order txids, ``ofs``
        the page offset; ``count`` is the whole window's size. One page: see
        :meth:`all_closed_orders`.
        """
        params = {
            k: str(v)
            for k, v in (("cl_ord_id", cl_ord_id), ("start", start), ("end", end), ("ofs", ofs))
            if v is not None
        }
        return self._read("ClosedOrders", params, lambda found: orders_from(found, "closed"))

    def find_order(self, cl_ord_id: str) -> KrakenOrder | None:
        """The order carrying ``cl_ord_id`` among open, then closed orders; ``None`` if neither.

        This is how an :class:`~quant_net.UnknownOutcomeError` after :meth:`add_order` is
        resolved: ``None`` (both queries answered) proves Kraken has no such order.
        """
        for page in (
            self.open_orders(cl_ord_id=cl_ord_id),
            self.closed_orders(cl_ord_id=cl_ord_id),
        ):
            found = page.by_cl_ord_id(cl_ord_id)
            if found:
                return found[0]
        return None

    def trades_history(
        self, *, start: Bound = None, end: Bound = None, ofs: int | None = None
    ) -> TradesPage:
        """Fills, newest first by Kraken, 50 a page (``TradesHistory``; costs 2 on the counter).

        ``start`` (exclusive) and ``end`` (inclusive) are Unix seconds or trade ids, ``ofs``
        the page offset. One page: see :meth:`all_trades`.
        """
        params = {
            k: str(v) for k, v in (("start", start), ("end", end), ("ofs", ofs)) if v is not None
        }
        return self._read("TradesHistory", params, trades_from)

    def all_trades(
        self, *, start: Bound = None, end: Bound = None, max_pages: int = 200
    ) -> TradesPage:
        """Every fill in the window, oldest first, each once, however rows shift meanwhile.

        ``start=<trade id>`` gives the fills after that one (what reconciliation asks).

        Args:
            start: exclusive lower bound (Unix seconds or a trade id).
            end: inclusive upper bound; by default the newest fill of the first page, so
                fills arriving while paging wait for the next call.
            max_pages: the page budget.

        Raises:
            PagingError: more than ``max_pages`` pages (nothing partial is returned).
            ProviderError: a page failed after its retries.
        """
        found = paged(
            lambda s, e, o: self.trades_history(start=s, end=e, ofs=o).trades,
            lambda t: t.trade_id,
            lambda rows: max(rows, key=lambda t: (t.time_ns, t.trade_id)).trade_id,
            start=start,
            end=end,
            max_pages=max_pages,
        )
        trades = sorted(found.values(), key=lambda t: (t.time_ns, t.trade_id))
        return TradesPage(tuple(trades), len(trades))

    def all_closed_orders(
        self, *, start: Bound = None, end: Bound = None, max_pages: int = 200
    ) -> OrdersPage:
        """Every closed order in the window (by close time), each once, sorted by txid.

        Args:
            start: exclusive lower bound (Unix seconds or an order txid).
            end: inclusive upper bound; by default the newest order of the first page.
            max_pages: the page budget.

        Raises:
            PagingError: more than ``max_pages`` pages (nothing partial is returned).
            ProviderError: a page failed after its retries.
        """
        found = paged(
            lambda s, e, o: self.closed_orders(start=s, end=e, ofs=o).orders,
            lambda o: o.txid,
            lambda rows: max(rows, key=lambda o: (o.closed_at_ns or 0, o.txid)).txid,
            start=start,
            end=end,
            max_pages=max_pages,
        )
        orders = tuple(found[txid] for txid in sorted(found))
        return OrdersPage(orders, len(orders))

    def server_time(self) -> ServerTime:
        """Kraken's clock (``/0/public/Time``, public: no key, no nonce, no counter)."""

        def parse(response: Response) -> ServerTime:
            return server_time_from(self._result(response, write=False, pair=None))

        return self.public.get("/0/public/Time", {}, parse=parse)

    def check_clock_skew(self, max_skew_s: float = 5.0) -> float:
        """Compare the injected clock with Kraken's; refuse a skew beyond ``max_skew_s``.

        Kraken's time has one-second resolution and the request takes time, so the skew is
        known only within an interval; the smallest skew consistent with the answer is
        returned (positive: Kraken is ahead) and only a skew certainly beyond the limit is
        refused.

        Args:
            max_skew_s: the largest skew allowed, in seconds.

        Raises:
            ClockSkewError: ``CLOCK_SKEW``: do not trade until the clocks agree.
            ProviderError: the time could not be read.
        """
        before = self._clock.now_ns()
        server = self.server_time()
        after = self._clock.now_ns()
        lowest = (server.unixtime * NS_PER_SECOND - after) / NS_PER_SECOND
        highest = ((server.unixtime + 1) * NS_PER_SECOND - before) / NS_PER_SECOND
        skew = lowest if lowest > 0 else min(highest, 0.0)
        if abs(skew) > max_skew_s:
            raise ClockSkewError(
                f"the local clock is {abs(skew):g}s {'behind' if skew > 0 else 'ahead of'} "
                f"Kraken's (allowed: {max_skew_s:g}s); fix the system clock before trading",
                skew_s=skew,
                max_skew_s=max_skew_s,
            )
        return skew

    def balance(self) -> dict[str, Decimal]:
        """Asset id → amount (``Balance``)."""
        return self._read("Balance", {}, balance_from)

    def get_api_key_info(self) -> ApiKeyInfo:
        """The key's name and permissions (``GetApiKeyInfo``).

        Check them with :meth:`ApiKeyInfo.check_trading_scope` before trading.
        """
        return self._read("GetApiKeyInfo", {}, key_info_from)

    def cancel_all_orders_after(self, timeout_s: int) -> DeadMansSwitch:
        """Arm (or with 0 disarm) the dead-man's switch (``CancelAllOrdersAfter``).

        Idempotent (each call resets the timer), so it is sent as a retried read.
        """
        return self._read(
            "CancelAllOrdersAfter",
            {"timeout": str(int(timeout_s))},
            lambda found: DeadMansSwitch(
                str(found.get("currentTime", "")), str(found.get("triggerTime", ""))
            ),
        )

    def get_websockets_token(self) -> WebSocketsToken:
        """A token for the authenticated websocket (``GetWebSocketsToken``)."""
        return self._read(
            "GetWebSocketsToken",
            {},
            lambda found: WebSocketsToken(
                Secret(str(found.get("token", ""))), int(found.get("expires", 0))
            ),
        )
