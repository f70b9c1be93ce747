"""The runtime: typer-free composition of the libraries into sessions, models and runs.

Everything here may be imported by the CLI (:mod:`quant_apps.cli`), by the operator server
(:mod:`quant_apps.serve`) and by a live trader: it never imports typer, click, rich, the CLI
or the server (import contracts check it). Its rooms:

* :mod:`~quant_apps.runtime.trading` — one trading session: :class:`TradingRuntime` (its
  commands — halt/resume, apply a profile, reload the bundle, stop — and its runner), the
  read model, the market-data seam (:class:`BarFeed`), governed profiles, the paper log, and
  :mod:`~quant_apps.runtime.trading.paper`, which opens a paper session from its options;
* :mod:`~quant_apps.runtime.operator` — the operator's side: :class:`ControlPlane` (reads,
  governed changes answered with a :class:`CommandResult`, push events), the decision
  index, data coverage, and :mod:`~quant_apps.runtime.operator.service`, what ``quant
  serve`` runs (the emulator on a replay clock, a paper session, its runner thread);
* :mod:`~quant_apps.runtime.models` — the one way a model is served (verify → install → load
  the active bundle → predictor), the bundle desk (status, updates, rollback), signed
  releases and training runs;
* :mod:`~quant_apps.runtime.jobs` — backtest runs, the offline demo, the store and providers
  from settings;
* :mod:`~quant_apps.runtime.clock`, :mod:`~quant_apps.runtime.config`,
  :mod:`~quant_apps.runtime.doctor` — the wall clock, the environment and the install report.

The package root re-exports the session surface below.
"""

from quant_apps.runtime.operator.control import CommandResult, ControlPlane
from quant_apps.runtime.operator.events import EventHub
from quant_apps.runtime.trading.commands import (
    Command,
    CommandKind,
    CommandOutcome,
    CycleReport,
    EventWaiter,
    Waiter,
)
from quant_apps.runtime.trading.feed import BarFeed, ProviderSync
from quant_apps.runtime.trading.paperlog import PaperLogWriter
from quant_apps.runtime.trading.profiles import ProfileBook, ProfileUpdate, load_profiles
from quant_apps.runtime.trading.readmodel import (
    CoinFreshness,
    DecisionView,
    GateUse,
    Health,
    Holding,
    KillSwitchView,
    Mode,
    OpenOrder,
    ReadModel,
    Status,
)
from quant_apps.runtime.trading.session import TradingRuntime

__all__ = [
    "BarFeed",
    "CoinFreshness",
    "Command",
    "CommandKind",
    "CommandOutcome",
    "CommandResult",
    "ControlPlane",
    "CycleReport",
    "DecisionView",
    "EventHub",
    "EventWaiter",
    "GateUse",
    "Health",
    "Holding",
    "KillSwitchView",
    "Mode",
    "OpenOrder",
    "PaperLogWriter",
    "ProfileBook",
    "ProfileUpdate",
    "ProviderSync",
    "ReadModel",
    "Status",
    "TradingRuntime",
    "Waiter",
    "load_profiles",
]
