"""quant_net.kraken: Kraken's wire format against the recorded samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quant_core import Timeframe
from quant_core.errors import UniverseError
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE
from quant_net import ProviderError, Response, kraken


def _k(shared_data: Path, name: str) -> bytes:
    return (shared_data / "api-samples" / "kraken" / name).read_bytes()


def _answer(body: bytes | str, status: int = 200) -> Response:
    payload = body.encode() if isinstance(body, str) else body
    return Response("kraken", "GET /0/public/X", 0, status, payload)


def test_pair_names_follow_kraken_conventions() -> None:
    assert kraken.pair_names("BTC", "USDT") == kraken.PairNames(
        "XBTUSDT", "XBTUSDT", "XBT/USDT", "XXBT", "USDT"
    )
    assert kraken.pair_names("ETH", "CAD").key == "XETHZCAD"
    names = kraken.pair_names("ADA", "USD")
    assert (names.base_id, names.quote_id) == ("ADA", "ZUSD")
    assert kraken.pair_names("DOGEX", "USD").key == "DOGEXUSD"
    assert kraken.pair_names("DOGE", "EUR").key == "XXDGZEUR"


def test_pair_name_asset_code_and_symbol_follow_the_universe() -> None:
    assert kraken.pair_name("BTC", "usd") == "XBTUSD"
    assert kraken.asset_code("BTC", UNIVERSE_V1_TOP30_NON_STABLE) == "XBT"
    with pytest.raises(UniverseError):
        kraken.pair_name("NOPE", "USD")
    for member in UNIVERSE_V1_TOP30_NON_STABLE.members:
        assert kraken.symbol_of(member.kraken_code) == member.symbol
        assert kraken.asset_code(member.symbol) == member.kraken_code
    assert kraken.symbol_of("XXBT") == "BTC"
    assert kraken.symbol_of("XXDG") == "DOGE"
    assert kraken.symbol_of("ZEUR") == "EUR"
    assert kraken.symbol_of("FOO") == "FOO"
    assert kraken.INTERVALS[Timeframe.D1] == 1440
    assert 21600 in kraken.INTERVAL_MINUTES


def test_legacy_asset_ids_map_like_their_altnames(shared_data: Path) -> None:
    assets = json.loads(_k(shared_data, "horndev__Assets_legacy_raw.json"))["result"]
    checked = 0
    for key, info in assets.items():
        if key[0] in "XZ" and len(key) == 4:
            assert kraken.symbol_of(key) == kraken.symbol_of(info["altname"])
            checked += 1
    assert checked == 12


def test_every_kraken_sample_envelope_is_classified(shared_data: Path) -> None:
    files = sorted((shared_data / "api-samples" / "kraken").glob("*.json"))
    assert len(files) >= 15
    for path in files:
        body = path.read_bytes()
        response = _answer(body)
        if json.loads(body).get("error"):
            with pytest.raises(ProviderError):
                kraken.result(response)
        else:
            assert isinstance(kraken.result(response), dict), path.name


@pytest.mark.parametrize(
    ("errors", "code", "retryable"),
    [
        (["EGeneral:Too many requests"], "PROVIDER_RATE_LIMITED", True),
        (["EAPI:Rate limit exceeded"], "PROVIDER_RATE_LIMITED", True),
        (["EOrder:Rate limit exceeded"], "PROVIDER_RATE_LIMITED", True),
        (["EGeneral:Temporary lockout"], "PROVIDER_RATE_LIMITED", True),
        (["EService:Unavailable"], "PROVIDER_UNAVAILABLE", True),
        (["EService:Busy"], "PROVIDER_UNAVAILABLE", True),
        (["EGeneral:Internal error"], "PROVIDER_UNAVAILABLE", True),
        (["EQuery:Unknown asset pair"], "PROVIDER_SYMBOL_UNKNOWN", False),
        (["EQuery:Invalid asset pair"], "PROVIDER_SYMBOL_UNKNOWN", False),
        (["EGeneral:Invalid arguments"], "PROVIDER_BAD_REQUEST", False),
        (["EAPI:Invalid key"], "PROVIDER_AUTH_FAILED", False),
        (["EAPI:Invalid signature"], "PROVIDER_AUTH_FAILED", False),
        (["EGeneral:Permission denied"], "PROVIDER_AUTH_FAILED", False),
        (["EOrder:Insufficient funds"], "PROVIDER_ERROR", False),
    ],
)
def test_error_strings_are_classified(errors: list[str], code: str, retryable: bool) -> None:
    assert kraken.classify(errors) == (code, retryable)
    with pytest.raises(ProviderError) as info:
        kraken.result(_answer(json.dumps(kraken.error_body(*errors, with_result=True))))
    assert (info.value.reason_code, info.value.retryable) == (code, retryable)
    assert info.value.message == f"kraken: {errors[0]} for GET /0/public/X"


def test_malformed_envelopes_are_retryable_invalid_answers() -> None:
    for body in ("{", "[]", '{"error": []}', '{"error": [], "result": []}'):
        with pytest.raises(ProviderError) as info:
            kraken.result(_answer(body))
        assert info.value.reason_code == "PROVIDER_RESPONSE_INVALID"
        assert info.value.retryable
    with pytest.raises(ProviderError) as status:
        kraken.result(_answer("<html>", status=502))
    assert (status.value.reason_code, status.value.status) == ("PROVIDER_UNAVAILABLE", 502)


def test_pair_series_takes_the_one_key_that_is_not_last() -> None:
    answer = _answer("")
    rows, last = kraken.pair_series({"XXBTZUSD": [[1]], "last": "17"}, answer)
    assert (rows, last) == ([[1]], 17)
    shapes: list[dict[str, object]] = [
        {"A": [], "B": [], "last": 1},
        {"A": {}, "last": 1},
        {"A": []},
        {"A": [], "last": "x"},
    ]
    for bad in shapes:
        with pytest.raises(ProviderError) as info:
            kraken.pair_series(bad, answer)
        assert info.value.reason_code == "PROVIDER_RESPONSE_INVALID"


def test_trade_times_prefer_the_exact_nanosecond_field() -> None:
    assert (
        kraken.trade_time_ns(["1", "1", 1.000000001, "b", "m", "", 1, "1000000001"]) == 1000000001
    )
    assert kraken.trade_time_ns(["1", "1", "2.5", "b", "m", "", 1, "n/a"]) == 2_500_000_000


def test_asset_pairs_map_ids_to_our_symbols(shared_data: Path) -> None:
    pairs = kraken.asset_pairs(_answer(_k(shared_data, "nautilus__http_asset_pairs.json")))
    assert pairs == tuple(sorted(pairs, key=lambda p: p.key))
    [btc] = pairs
    assert (btc.key, btc.base, btc.quote, btc.is_crypto) == ("XBTUSDT", "BTC", "USDT", True)
    with pytest.raises(ProviderError) as info:
        kraken.asset_pairs(_answer('{"error": [], "result": {"X": {"altname": "X"}}}'))
    assert info.value.reason_code == "PROVIDER_RESPONSE_INVALID"
