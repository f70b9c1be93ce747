"""The one place the server names the runtime's control-plane types (the UI imports them too)."""

from __future__ import annotations

from quant_apps.runtime.operator.control import CommandResult, ControlPlane

__all__ = ["CommandResult", "ControlPlane"]
