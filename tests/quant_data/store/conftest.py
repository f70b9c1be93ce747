"""Store fixtures: every store test runs against SQLite and a real PostgreSQL.

PostgreSQL comes from ``QUANT_TEST_POSTGRES_URL`` (``.ci/run`` starts a throwaway cluster and
exports it). Without it the PostgreSQL cases are skipped with the reason, except in CI
(``CI=true``), where its absence fails them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from quant_core import SimClock, Timeframe
from quant_data import FetchedPage, RawPage, SourceBar
from quant_data.store import Store

H = Timeframe.H1.ns
NOW = 1000 * H


def postgres_url() -> str:
    """The test PostgreSQL URL, or skip (fail in CI) when there is none."""
    url = os.environ.get("QUANT_TEST_POSTGRES_URL", "")
    if url:
        return url
    why = "QUANT_TEST_POSTGRES_URL unset (.ci/run starts a local PostgreSQL and sets it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI: {why}")
    pytest.skip(f"needs PostgreSQL: {why}")


def reset_postgres(url: str) -> None:
    """Drop every store table so a test starts from an empty database."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for name in (
            "qd_raw_ingest",
            "qd_bar",
            "qd_correction",
            "qd_quarantine",
            "qd_gap",
            "qd_cursor",
            "qd_sync_log",
        ):
            conn.execute(text(f"DROP TABLE IF EXISTS {name} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database URL of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store') / 'quant.db'}"
    url = postgres_url()
    reset_postgres(url)
    return url


@pytest.fixture
def pg_url() -> str:
    """An empty PostgreSQL database URL (skipped, or failed in CI, when there is none)."""
    url = postgres_url()
    reset_postgres(url)
    return url


@pytest.fixture
def empty_postgres() -> Callable[[], str]:
    """A function that empties the PostgreSQL database and returns its URL (for property tests)."""
    url = postgres_url()

    def empty() -> str:
        reset_postgres(url)
        return url

    return empty


@pytest.fixture
def clock() -> SimClock:
    """The injected clock, far after the test bars."""
    return SimClock(NOW)


@pytest.fixture
def store(backend_url: str, clock: SimClock) -> Iterator[Store]:
    """An empty store on each backend."""
    opened = Store.open(backend_url, clock=clock)
    yield opened
    opened.engine.dispose()


def _make_bar(
    i: int,
    *,
    symbol: str = "BTC",
    source: str = "memory",
    close: str | None = None,
    **fields: str,
) -> SourceBar:
    """A valid hourly candle at slot ``i`` (price around 100 + i)."""
    base = 100 + i
    values = {
        "open": str(base),
        "high": str(base + 2),
        "low": str(base - 2),
        "close": close if close is not None else f"{base}.5",
        "volume": "3.25",
    }
    values.update(fields)
    return SourceBar(source, symbol, "USD", "1h", i * H, **values)  # type: ignore[arg-type]


def _make_page(
    bars: list[SourceBar],
    start: int,
    end: int,
    *,
    source: str = "memory",
    tag: str = "",
) -> FetchedPage:
    """A page answering for slots ``[start, end)``; ``tag`` makes the request distinct."""
    payload = repr([(*b.key, b.close) for b in bars]).encode()
    raw = RawPage(source, f"GET /test?start={start}&end={end}{tag}", 7, 200, payload)
    return FetchedPage(raw, tuple(bars), start * H, end * H, None)


@pytest.fixture
def make_bar() -> Callable[..., SourceBar]:
    """Build a valid hourly candle at slot ``i``."""
    return _make_bar


@pytest.fixture
def make_page() -> Callable[..., FetchedPage]:
    """Build a page answering for slots ``[start, end)``."""
    return _make_page
