"""Maintenance: `gc` (prune unreferenced snapshot objects)."""
from __future__ import annotations

COMMANDS: list = []
