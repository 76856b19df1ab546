"""``scrape``, ``daemon``, ``status``, ``replay`` and ``run`` (the README's main job)."""
from __future__ import annotations

import os
import socket
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import click

from docwatch.errors import DocwatchError, UsageError

REPO_SNAPSHOTS = Path(__file__).resolve().parents[2] / "snapshots"
PROBE_HOST = "learn.microsoft.com"


@contextmanager
def _progress(total: int, label: str):
    """A rich progress bar on a terminal; nothing otherwise. Yields an ``on_done`` callback."""
    if not sys.stderr.isatty() or total == 0:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task("", total=total)

        def on_done(outcome) -> None:
            prog.update(task, advance=1, description=f"{outcome.source}: {outcome.status}")

        yield on_done


def _echo_report(report, title: str) -> None:
    for o in report.outcomes:
        degraded = f" [degraded: {o.degraded}]" if getattr(o, "degraded", None) else ""
        if o.status in ("failed", "anomaly"):
            click.echo(f"  {o.source}: {o.status}: {o.error}")
        elif o.status in ("first", "changed", "form-switch"):
            click.echo(f"  {o.source}: {o.status} ({o.rules} rules, {o.events} change events){degraded}")
        elif degraded:
            click.echo(f"  {o.source}: {o.status}{degraded}")
    click.echo(f"{title}: {report.summary()}")


def _pick_sources(cfg, names: tuple[str, ...]):
    """The page sources to run (all by default); with names, only those (service-tag source names
    such as ``servicetags-public`` pick their tag file instead)."""
    if not names:
        if not cfg.sources and not getattr(cfg, "servicetags", None):
            where = cfg.path or "config.toml (not found: built-in defaults have no sources)"
            raise UsageError(f"no sources configured in {where}")
        return list(cfg.sources)
    tags = {t.source for t in getattr(cfg, "servicetags", None) or []}
    return [cfg.source(n) for n in names if n not in tags]


def _cycle_config(cfg, names: tuple[str, ...]):
    """``cfg`` with only the named service-tag files when names are given."""
    if not names or not getattr(cfg, "servicetags", None):
        return cfg
    from dataclasses import replace

    return replace(cfg, servicetags=[t for t in cfg.servicetags if t.source in names])


def _scrape(app, sources, names: tuple[str, ...] = ()):
    from docwatch.cycle import run_cycle
    from docwatch.daemon import CatalogLock

    cfg = _cycle_config(app.config, names)
    with CatalogLock(app.db_path, "scrape"):
        catalog = app.catalog()
        try:
            with _progress(len(sources) + len(getattr(cfg, "servicetags", None) or []), "scrape") as on_done:
                return run_cycle(cfg, catalog, sources=sources, on_done=on_done)
        finally:
            catalog.close()


@click.command("scrape")
@click.option("--source", "source_names", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.pass_obj
def scrape_cmd(app, source_names: tuple[str, ...]) -> None:
    """Run one fetch cycle over the configured sources (exit 1 if every source failed)."""
    sources = _pick_sources(app.config, source_names)
    report = _scrape(app, sources, source_names)
    _echo_report(report, "scrape")
    if report.all_failed:
        raise DocwatchError("every source failed to fetch; nothing was changed in the catalog")


@click.command("daemon")
@click.option("--once", is_flag=True, help="Run one cycle under the daemon's lock and state, then exit.")
@click.option("--source", "source_names", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.pass_obj
def daemon_cmd(app, once: bool, source_names: tuple[str, ...]) -> None:
    """Run scrape cycles on the [schedule] of config.toml until SIGTERM/SIGINT."""
    from docwatch.daemon import Daemon

    cfg = app.config
    sources = _pick_sources(cfg, source_names)
    if Daemon(cfg, app.db_path, sources=sources).serve(once=once):
        raise DocwatchError("every source failed to fetch; nothing was changed in the catalog")


def lock_holder(db_path: Path) -> str | None:
    """Who holds the catalog lock (a running daemon/scrape), or None."""
    import fcntl

    path = Path(f"{db_path}.lock")
    if not path.exists():
        return None
    with open(path) as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return fh.read().strip() or "unknown process"
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return None


def _coverage_text(cov: dict | None) -> str:
    if not cov:
        return "-"
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(cov.items()))


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status_cmd(app, as_json: bool) -> None:
    """Per source: last status and success, last error, form used (degraded when the preferred
    form failed), failure streak, coverage and current rules; the daemon's state and next run."""
    import json

    from docwatch.crawlstate import status_report

    cfg, db_path = app.config, app.db_path
    catalog = app.catalog(create=False)
    try:
        report = status_report(catalog, [s.name for s in cfg.sources])
        channels = _channel_states(catalog, cfg)
    finally:
        catalog.close()
    daemon = report.daemon
    holder = lock_holder(Path(db_path))
    rows = [dict(r.to_dict(), configured=r.configured) for r in report.sources]
    info = {"catalog": str(db_path), "running": holder, "next_run": daemon.get("next_run") if holder else None,
            "last_cycle": daemon.get("last_cycle"), "last_cycle_summary": daemon.get("last_cycle_summary"),
            "sources": rows, "channels": [vars(c).copy() for c in channels]}
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"catalog: {db_path}")
    click.echo(f"daemon: {'running (' + holder + ')' if holder else 'not running'}"
               + (f"; next run {info['next_run']}" if info["next_run"] else ""))
    if info["last_cycle"]:
        click.echo(f"last cycle: {info['last_cycle']}: {info['last_cycle_summary']}")
    from rich.console import Console
    from rich.table import Table

    t = Table(show_lines=False)
    for c in ("source", "rules", "last status", "form", "last success", "last error", "coverage"):
        t.add_column(c, overflow="fold")
    notes = []
    for r in report.sources:
        err = f"{r.last_error_at}: {r.last_error}" if r.last_error else "-"
        form = (r.form or "-") + (" (degraded)" if r.degraded else "")
        t.add_row(r.source, str(r.rules), r.last_status or "never run", form, r.last_success or "-", err,
                  _coverage_text(r.coverage))
        if r.degraded:
            notes.append(f"{r.source}: degraded: {r.degraded}")
        if r.fail_streak:
            notes.append(f"{r.source}: fetch failing {r.fail_streak} cycle(s) in a row (rules kept)")
    Console(width=None if sys.stdout.isatty() else 160, file=sys.stdout).print(t)
    for n in notes:
        click.echo(f"  {n}")
    if channels:
        click.echo("alert channels:")
        for c in channels:
            click.echo(f"  {c.line()}")


def _channel_states(catalog, cfg) -> list:
    """Per alert channel: ok, retrying or held (read-only), from the outbox."""
    if not cfg.channels:
        return []
    from docwatch.alerts.outbox import channel_states

    return channel_states(catalog, cfg.channels)


def _replay_dir(cfg, directory: str | None) -> Path:
    if directory:
        return Path(directory)
    for cand in (Path(cfg.snapshot_dir), REPO_SNAPSHOTS):
        if (cand / "recorded.json").is_file():
            return cand
    raise UsageError(f"no recorded snapshots found (looked for recorded.json in {cfg.snapshot_dir}/ and {REPO_SNAPSHOTS}/)")


def _replay(app, snap_dir: Path):
    from docwatch.cycle import replay
    from docwatch.daemon import CatalogLock
    from docwatch.snapshots import load_manifest

    recorded = load_manifest(snap_dir)  # UsageError when missing or malformed
    with CatalogLock(app.db_path, "replay"):
        catalog = app.catalog()
        try:
            with _progress(len(recorded), "replay") as on_done:
                return replay(app.config, catalog, snap_dir, on_done=on_done)
        finally:
            catalog.close()


@click.command("replay")
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False, path_type=str))
@click.pass_obj
def replay_cmd(app, directory: str | None) -> None:
    """Run recorded snapshots (DIRECTORY/recorded.json, default snapshots/) through the cycle, oldest first."""
    report = _replay(app, _replay_dir(app.config, directory))
    _echo_report(report, "replay")


def network_reachable(host: str = PROBE_HOST, port: int = 443, timeout: float = 3.0) -> bool:
    """A TCP connection to ``host`` within ``timeout`` seconds (DNS included)."""
    ok = threading.Event()

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                ok.set()
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return ok.is_set()


def _offline_forced(flag: bool) -> bool:
    return flag or os.environ.get("DOCWATCH_OFFLINE", "").strip().lower() in ("1", "true", "yes")


@click.command("run")
@click.option("--offline", is_flag=True, help="Do not touch the network: replay recorded snapshots (also DOCWATCH_OFFLINE=1).")
@click.pass_obj
def run_cmd(app, offline: bool) -> None:
    """The main job: scrape (or, offline, replay snapshots/), then show the catalog and the changes found."""
    cfg = app.config
    catalog = app.catalog()
    try:
        before = catalog.last_event_id()
    finally:
        catalog.close()
    if _offline_forced(offline) or not network_reachable():
        snap_dir = _replay_dir(cfg, None)
        click.echo(f"Network unreachable: replaying recorded snapshots from {_shown(snap_dir)}/")
        _echo_report(_replay(app, snap_dir), "replay")
    else:
        report = _scrape(app, _pick_sources(cfg, ()))
        _echo_report(report, "scrape")
        if report.all_failed:
            snap_dir = _replay_dir(cfg, None)
            click.echo(f"Every fetch failed: replaying recorded snapshots from {_shown(snap_dir)}/")
            _echo_report(_replay(app, snap_dir), "replay")
    _show_catalog(app, before)


def _shown(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def _show_catalog(app, before: int) -> None:
    catalog = app.catalog()
    try:
        rows = [(src, cloud or "-", direction or "-", n) for src, cloud, direction, n in catalog.rule_counts()]
        new = catalog.events_after(before)
        recent = [] if new else catalog.events(limit=10)
    finally:
        catalog.close()
    click.echo("")
    click.echo(f"Catalog {app.db_path}: current rules per source (cloud / direction)")
    if not rows:
        click.echo("  (empty)")
    by_source: dict[str, list] = {}
    for source, cloud, direction, n in rows:
        by_source.setdefault(source, []).append((cloud, direction, n))
    for source, items in by_source.items():
        total = sum(n for *_x, n in items)
        click.echo(f"  {source}: {total} rules")
        for cloud, direction, n in items:
            click.echo(f"    {cloud:<8} {direction:<9} {n}")
    click.echo("")
    if new:
        click.echo(f"Changes found in this run ({len(new)}):")
        shown = new
    else:
        click.echo("No new changes in this run." + (" Latest recorded changes:" if recent else ""))
        shown = recent
    for e in shown[:50]:
        click.echo(f"  {e.detected_at}  {e.source}  {e.kind} [{e.severity}]  {e.summary}")
    if len(shown) > 50:
        click.echo(f"  … and {len(shown) - 50} more (docwatch changes)")


COMMANDS = [scrape_cmd, daemon_cmd, status_cmd, replay_cmd, run_cmd]
