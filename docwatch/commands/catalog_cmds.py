"""CLI commands (filled by its owner)."""
COMMANDS: list = []
