"""The ``docwatch`` command line (click).

Commands live in ``docwatch/commands/*.py``; each module exposes ``COMMANDS`` (a list of
click commands) and this group adds them. Errors are one clear line and an exit code
(0 ok, 1 runtime failure, 2 bad usage or config); ``--debug`` shows the traceback.
"""
from __future__ import annotations

import importlib
import sqlite3
import sys
from pathlib import Path

import click

from docwatch.errors import DocwatchError

COMMAND_MODULES = ("parse_cmds", "catalog_cmds", "scrape_cmds", "alerts_cmds", "tags_cmds", "export_cmds", "maint_cmds",
                   "history_cmds")
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
        return Catalog(path, create=create)

    def shown_db_path(self) -> str:
        """The catalog path for an error message, without raising."""
        try:
            return str(self.db_option or self.config.catalog_path)
        except Exception:  # noqa: BLE001 - only used while reporting another error
            return str(self.db_option or DEFAULT_DB)


class DocwatchGroup(click.Group):
    """Turns every error into one ``Error: ...`` line on stderr and an exit code
    (0 ok, 1 runtime failure, 2 bad usage or config, 130 interrupted); ``--debug`` re-raises."""

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
        except sqlite3.Error as exc:
            if _debug(ctx):
                raise
            from docwatch.catalog import catalog_error

            obj = ctx.find_object(AppContext)
            click.echo(f"Error: {catalog_error(obj.shown_db_path() if obj else DEFAULT_DB, exc)}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            if _debug(ctx):
                raise
            click.echo("", err=True)  # ends the terminal's ^C echo
            click.echo("Error: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # pragma: no cover - safety net, shown with --debug
            if _debug(ctx):
                raise
            click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
            ctx.exit(1)


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


for _name in COMMAND_MODULES:
    _module = importlib.import_module(f"docwatch.commands.{_name}")
    for _command in getattr(_module, "COMMANDS", []):
        main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
