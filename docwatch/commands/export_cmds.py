"""Firewall outputs: `export`, `drift`, `parity`."""
from __future__ import annotations

COMMANDS: list = []
