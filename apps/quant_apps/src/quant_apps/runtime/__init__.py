"""The runtime: typer-free composition of the libraries into sessions, models and runs.

Everything here may be imported by the CLI (:mod:`quant_apps.cli`), and by a service or a
live trader, without the CLI: it never imports typer, click, rich or :mod:`quant_apps.cli`
(an import contract checks it). Modules:

* :mod:`~quant_apps.runtime.session` — :class:`TradingRuntime`: one trading session, its
  commands (start, stop, halt/resume, apply a profile, reload the bundle) and its runner;
  :mod:`~quant_apps.runtime.paper` opens a paper session from its options;
* :mod:`~quant_apps.runtime.readmodel` — the frozen values a reader sees;
* :mod:`~quant_apps.runtime.control` — :class:`ControlPlane`: reads, governed changes
  answered with a :class:`CommandResult`, and push events
  (:mod:`~quant_apps.runtime.events`) over a running session, for an operator API or UI;
  :mod:`~quant_apps.runtime.commands` — the queued commands and their outcomes;
  :mod:`~quant_apps.runtime.service` — what ``quant serve`` runs: the emulator on a replay
  clock, a paper session, its runner thread and its control plane;
* :mod:`~quant_apps.runtime.feed` — the market-data seam (:class:`BarFeed`);
* :mod:`~quant_apps.runtime.profiles`, :mod:`~quant_apps.runtime.paperlog` — governed
  profiles and the paper session's files;
* :mod:`~quant_apps.runtime.bundles`, :mod:`~quant_apps.runtime.activation` — the one way a
  model is served: verify → install → load the active bundle → predictor;
* :mod:`~quant_apps.runtime.runs`, :mod:`~quant_apps.runtime.training`,
  :mod:`~quant_apps.runtime.releases` and :mod:`~quant_apps.runtime.demo` — backtest,
  training and release runs, and the offline demo; :mod:`~quant_apps.runtime.stores` — the
  store, providers and file imports from settings;
* :mod:`~quant_apps.runtime.clock`, :mod:`~quant_apps.runtime.config`,
  :mod:`~quant_apps.runtime.doctor` — the wall clock, the environment and the install report.

The package root re-exports the session surface below.
"""

from quant_apps.runtime.commands import CommandOutcome
from quant_apps.runtime.control import CommandResult, ControlPlane
from quant_apps.runtime.events import EventHub
from quant_apps.runtime.feed import BarFeed, ProviderSync
from quant_apps.runtime.paperlog import PaperLogWriter
from quant_apps.runtime.profiles import ProfileBook, ProfileUpdate, load_profiles
from quant_apps.runtime.readmodel import (
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
from quant_apps.runtime.session import (
    Command,
    CommandKind,
    CycleReport,
    EventWaiter,
    TradingRuntime,
    Waiter,
)

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
