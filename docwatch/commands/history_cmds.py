"""History on day one: `backfill`, `deadlines`."""
from __future__ import annotations

COMMANDS: list = []
