"""What the runtime's tickets answer when the runner fails, and sessions without an audit log."""

from __future__ import annotations

from pathlib import Path

import pytest

from quant_apps.runtime import Command, CommandKind, CycleReport
from quant_core.errors import AuditChainError

from .conftest import make_runtime


def test_a_runner_that_fails_fails_the_command_too(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    runtime, _, _ = make_runtime(out)
    runtime.start()
    (out / "audit.jsonl").write_bytes(b"not an audit record\n")  # the chain is broken
    first = runtime.submit(Command(CommandKind.RESUME, "ops", "not engaged: nothing audited"))
    ticket = runtime.submit(Command(CommandKind.HALT, "ops", "drill"))
    with pytest.raises(AuditChainError):
        runtime.service()
    assert isinstance(ticket.exception(timeout=0), AuditChainError)
    assert isinstance(first.exception(timeout=0), AuditChainError)  # taken in the same batch
    ticket.cancel()  # a resolved ticket stays as it is
    assert isinstance(ticket.exception(timeout=0), AuditChainError)


def test_without_an_audit_log_profile_versions_still_apply(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    runtime, _, _ = make_runtime(out)
    runtime.audit = None
    runtime.start()
    risk = {"max_concurrent_positions": 3}
    ticket = runtime.submit(Command(CommandKind.APPLY_PROFILE, "ops", "r", risk=risk))
    runtime.service()
    assert ticket.result(timeout=0).details["risk_version"] == 2
    assert not (out / "audit.jsonl").exists()


def test_a_cycle_report_reads_as_one_line() -> None:
    from decimal import Decimal

    report = CycleReport(1, 0, 2, 3, 0, Decimal(5), False, 2, "v2", "released")
    assert report.line() == (
        "cycle 1 1970-01-01T00:00:00Z: 2 bars, 3 decisions, 0 fills, PV 5, profile v2, "
        "kill switch released"
    )
