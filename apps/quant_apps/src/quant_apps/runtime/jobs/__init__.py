"""Runs the CLI starts and ends: backtests, the offline demo, the store and providers.

:mod:`.runs` (backtest runs and their outputs), :mod:`.demo` (``quant demo``) and
:mod:`.stores` (the store, providers and file imports from settings).
"""
