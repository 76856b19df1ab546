"""Exceptions with messages a user can act on; the CLI maps them to exit codes."""


class DocwatchError(Exception):
    """A runtime failure the user can act on (exit code 1)."""

    exit_code = 1


class UsageError(DocwatchError):
    """Bad usage: a missing file, an unknown source, bad arguments (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """Invalid configuration; the message names the key (and line when known) (exit code 2).

    Validators raise ``ConfigError(msg, key="alerts.slack.url")``; the config loader adds
    the file and line where that key is written before the CLI prints it.
    """

    def __init__(self, message: str, key: str | None = None, line: int | None = None, path: str | None = None):
        self.message, self.key, self.line, self.path = message, key, line, path
        super().__init__(message)

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = f"{self.path}" + (f", line {self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        key = f"[{self.key}] " if self.key else ""
        return f"{where}{key}{self.message}"


class CatalogError(DocwatchError):
    """The catalog database cannot be used (corrupt, locked, newer schema)."""

