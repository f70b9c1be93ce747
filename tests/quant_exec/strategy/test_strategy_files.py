"""Recorded predictions, the decision log file, and the HTML report."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

from quant_core import Instrument, unstructure
from quant_core.errors import ValidationError
from quant_core.events import HorizonForecast, Prediction, Predictor
from quant_exec import reasons
from quant_exec.decisions import (
    DecisionLog,
    DecisionRecord,
    log_hash,
    read_decision_log,
    read_log,
    replay_difference,
)
from quant_exec.errors import PredictionsFileError
from quant_exec.orders import OrderStatus, OrderSubmitted
from quant_exec.report import ReportData, drawdown_series, render_report
from quant_exec.session import RecordedPredictor, read_predictions, write_predictions

BTC, ETH = Instrument("BTC", "USD"), Instrument("ETH", "USD")
H = 3_600 * 10**9


def pred(
    ts: int, instrument: Instrument = BTC, model: str = "sha256:m", p: float = 0.6
) -> Prediction:
    return Prediction(instrument, ts, ts, (HorizonForecast(H, p),), model)


# --- predictions ----------------------------------------------------------------------------


def test_predictions_round_trip_and_order(tmp_path: Path) -> None:
    preds = [pred(2 * H, ETH), pred(H, ETH), pred(H, BTC), pred(2 * H, BTC, p=0.25)]
    path = tmp_path / "p.jsonl"
    write_predictions(path, preds)
    back = read_predictions(path)
    assert set(back) == set(preds)
    assert [(p.ts_event, p.instrument.base) for p in back] == [
        (H, "BTC"),
        (H, "ETH"),
        (2 * H, "BTC"),
        (2 * H, "ETH"),
    ]
    # Each line is exactly the core converter's plain form.
    first = json.loads(path.read_bytes().splitlines()[0])
    assert first == json.loads(json.dumps(unstructure(back[0])))


def test_recorded_predictor_is_a_causal_predictor() -> None:
    predictor = RecordedPredictor([pred(H), pred(H, ETH), pred(2 * H)])
    assert isinstance(predictor, Predictor)
    assert predictor.horizons_ns == (H,)
    assert predictor.predict(H, {BTC: ()}) == (pred(H),)
    assert predictor.predict(H, {BTC: (), ETH: ()}) == (pred(H), pred(H, ETH))
    assert predictor.predict(3 * H, {BTC: ()}) == ()


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (['{"not": "a prediction"}'], "not a prediction"),
        (["not json"], "not a prediction"),
        (["{}"], "not a prediction"),
    ],
)
def test_bad_prediction_lines_are_refused(tmp_path: Path, lines: list[str], match: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PredictionsFileError, match=match) as info:
        read_predictions(path)
    assert info.value.reason_code == reasons.PREDICTIONS_INVALID
    assert ":1:" in info.value.message


def test_out_of_order_or_repeated_predictions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    write_predictions(path, [pred(H), pred(2 * H)])
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join([lines[1], lines[0]]) + b"\n")
    with pytest.raises(PredictionsFileError, match="out of event order"):
        read_predictions(path)
    path.write_bytes(b"\n".join([lines[0], b"", lines[0]]) + b"\n")
    with pytest.raises(PredictionsFileError, match=":3: predictions out of event order"):
        read_predictions(path)


def test_recorded_predictor_needs_one_model_and_one_horizon_set() -> None:
    with pytest.raises(PredictionsFileError, match="no predictions"):
        RecordedPredictor([])
    with pytest.raises(PredictionsFileError, match="one model"):
        RecordedPredictor([pred(H), pred(2 * H, model="sha256:other")])
    two = Prediction(
        BTC, 3 * H, 3 * H, (HorizonForecast(H, 0.5), HorizonForecast(2 * H, 0.5)), "sha256:m"
    )
    with pytest.raises(PredictionsFileError, match="one set of horizons"):
        RecordedPredictor([pred(H), two])


# --- decision log ---------------------------------------------------------------------------


def record(ts: int, *codes: str) -> DecisionRecord:
    return DecisionRecord(
        ts_ns=ts,
        trigger="bar",
        instrument="BTC/USD",
        action="none",
        reason_codes=codes,
        profile="p",
        inputs={"price": Decimal("1.50")},
    )


def test_decision_log_is_canonical_lines_with_a_sha256(tmp_path: Path) -> None:
    log = DecisionLog({"model_id": "m"})
    log.append(record(1, reasons.NO_EDGE))
    log.append(record(2, reasons.ENTRY, "RISK_DRAWDOWN"))
    data = log.to_bytes()
    lines = data.splitlines()
    assert json.loads(lines[0]) == {"kind": "session", "model_id": "m"}
    assert lines[1] == (
        b'{"action":"none","inputs":{"price":"1.50"},"instrument":"BTC/USD","kind":"decision",'
        b'"model_id":null,"order_id":null,"profile":"p","quantity":null,'
        b'"reason_codes":["NO_EDGE"],"seq":1,"trigger":"bar","ts_ns":1}'
    )

    assert log.log_hash() == "sha256:" + hashlib.sha256(data).hexdigest() == log_hash(data)
    assert log.reason_counts() == {"ENTRY": 1, "NO_EDGE": 1, "RISK_DRAWDOWN": 1}
    path = tmp_path / "d.jsonl"
    assert log.write(path) == log.log_hash()
    assert path.read_bytes() == data
    session, rows = read_decision_log(path)
    assert session["model_id"] == "m"
    assert [r["seq"] for r in rows] == [1, 2]


@pytest.mark.parametrize(
    "content",
    [
        b"not json\n",
        b'{"kind":"decision"}\n',
        b'{"kind":"session"}\n[1]\n',
        b"",
        b'{"kind":"session"}\n{"kind":"telemetry"}\n',
        b'{"kind":"session"}\n{"kind":"session"}\n',  # two sessions: a paper log, not one run
    ],
)
def test_a_malformed_decision_log_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValidationError) as info:
        read_decision_log(path)
    assert info.value.reason_code == reasons.DECISION_LOG_INVALID


def test_order_and_risk_lines_share_the_numbering_and_read_back(tmp_path: Path) -> None:
    log = DecisionLog({"model_id": "m"})
    log.append(record(1, reasons.NO_EDGE))
    log.add_risk(2, "kill_switch", {"kill_switch": {"action": "engage"}})
    log.add_order(3, OrderSubmitted("O-1", ts_event=3, ts_init=3), OrderStatus.SUBMITTED)
    seq = log.add(4, "bar", "BTC/USD", "none", (reasons.NO_EDGE,), "p", {})
    assert seq == 4
    assert len(log) == 2  # decisions only
    path = tmp_path / "d.jsonl"
    log.write(path)
    (run,) = read_log(path)
    assert [r["seq"] for r in run.decisions] == [1, 4]
    assert [r["seq"] for r in run.risk] == [2]
    assert [r["seq"] for r in run.orders] == [3]
    assert run.orders == list(log.orders)
    assert run.risk == list(log.risk)
    # Two sessions in one file (a paper log): one run each.
    path.write_bytes(log.to_bytes() * 2)
    assert [len(r.decisions) for r in read_log(path)] == [2, 2]


def test_a_risk_line_cannot_overwrite_its_own_keys() -> None:
    log = DecisionLog({})
    for key in ("kind", "seq", "ts_ns", "change"):
        with pytest.raises(ValidationError) as info:
            log.add_risk(1, "profile", {key: "x"})
        assert info.value.reason_code == "INVALID_INPUT"
    assert log.to_bytes().count(b"\n") == 1  # the header only


# --- report ---------------------------------------------------------------------------------


def data(**kw: object) -> ReportData:
    base: dict[str, object] = {
        "title": "t <&>",
        "equity": ((0, Decimal(100)), (1, Decimal(50)), (2, Decimal(75)), (3, Decimal(200))),
        "closes": {"ETH/USD": ((0, Decimal(1)),), "BTC/USD": ((0, Decimal(10)), (1, Decimal(12)))},
        "fills": ((0, "BTC/USD", "buy", Decimal(10)), (1, "BTC/USD", "sell", Decimal(12))),
        "reason_counts": {"NO_EDGE": 3, "ENTRY": 1},
        "metrics": {"return_pct": "100"},
        "identity": {"model_id": "sha256:<m>", "dataset_hash": None},
    }
    base.update(kw)
    return ReportData(**base)  # type: ignore[arg-type]


def test_drawdown_from_the_running_peak() -> None:
    values = [v for _, v in drawdown_series(data().equity)]
    assert values == [0, -50, -25, 0]
    assert drawdown_series([(0, Decimal(0))]) == [(0, Decimal(0))]


def test_report_is_self_contained_deterministic_and_escaped() -> None:
    html = render_report(data())
    assert html == render_report(data())
    assert "<script" not in html
    assert "http" not in html
    assert "<link" not in html
    assert "t &lt;&amp;&gt;" in html
    assert "sha256:&lt;m&gt;" in html
    # Equity, drawdown, one price chart per instrument (sorted), reason-code bars.
    assert html.count("<svg") == 5
    assert html.index("<h3>BTC/USD") < html.index("<h3>ETH/USD")
    assert html.count("<circle") == 2  # one marker per fill on BTC, none on ETH
    assert 'fill="#1a7f37"' in html
    assert 'fill="#c62828"' in html
    assert html.index(">ENTRY<") < html.index(">NO_EDGE<")


def test_report_copes_with_empty_inputs() -> None:
    html = render_report(data(equity=(), closes={}, fills=(), reason_counts={}))
    assert "(no data)" in html
    assert "(no decisions)" in html


def test_replay_difference_names_the_first_line_that_differs() -> None:
    log = DecisionLog({"model_id": "m"})
    log.append(record(1, reasons.NO_EDGE))
    log.append(record(2, reasons.NO_EDGE))
    data = log.to_bytes()
    assert replay_difference(data, data) is None
    changed = data.replace(b'"ts_ns":2', b'"ts_ns":3')
    assert replay_difference(data, changed) == (
        "line 3 (seq 2, a decision line) is the first that differs"
    )
    torn = data.rsplit(b"\n", 2)[0] + b"\nnot json\n"
    assert replay_difference(torn, data) == "line 3 (not a log line) is the first that differs"
    assert replay_difference(data, data + data.splitlines(keepends=True)[1]) == (
        "the first 3 lines agree; then the recorded log has 3 lines, the replay 4"
    )
