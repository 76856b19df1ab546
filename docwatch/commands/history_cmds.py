"""History on day one: ``backfill`` (a source's past versions from a docs repository clone)
and ``deadlines`` (dates the pages attach to requirements, soonest first)."""
from __future__ import annotations

import re
import time
from pathlib import Path

import click

from docwatch.commands.catalog_cmds import _echo_json, _open, _print_table, _queue_alerts, _store
from docwatch.errors import UsageError


class _Progress:
    """Progress on stderr: commits read, versions ingested, events; at most ~2 lines/second."""

    def __init__(self, source: str, quiet: bool):
        self.source, self.quiet, self.shown = source, quiet, 0.0

    def __call__(self, stats) -> None:
        now = time.monotonic()
        if self.quiet or (stats.phase != "done" and now - self.shown < 0.5):
            return
        self.shown = now
        click.echo(f"{self.source}: {stats.commits_read} commits read, {stats.versions_ingested} versions ingested, "
                   f"{stats.events} events", err=True)


@click.command("backfill")
@click.argument("source")
@click.option("--repo", "repo", required=True, type=click.Path(path_type=Path), metavar="PATH",
              help="Local clone of the docs repository (shallow, partial or sparse is fine).")
@click.option("--path", "page_path", metavar="PAGE_PATH",
              help="The page's path in the repository (default: from the source's markdown_url).")
@click.option("--since", metavar="DATE", help="Only commits at or after DATE (ISO).")
@click.option("--until", metavar="DATE", help="Only commits up to DATE (ISO; a bare date includes the day).")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
@click.option("--alerts", "send_alerts", is_flag=True,
              help="Also send the historic events to the alert channels (default: recorded, not sent).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def backfill_cmd(ctx: click.Context, source: str, repo: Path, page_path: str | None, since: str | None,
                 until: str | None, quiet: bool, send_alerts: bool, as_json: bool) -> None:
    """Ingest SOURCE's past versions from the git history of its page and includes, in commit order."""
    from docwatch.backfill import backfill

    from docwatch.config import check_source_name

    check_source_name(source)
    cfg = ctx.obj.config
    if page_path is None and source not in {s.name for s in cfg.sources}:  # before the catalog is created
        known = ", ".join(s.name for s in cfg.sources) or "none configured"
        raise UsageError(f"unknown source {source!r} (configured: {known}); pass --path PAGE_PATH to backfill it anyway")
    cat = _open(ctx, create=True)
    stats = backfill(cat, cfg, source, repo, page_path=page_path, since=since, until=until, store=_store(cfg),
                     on_progress=_Progress(source, quiet or as_json))
    if stats.events and send_alerts:
        _queue_alerts(ctx, cat)
    elif stats.events and cfg.channels:  # years of history are not news: the channels move past it
        from docwatch.alerts.outbox import skip_to_latest

        skip_to_latest(cat, cfg.channels)
    summary = {"source": source, "commits_read": stats.commits_read, "versions_ingested": stats.versions_ingested,
               "events": stats.events, "anomalies": stats.anomalies, "already_ingested": stats.skipped_known,
               "unchanged_commits": stats.skipped_same, "paths": stats.paths}
    if as_json:
        _echo_json(summary)
        return
    click.echo(f"{source}: {stats.versions_ingested} versions ingested from {stats.commits_read} commits "
               f"({stats.events} events, {stats.skipped_known} already in the catalog, "
               f"{stats.skipped_same} commits left the page unchanged); paths: {', '.join(stats.paths)}")


_WITHIN = re.compile(r"^\s*(\d+)\s*([dwmy]?)\s*$", re.I)
_UNIT_DAYS = {"": 1, "d": 1, "w": 7, "m": 30, "y": 365}


def parse_within(value: str | None) -> int | None:
    """``90d``, ``12w``, ``3m``, ``1y`` or a bare number of days → days."""
    if value is None:
        return None
    m = _WITHIN.match(value)
    if not m:
        raise UsageError(f"bad --within {value!r}: expected a span like 90d, 12w, 3m or 1y")
    return int(m.group(1)) * _UNIT_DAYS[m.group(2).lower()]


@click.command("deadlines")
@click.option("--within", metavar="SPAN", help="Only deadlines within this span from today (e.g. 90d, 12w, 6m).")
@click.option("--source", metavar="NAME")
@click.option("--as-of", "as_of", metavar="DATE", help="Count from DATE instead of today.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deadlines_cmd(ctx: click.Context, within: str | None, source: str | None, as_of: str | None, as_json: bool) -> None:
    """Upcoming deadlines the watched pages announce, soonest first."""
    from docwatch.catalog import parse_time
    from docwatch.deadline_store import _today, upcoming

    days = parse_within(within)
    if as_of:
        parse_time(as_of, what="--as-of date")
    cat = _open(ctx, source)
    today = _today(as_of)
    rows = upcoming(cat, now=as_of, within_days=days, source=source)
    if as_json:
        _echo_json([d.to_dict(today) for d in rows])
        return
    if not rows:
        span = f" within {days} days" if days is not None else ""
        click.echo(f"No upcoming deadlines{span}.")
        return
    _print_table("Upcoming deadlines", ["date", "in", "source", "applies to", "sentence"],
                 [[d.date, f"{d.days_left(today)}d", d.source,
                   ", ".join(d.parties) if d.rule_keys else "page", d.sentence[:120]] for d in rows])


COMMANDS: list = [backfill_cmd, deadlines_cmd]
