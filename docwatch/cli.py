"""The ``docwatch`` command line (click).

Commands live in ``docwatch/commands/*.py``; each module exposes ``COMMANDS`` (a list of
click commands). The group is lazy: :data:`LAZY_COMMANDS` maps each command name to
``module:attribute``; ``docwatch --help`` lists every command with the short help read
from its docstring in the module's source, without importing any command module, and a
command imports only what it uses (``query`` never loads httpx, deepdiff or normalize).
A new command = one entry here; tests/test_imports.py fails when a module's ``COMMANDS``
holds a command missing from the mapping. Errors are one clear line and an exit code
(0 ok, 1 runtime failure, 2 bad usage or config); ``--debug`` shows the traceback.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import sys
from pathlib import Path

import click

from docwatch.errors import DocwatchError

log = logging.getLogger(__name__)

# name → "module:attribute" of the click command. Short help is read from the docstring in
# the module's source (no import), see short_help().
LAZY_COMMANDS: dict[str, str] = {
    "parse": "docwatch.commands.parse_cmds:parse_cmd",
    "rules": "docwatch.commands.parse_cmds:rules_cmd",
    "ingest": "docwatch.commands.catalog_cmds:ingest_cmd",
    "changes": "docwatch.commands.catalog_cmds:changes_cmd",
    "history": "docwatch.commands.catalog_cmds:history_cmd",
    "diff": "docwatch.commands.catalog_cmds:diff_cmd",
    "versions": "docwatch.commands.catalog_cmds:versions_cmd",
    "accept": "docwatch.commands.catalog_cmds:accept_cmd",
    "reparse": "docwatch.commands.catalog_cmds:reparse_cmd",
    "query": "docwatch.commands.export_cmds:query_cmd",
    "export": "docwatch.commands.export_cmds:export_cmd",
    "drift": "docwatch.commands.export_cmds:drift_cmd",
    "parity": "docwatch.commands.export_cmds:parity_cmd",
    "scrape": "docwatch.commands.scrape_cmds:scrape_cmd",
    "daemon": "docwatch.commands.scrape_cmds:daemon_cmd",
    "status": "docwatch.commands.scrape_cmds:status_cmd",
    "replay": "docwatch.commands.scrape_cmds:replay_cmd",
    "run": "docwatch.commands.scrape_cmds:run_cmd",
    "alerts": "docwatch.commands.alerts_cmds:alerts",
    "tags": "docwatch.commands.tags_cmds:tags_group",
    "backfill": "docwatch.commands.history_cmds:backfill_cmd",
    "deadlines": "docwatch.commands.history_cmds:deadlines_cmd",
    "gc": "docwatch.commands.maint_cmds:gc_cmd",
}
COMMAND_PACKAGE = "docwatch.commands"
DEFAULT_CONFIG = "config.toml"
DEFAULT_DB = "docwatch.db"
HELP_OPTIONS = ("-h", "--help")
_HELP_ONLY = "docwatch.help_only"


class AppContext:
    """What every command may need: paths from the global options and a lazily loaded config."""

    def __init__(self, db: str | None, config: str | None, debug: bool):
        self.db_option = db
        self.config_option = config
        self.debug = debug
        self._config = None

    @property
    def config_path(self) -> Path:
        return Path(self.config_option or DEFAULT_CONFIG)

    @property
    def config(self):
        """The parsed config; an explicit ``--config`` that is missing is an error,
        a missing default ``config.toml`` gives the built-in defaults."""
        if self._config is None:
            from docwatch.config import load_config

            self._config = load_config(self.config_path, required=self.config_option is not None)
        return self._config

    @property
    def db_origin(self) -> str:
        """Where the catalog path comes from, for error messages."""
        if self.db_option:
            return "--db"
        return f"catalog_path in {self.config.path}" if self.config.path else "the default catalog path"

    @property
    def db_path(self) -> Path:
        """The catalog path, checked (not a directory, its directory exists) before anyone uses it."""
        from docwatch.catalog import check_catalog_path

        path = Path(self.db_option) if self.db_option else Path(self.config.catalog_path)
        check_catalog_path(path, origin=self.db_origin)
        return path

    def catalog(self, *, create: bool = True):
        """Open the catalog; read-only commands pass ``create=False`` so a mistyped path is an
        error rather than a new empty catalog."""
        from docwatch.catalog import Catalog, check_catalog_path

        path = self.db_path
        if not create:
            check_catalog_path(path, must_exist=True, origin=self.db_origin)
        cat = Catalog(path, create=create)
        if create and self.config.channels:  # writers: new channels start from now, before any event
            from docwatch.alerts.outbox import start_channels

            start_channels(cat, self.config.channels)
        return cat

    def shown_db_path(self) -> str:
        """The catalog path for an error message, without raising."""
        try:
            return str(self.db_option or self.config.catalog_path)
        except Exception:  # noqa: BLE001 - only used while reporting another error
            return str(self.db_option or DEFAULT_DB)


def load_command(name: str) -> click.Command:
    """Import the command registered under ``name`` in :data:`LAZY_COMMANDS`. A stale entry (the
    command moved to another module) still works, found by name in every module's ``COMMANDS``;
    tests/test_imports.py fails until the entry is fixed."""
    module, _, attr = LAZY_COMMANDS[name].partition(":")
    try:
        command = getattr(importlib.import_module(module), attr, None)
    except ImportError:
        command = None
    if isinstance(command, click.Command) and command.name == name:
        return command
    log.warning("docwatch.cli.LAZY_COMMANDS[%r] = %r is stale; looking the command up by name", name, LAZY_COMMANDS[name])
    for found in all_commands():
        if found.name == name:
            return found
    raise click.UsageError(f"command {name!r} is registered but no command module defines it")


def all_commands() -> list[click.Command]:
    """Every command every ``docwatch.commands`` module defines (imports them all: tests, fallback)."""
    import pkgutil

    package = importlib.import_module(COMMAND_PACKAGE)
    out = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        out += getattr(importlib.import_module(f"{COMMAND_PACKAGE}.{info.name}"), "COMMANDS", [])
    return out


def short_help(name: str, limit: int = 45) -> str:
    """The short help click would show for ``name``, read from the docstring of its function in
    the module's source text, so listing commands imports no command module (and none of what
    they import). A test checks it against the imported command for every entry."""
    module, _, attr = LAZY_COMMANDS[name].partition(":")
    spec = importlib.util.find_spec(module)
    try:
        source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    except OSError:
        source = ""
    m = re.search(rf"^def {re.escape(attr)}\(.*?\)\s*(?:->[^:]*)?:\s*\n\s*[rRuU]?(\"\"\"|\'\'\')(.*?)\1",
                  source, re.M | re.S)
    if not m:
        return ""
    return click.Command(name, help=m.group(2)).get_short_help_str(limit)  # click's own rule, exactly


class DocwatchGroup(click.Group):
    """Lazy commands from :data:`LAZY_COMMANDS`; turns every error into one ``Error: ...`` line on
    stderr and an exit code (0 ok, 1 runtime failure, 2 bad usage or config, 130 interrupted);
    ``--debug`` re-raises."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(load_command(cmd_name))
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list with each short help read from source: ``--help`` imports no command module."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        rows = []
        for name in names:
            if name in self.commands:
                cmd = self.commands[name]
                if not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit)))
            else:  # a docstring the source scan cannot read: import that one command
                rows.append((name, short_help(name, limit) or self.get_command(ctx, name).get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `docwatch` / `docwatch alerts`
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.UsageError as exc:  # click's parse errors, without the multi-line usage block
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:  # Ctrl-C or EOF while click itself was parsing or prompting
            click.echo("Error: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        # remembered so the group callback does not validate the config for `<command> --help`
        ctx.meta[_HELP_ONLY] = any(a in HELP_OPTIONS for a in args)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DocwatchError as exc:
            if _debug(ctx):
                raise
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            if _debug(ctx):
                raise
            click.echo("", err=True)  # ends the terminal's ^C echo
            click.echo("Error: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if _debug(ctx):
                raise
            if _is_sqlite_error(exc):
                from docwatch.catalog import catalog_error

                obj = ctx.find_object(AppContext)
                click.echo(f"Error: {catalog_error(obj.shown_db_path() if obj else DEFAULT_DB, exc)}", err=True)
                ctx.exit(1)
            click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
            ctx.exit(1)


def _is_sqlite_error(exc: BaseException) -> bool:
    """sqlite3 is imported only by commands that open the catalog, so check without importing it."""
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(exc, sqlite3.Error)


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(AppContext)
    return bool(obj and obj.debug)


@click.group(cls=DocwatchGroup, context_settings={"help_option_names": list(HELP_OPTIONS)})
@click.option("--db", metavar="PATH", envvar="DOCWATCH_DB", help="Catalog SQLite file (default: from config.toml, else docwatch.db).")
@click.option("--config", "config", metavar="PATH", envvar="DOCWATCH_CONFIG", help="Config file (default: ./config.toml).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("--log-format", type=click.Choice(["plain", "json"]), default="plain", show_default=True, help="Log line format.")
@click.version_option(package_name="docwatch")
@click.pass_context
def main(ctx: click.Context, db: str | None, config: str | None, debug: bool, log_format: str) -> None:
    """docwatch: watch Microsoft Learn network-requirement pages and alert on endpoint, port and service-tag changes."""
    from docwatch.logs import setup_logging

    setup_logging(debug=debug, fmt=log_format)
    ctx.obj = AppContext(db, config, debug)
    if not ctx.resilient_parsing and not ctx.meta.get(_HELP_ONLY) and (config or ctx.obj.config_path.exists()):
        ctx.obj.config  # noqa: B018 - a bad config is reported whatever the command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
