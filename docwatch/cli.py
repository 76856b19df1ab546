"""The ``docwatch`` command line (click).

Commands live in ``docwatch/commands/*.py``; each module exposes ``COMMANDS`` (a list of
click commands) and this group adds them. Errors are one clear line and an exit code
(0 ok, 1 runtime failure, 2 bad usage or config); ``--debug`` shows the traceback.
"""
from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import click

from docwatch.errors import DocwatchError

COMMAND_MODULES = ("parse_cmds", "catalog_cmds", "scrape_cmds", "alerts_cmds")
DEFAULT_CONFIG = "config.toml"
DEFAULT_DB = "docwatch.db"


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
    def db_path(self) -> Path:
        if self.db_option:
            return Path(self.db_option)
        return Path(self.config.catalog_path)

    def catalog(self):
        from docwatch.catalog import Catalog

        return Catalog(self.db_path)


class DocwatchGroup(click.Group):
    """Turns DocwatchError (and anything unexpected) into one line + exit code."""

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
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except Exception as exc:  # pragma: no cover - safety net, shown with --debug
            if _debug(ctx):
                raise
            click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
            ctx.exit(1)


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(AppContext)
    return bool(obj and obj.debug)


@click.group(cls=DocwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


for _name in COMMAND_MODULES:
    _module = importlib.import_module(f"docwatch.commands.{_name}")
    for _command in getattr(_module, "COMMANDS", []):
        main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
