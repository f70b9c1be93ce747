"""Importers for real market-data files: every format found in the shared real-data set.

Each importer turns one file into :class:`~quant_data._records.FetchedPage` values, exactly like
a provider: the raw file bytes are kept for the append-only raw record (``source`` is
``"import:<format>"``) and the rows become :class:`~quant_data._records.SourceBar` values mapped
to our symbols (Kraken's ``XBT`` → ``BTC``), the file's real quote currency and UTC
nanoseconds. Rows with bad *values* (NaN, zero or negative prices, high < low) are passed on
unchanged so the store can quarantine them with a reason; only rows that cannot be mapped at
all (no parseable time, wrong column count) are left out, each with a note in
:attr:`ImportResult.skipped`.

Formats (:func:`detect_format` names):

- ``kraken_ohlcvt``: Kraken's downloadable OHLCVT archive, ``XBTUSD_60.csv``: no header (or a
  ``time,open,...`` header added by hand), unix seconds, no-trade intervals omitted.
- ``cryptodatadownload``: ``Kraken_BTCUSD_1h.csv``: a banner line, a header, dates like
  ``2019-12-15 07-PM``, newest first (order is restored by the store, not here).
- ``coinapi_csv``: ``KRAKEN_SPOT_BTC_USD_1HRS.csv``: CoinAPI's JSON flattened by pandas
  (index column, alphabetical columns); an empty answer is the 3-byte body ``""``.
- ``freqtrade_feather``: ``BTC_USDT-1h.feather``: Arrow IPC with ``date`` (UTC) and OHLCV.
- ``kraken_trades_csv``: ``BCHEUR.csv``: ``time,price,volume`` trades, rebuilt into candles
  (1m unless asked otherwise) with :func:`quant_data.trades_to_bars`.

Files may be gzip-compressed (``.gz``). A file is read with a bound: at most 256 MiB (or the
``max_bytes`` given) as stored and again after gunzip, which is streamed and stops there, so
a decompression bomb is refused with ``IMPORT_FILE_TOO_LARGE`` instead of exhausting memory.
Epoch integers (the Kraken files' ``time``, an integer feather ``date``) are unix seconds; a
column in milliseconds, microseconds or nanoseconds is refused with ``IMPORT_FILE_INVALID``
naming the column and the unit found. USDT-quoted files keep the quote ``"USDT"``, which is
not one of the runtime's quote currencies: the store quarantines such bars rather than
silently relabelling them as USD (see decision record 0014).

Examples:
    >>> split_pair("XBTUSD"), split_pair("ETHUSDT"), split_pair("XXBTZCAD")
    (('BTC', 'USD'), ('ETH', 'USDT'), ('BTC', 'CAD'))
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

import attrs

from quant_core import NS_PER_SECOND, Clock, Timeframe, iso_to_ns
from quant_core.errors import ValidationError
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE
from quant_data import reasons
from quant_data._import_input import check_unix_seconds, read_input
from quant_data._records import FetchedPage, RawPage, SourceBar
from quant_data._trades import Trade, trades_to_bars
from quant_data.providers.coinapi import PERIOD_IDS
from quant_net import kraken

__all__ = [
    "FORMATS",
    "ImportResult",
    "detect_format",
    "import_file",
    "import_paths",
    "split_pair",
]

FORMATS = (
    "kraken_ohlcvt",
    "cryptodatadownload",
    "coinapi_csv",
    "freqtrade_feather",
    "kraken_trades_csv",
)
"""Every format :func:`detect_format` can name."""

_QUOTES = (
    "USDT",
    "USDC",
    "ZUSD",
    "ZCAD",
    "ZEUR",
    "ZGBP",
    "ZJPY",
    "USD",
    "CAD",
    "EUR",
    "GBP",
    "JPY",
    "CHF",
    "AUD",
    "BTC",
    "XBT",
    "ETH",
)
_KRAKEN_MINUTES = {minutes: tf.value for tf, minutes in kraken.INTERVALS.items()}
_COINAPI_PERIODS = {pid: tf.value for pid, tf in PERIOD_IDS.items()}
_MAX_SKIP_NOTES = 50


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, reason_code=reasons.IMPORT_FILE_INVALID)


@attrs.frozen
class ImportResult:
    """What one file imported to.

    Attributes:
        path: the file.
        format: the detected format (one of :data:`FORMATS`).
        symbol: our symbol (``"BTC"``); unmapped venue codes are kept as they are.
        quote: the file's quote currency (``"USD"``, ``"USDT"``, ...).
        timeframe: the candle length (``"1h"``).
        pages: the pages (one per file; the raw payload is the file's bytes).
        skipped: notes on rows that could not be mapped (at most 50, then a count).
        notes: other findings (unknown symbol, empty file).
    """

    path: Path
    format: str
    symbol: str
    quote: str
    timeframe: str
    pages: tuple[FetchedPage, ...]
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def bars(self) -> tuple[SourceBar, ...]:
        """Every bar of every page, in file order."""
        return tuple(b for p in self.pages for b in p.bars)


def _map_symbol(code: str) -> str:
    upper = code.upper()
    if upper in UNIVERSE_V1_TOP30_NON_STABLE.symbols:
        return upper
    mapped = kraken.symbol_of(upper)
    return mapped if mapped in UNIVERSE_V1_TOP30_NON_STABLE.symbols else upper


def _map_quote(code: str) -> str:
    upper = code.upper()
    if len(upper) == 4 and upper[0] == "Z" and upper[1:] in kraken.FIAT:
        return upper[1:]
    return kraken.symbol_of(upper) if upper in kraken.ASSET_CODES.values() else upper


def split_pair(pair: str) -> tuple[str, str]:
    """Split a venue pair (``XBTUSD``, ``XXBTZUSD``, ``ETHUSDT``) into our (symbol, quote).

    Raises:
        ValidationError: ``IMPORT_FILE_INVALID`` when no known quote ends the pair.
    """
    upper = pair.upper()
    for quote in _QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return _map_symbol(upper[: -len(quote)]), _map_quote(quote)
    raise _invalid(f"cannot split pair {pair!r} into base and quote")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".feather"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def detect_format(path: Path, *, max_bytes: int | None = None) -> str:
    """Name the format of ``path`` from its content (and, for empty files, its name).

    Args:
        path: the file (``.gz`` allowed).
        max_bytes: the read bound, as for :func:`import_file`.

    Raises:
        ValidationError: ``IMPORT_FORMAT_UNKNOWN`` when no importer recognises the file;
            ``IMPORT_FILE_INVALID`` when it cannot be read; ``IMPORT_FILE_TOO_LARGE`` when it
            passes the bound.
    """
    _, data = read_input(path, max_bytes)
    return _detect(Path(path), data)


def _detect(path: Path, data: bytes) -> str:
    if data[:6] == b"ARROW1":
        return "freqtrade_feather"
    head = data[:4096].decode("utf-8", errors="replace")
    first = head.splitlines()[0].strip() if head.strip() else ""
    stem = _stem(path)
    if "cryptodatadownload" in first.lower():
        return "cryptodatadownload"
    if "time_period_start" in first:
        return "coinapi_csv"
    if first.replace(" ", "") in ('""', "") and re.fullmatch(r"[A-Z]+_SPOT_\w+_\w+", stem):
        return "coinapi_csv"
    if first.lower().startswith("time,open,high,low,close"):
        return "kraken_ohlcvt"
    cells = first.split(",")
    if cells and cells[0].strip().isdigit():
        if len(cells) == 7:
            return "kraken_ohlcvt"
        if len(cells) == 3:
            return "kraken_trades_csv"
    raise ValidationError(
        f"{path.name}: not a known market-data file format",
        reason_code=reasons.IMPORT_FORMAT_UNKNOWN,
    )


class _Rows:
    """Collects bars and skip notes for one file."""

    def __init__(self, source: str, symbol: str, quote: str, timeframe: str) -> None:
        self.source, self.symbol, self.quote, self.timeframe = source, symbol, quote, timeframe
        self.bars: list[SourceBar] = []
        self.skipped: list[str] = []
        self.skip_count = 0

    def skip(self, line: int, why: str) -> None:
        self.skip_count += 1
        if len(self.skipped) < _MAX_SKIP_NOTES:
            self.skipped.append(f"row {line}: {why}")

    def add(self, open_ns: int, values: Sequence[str], trades: int | None) -> None:
        o, h, low, c, v = values
        self.bars.append(
            SourceBar(
                self.source,
                self.symbol,
                self.quote,
                self.timeframe,
                open_ns,
                o.strip(),
                h.strip(),
                low.strip(),
                c.strip(),
                v.strip(),
                trades,
            )
        )

    def notes_out(self) -> tuple[str, ...]:
        extra = self.skip_count - len(self.skipped)
        return tuple(self.skipped) + ((f"... and {extra} more rows skipped",) if extra else ())


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value == value and abs(value) != float("inf") else None


def _kraken_ohlcvt(path: Path, text: str, rows: _Rows) -> None:
    for line, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not cells or (line == 1 and cells[0].strip().lower() == "time"):
            continue
        if len(cells) != 7:
            rows.skip(line, f"expected 7 columns, found {len(cells)}")
            continue
        try:
            seconds = int(cells[0])
        except ValueError:
            rows.skip(line, f"time {cells[0]!r} is not unix seconds")
            continue
        open_ns = check_unix_seconds(seconds, path.name, "time") * NS_PER_SECOND
        rows.add(open_ns, cells[1:6], _int_or_none(cells[6]))


def _kraken_ohlcvt_meta(path: Path) -> tuple[str, str, str]:
    stem = _stem(path)
    match = re.fullmatch(r"([A-Z0-9]+)_(\d+)", stem)
    if match:
        minutes = int(match.group(2))
        if minutes not in _KRAKEN_MINUTES:
            raise _invalid(f"{path.name}: interval {minutes} minutes is not a known timeframe")
        return (*split_pair(match.group(1)), _KRAKEN_MINUTES[minutes])
    match = re.fullmatch(r"([A-Z0-9]+)_Daily_OHLC", stem)
    if match:
        return (*split_pair(match.group(1)), "1d")
    raise _invalid(f"{path.name}: cannot tell the pair and interval from the name")


_CDD_FORMATS = ("%Y-%m-%d %I-%p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def _cdd_time(text: str) -> int | None:
    for fmt in _CDD_FORMATS:
        try:
            parsed = _dt.datetime.strptime(text.strip(), fmt).replace(tzinfo=_dt.UTC)
        except ValueError:
            continue
        return int(parsed.timestamp()) * NS_PER_SECOND
    return None


def _cdd(path: Path, text: str, rows: _Rows) -> None:
    reader = csv.reader(io.StringIO(text))
    next(reader, None)  # banner
    header = next(reader, None) or []
    columns = [h.strip().lower() for h in header]
    try:
        at = {name: columns.index(name) for name in ("date", "open", "high", "low", "close")}
    except ValueError:
        raise _invalid(f"{path.name}: header {header!r} lacks date/open/high/low/close") from None
    base_volume = next(
        (i for i, h in enumerate(columns) if h.startswith("volume") and not h.endswith("usd")),
        None,
    )
    if base_volume is None:
        raise _invalid(f"{path.name}: no base-asset volume column in {header!r}")
    for line, cells in enumerate(reader, start=3):
        if not cells:
            continue
        if len(cells) != len(columns):
            rows.skip(line, f"expected {len(columns)} columns, found {len(cells)}")
            continue
        open_ns = _cdd_time(cells[at["date"]])
        if open_ns is None:
            rows.skip(line, f"date {cells[at['date']]!r} not understood")
            continue
        rows.add(
            open_ns,
            [
                cells[at["open"]],
                cells[at["high"]],
                cells[at["low"]],
                cells[at["close"]],
                cells[base_volume],
            ],
            None,
        )


def _cdd_meta(path: Path, text: str) -> tuple[str, str, str]:
    match = re.fullmatch(r"[A-Za-z]+_([A-Z0-9]+)_(\w+)", _stem(path))
    if not match:
        raise _invalid(f"{path.name}: cannot tell the pair and timeframe from the name")
    tf = {"d": "1d", "1d": "1d", "1h": "1h", "h": "1h", "minute": "1m", "1m": "1m"}.get(
        match.group(2).lower()
    )
    if tf is None:
        raise _invalid(f"{path.name}: timeframe {match.group(2)!r} is not known")
    return (*split_pair(match.group(1)), tf)


def _coinapi(path: Path, text: str, rows: _Rows) -> None:
    if text.strip() in ('""', ""):
        return
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    needed = (
        "time_period_start",
        "price_open",
        "price_high",
        "price_low",
        "price_close",
        "volume_traded",
        "trades_count",
    )
    missing = [n for n in needed if n not in header]
    if missing:
        raise _invalid(f"{path.name}: CoinAPI columns missing: {missing}")
    at = {n: header.index(n) for n in needed}
    for line, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            rows.skip(line, f"expected {len(header)} columns, found {len(cells)}")
            continue
        try:
            open_ns = iso_to_ns(cells[at["time_period_start"]])
        except ValidationError:
            rows.skip(line, f"time {cells[at['time_period_start']]!r} not ISO-8601")
            continue
        rows.add(
            open_ns,
            [
                cells[at["price_open"]],
                cells[at["price_high"]],
                cells[at["price_low"]],
                cells[at["price_close"]],
                cells[at["volume_traded"]],
            ],
            _int_or_none(cells[at["trades_count"]]),
        )


def _coinapi_meta(path: Path) -> tuple[str, str, str]:
    match = re.fullmatch(r"[A-Z]+_SPOT_([A-Z0-9]+)_([A-Z0-9]+)(?:_([A-Z0-9]+))?", _stem(path))
    if not match:
        raise _invalid(f"{path.name}: expected a name like KRAKEN_SPOT_BTC_USD_1HRS")
    period = match.group(3) or "1HRS"
    if period not in _COINAPI_PERIODS:
        raise _invalid(f"{path.name}: period {period!r} is not a known timeframe")
    return _map_symbol(match.group(1)), _map_quote(match.group(2)), _COINAPI_PERIODS[period]


def _float_text(value: float) -> str:
    """Shortest round-trip text of a float, in plain notation (``1.412e-05`` → ``0.00001412``)."""
    text = repr(float(value))
    return format(Decimal(text), "f") if "e" in text else text


def _feather(path: Path, data: bytes, rows: _Rows) -> None:
    import pyarrow.feather as feather

    try:
        table = feather.read_table(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise _invalid(f"{path.name}: not a readable feather file: {exc}") from None
    names = set(table.column_names)
    needed = {"date", "open", "high", "low", "close", "volume"}
    if not needed <= names:
        raise _invalid(f"{path.name}: feather columns missing: {sorted(needed - names)}")
    import pyarrow as pa
    import pyarrow.compute as pc

    dates = table.column("date")
    if pa.types.is_integer(dates.type):
        dates_ns = [
            None if d is None else check_unix_seconds(d, path.name, "date") * NS_PER_SECOND
            for d in dates.to_pylist()
        ]
    else:
        try:
            dates_ns = pc.cast(dates, pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise _invalid(
                f"{path.name}: column 'date' ({dates.type}) has no UTC nanoseconds: {exc}"
            ) from None
    cols = [table.column(c).to_pylist() for c in ("open", "high", "low", "close", "volume")]
    for line, (t, o, h, low, c, v) in enumerate(zip(dates_ns, *cols, strict=True), start=1):
        if t is None:
            rows.skip(line, "no date")
            continue
        values = [_float_text(x) if x is not None else "NaN" for x in (o, h, low, c, v)]
        rows.add(int(t), values, None)


def _feather_meta(path: Path) -> tuple[str, str, str]:
    match = re.fullmatch(r"([A-Z0-9]+)_([A-Z0-9]+)-(\w+)", _stem(path))
    if not match:
        raise _invalid(f"{path.name}: expected a name like BTC_USDT-1h.feather")
    tf = match.group(3)
    if tf not in {t.value for t in Timeframe}:
        raise _invalid(f"{path.name}: timeframe {tf!r} is not known")
    return _map_symbol(match.group(1)), _map_quote(match.group(2)), tf


def _kraken_trades(path: Path, text: str, rows: _Rows, timeframe: Timeframe) -> None:
    trades: list[Trade] = []
    for line, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not cells:
            continue
        if len(cells) != 3:
            rows.skip(line, f"expected 3 columns, found {len(cells)}")
            continue
        try:
            at_ns = _dt_seconds(cells[0], path.name)
        except ValueError as exc:
            rows.skip(line, str(exc))
            continue
        try:
            trades.append(Trade(at_ns, cells[1].strip(), cells[2].strip()))
        except ValidationError as exc:
            rows.skip(line, str(exc))
    rows.bars.extend(
        trades_to_bars(
            trades, source=rows.source, symbol=rows.symbol, quote=rows.quote, timeframe=timeframe
        )
    )


def _dt_seconds(text: str, file_name: str) -> int:
    """Unix seconds (possibly fractional) → ns, exactly; other units refuse the file."""
    whole, _, frac = text.strip().partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"time {text!r} is not unix seconds")
    seconds = check_unix_seconds(int(whole), file_name, "time")
    return seconds * NS_PER_SECOND + int((frac or "0")[:9].ljust(9, "0"))


def import_file(
    path: Path, *, clock: Clock, timeframe: Timeframe | None = None, max_bytes: int | None = None
) -> ImportResult:
    """Import one file.

    Args:
        path: the file (``.gz`` allowed).
        clock: stamps the raw page's ``received_at_ns``.
        timeframe: candle length for trade files (default 1m); ignored for candle files.
        max_bytes: the most bytes the file may hold, as stored and after gunzip (default
            256 MiB); the read and the streamed gunzip stop one byte past it.

    Raises:
        ValidationError: ``IMPORT_FORMAT_UNKNOWN``, ``IMPORT_FILE_INVALID`` (also for epoch
            times that are not unix seconds) or ``IMPORT_FILE_TOO_LARGE`` (over the bound).
    """
    path = Path(path)
    raw, data = read_input(path, max_bytes)
    fmt = _detect(path, data)
    source = f"import:{fmt}"
    text = "" if fmt == "freqtrade_feather" else data.decode("utf-8-sig", errors="replace")
    if fmt == "kraken_ohlcvt":
        symbol, quote, tf = _kraken_ohlcvt_meta(path)
    elif fmt == "cryptodatadownload":
        symbol, quote, tf = _cdd_meta(path, text)
    elif fmt == "coinapi_csv":
        symbol, quote, tf = _coinapi_meta(path)
    elif fmt == "freqtrade_feather":
        symbol, quote, tf = _feather_meta(path)
    else:
        symbol, quote = split_pair(_stem(path).split("__")[-1])
        tf = (timeframe or Timeframe.M1).value
    rows = _Rows(source, symbol, quote, tf)
    if fmt == "kraken_ohlcvt":
        _kraken_ohlcvt(path, text, rows)
    elif fmt == "cryptodatadownload":
        _cdd(path, text, rows)
    elif fmt == "coinapi_csv":
        _coinapi(path, text, rows)
    elif fmt == "freqtrade_feather":
        _feather(path, data, rows)
    else:
        _kraken_trades(path, text, rows, Timeframe(tf))
    notes: list[str] = []
    if symbol not in UNIVERSE_V1_TOP30_NON_STABLE.symbols:
        notes.append(f"symbol {symbol!r} is not in {UNIVERSE_V1_TOP30_NON_STABLE.name}")
    if not rows.bars:
        notes.append("the file holds no bars")
    tf_ns = Timeframe(tf).ns
    opens = [b.open_time_ns for b in rows.bars]
    start = min(opens, default=0)
    end = max(opens, default=-tf_ns) + tf_ns
    page = FetchedPage(
        raw=RawPage(source, f"FILE {path.name}", clock.now_ns(), 200, raw),
        bars=tuple(rows.bars),
        window_start_ns=start,
        window_end_ns=max(end, start),
        next_start_ns=None,
    )
    return ImportResult(path, fmt, symbol, quote, tf, (page,), rows.notes_out(), tuple(notes))


def _expand(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(x for x in p.rglob("*") if x.is_file()))
        else:
            out.append(p)
    return out


def import_paths(
    paths: Iterable[Path], *, clock: Clock, timeframe: Timeframe | None = None
) -> list[SourceBar]:
    """Every bar in the given files and directories (files no importer knows are passed over).

    Raises:
        ValidationError: ``IMPORT_FILE_INVALID`` when a named *file* cannot be imported, or
            ``IMPORT_FORMAT_UNKNOWN`` when a named file (not one found in a directory) has an
            unknown format.
    """
    given = [Path(p) for p in paths]
    bars: list[SourceBar] = []
    explicit = {p for p in given if not p.is_dir()}
    for path in _expand(given):
        try:
            result = import_file(path, clock=clock, timeframe=timeframe)
        except ValidationError as exc:
            if path in explicit or exc.reason_code != reasons.IMPORT_FORMAT_UNKNOWN:
                raise
            continue
        bars.extend(result.bars)
    return bars
