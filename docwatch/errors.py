"""Exceptions with messages a user can act on; the CLI maps them to exit codes."""


class DocwatchError(Exception):
    """A runtime failure the user can act on (exit code 1)."""

    exit_code = 1


class UsageError(DocwatchError):
    """Bad usage: a missing file, an unknown source, bad arguments (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """Invalid configuration; the message names the key (and line when known) (exit code 2)."""


class CatalogError(DocwatchError):
    """The catalog database cannot be used (corrupt, locked, newer schema)."""


class FetchError(DocwatchError):
    """A fetch failed after retries; never a reason to infer removals."""
