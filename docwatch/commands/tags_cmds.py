"""`docwatch tags ingest|show|used`: the weekly Azure Service Tags files."""
from __future__ import annotations

COMMANDS: list = []
