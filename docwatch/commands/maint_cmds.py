"""Maintenance: `gc` (prune unreferenced snapshot objects)."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@click.option("--min-age", "min_age", type=click.FloatRange(min=0), default=3600, show_default=True,
              help="Keep unreferenced objects younger than this many seconds (a running cycle may be about to record them).")
@click.option("--keep-suspicious", type=click.IntRange(min=0), default=None,
              help="Suspicious bodies kept per source (default: fetch.keep_suspicious).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def gc_cmd(app, dry_run: bool, min_age: float, keep_suspicious: int | None, as_json: bool) -> None:
    """Remove snapshot objects no catalog row refers to (and old suspicious bodies)."""
    import sqlite3

    import sqlite_utils

    from docwatch.catalog import check_catalog_path
    from docwatch.snapshots import SnapshotStore, collect_garbage

    cfg = app.config
    keep = cfg.fetch.keep_suspicious if keep_suspicious is None else keep_suspicious
    path = app.db_path
    check_catalog_path(path, must_exist=True, origin=app.db_origin)
    # read-only on the catalog: the references are only read, never written
    db = sqlite_utils.Database(sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True))
    try:
        report = collect_garbage(db, SnapshotStore(cfg.snapshot_dir), keep_suspicious=keep,
                                 min_age_seconds=min_age, dry_run=dry_run)
    finally:
        db.conn.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(f"snapshots {cfg.snapshot_dir}: {report}")


COMMANDS: list = [gc_cmd]
