"""The deterministic value floor of quant_core (private; the package root re-exports it).

Value types, time and the clock, canonical JSON and hashing, the cattrs converter and seed
derivation: one module each, used by every other room of quant_core.
"""
