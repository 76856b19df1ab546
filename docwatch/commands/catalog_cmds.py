"""Catalog commands: ``ingest``, ``changes``, ``history``, ``diff``, ``versions``, ``accept``, ``reparse``.

``--json`` output is for tools; the default output is a readable rich table. Unknown sources
and bad dates are usage errors (exit 2); an unusable catalog file is exit 1.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from docwatch.catalog import Catalog, parse_time
from docwatch.errors import UsageError

if TYPE_CHECKING:
    from docwatch.model import ChangeEvent

log = logging.getLogger(__name__)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _console():
    from rich.console import Console

    width = None if sys.stdout.isatty() else 200
    return Console(soft_wrap=False, highlight=False, width=width, file=sys.stdout)


def _print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    _console().print(t)


def _events_out(events: list[ChangeEvent], as_json: bool, title: str) -> None:
    if as_json:
        _echo_json([e.to_dict() for e in events])
        return
    if not events:
        click.echo("No changes.")
        return
    _print_table(title, ["when", "source", "severity", "kind", "summary"],
                 [[e.detected_at, e.source, e.severity, e.kind, e.summary] for e in events])


def _open(ctx: click.Context, source: str | None = None, *, create: bool = False) -> Catalog:
    """The catalog for this command; only writers (``ingest``) may create it."""
    cat = ctx.obj.catalog(create=create)
    ctx.call_on_close(cat.close)
    cat.require_source(source)
    return cat


def _queue_alerts(ctx: click.Context, cat: Catalog) -> None:
    """Deliver pending change events as a scrape cycle would (when channels are configured)."""
    cfg = ctx.obj.config
    if cfg.channels:
        from docwatch.cycle import deliver_alerts

        log.info("alerts: %s", deliver_alerts(cat, cfg))


@click.command("ingest")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--source", "source", required=True, metavar="NAME", help="Source name the file is a version of.")
@click.option("--at", "at", metavar="ISO-DATE", help="When this version was observed (default: now, UTC).")
@click.option("--commit", "commit", metavar="SHA", help="The docs-repository commit this file is (provenance).")
@click.option("--url", "url", metavar="URL", help="The page URL this file is a version of (provenance).")
@click.option("--accept", is_flag=True, help="Accept the version even if the false-alarm guard flags it "
              "(also accepts these bytes if they are already stored as an anomaly).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def ingest_cmd(ctx: click.Context, path: Path, source: str, at: str | None, commit: str | None, url: str | None,
               accept: bool, as_json: bool) -> None:
    """Store a local file as a version of SOURCE, diff it against the previous one and queue alerts."""
    from docwatch import pipeline
    from docwatch.config import check_source_name

    check_source_name(source)
    observed = parse_time(at, what="--at date") if at else None
    cfg = ctx.obj.config
    local = pipeline.read_local(path)
    cat = _open(ctx, create=True)
    store = _store(cfg)
    obs = pipeline.Observation(
        source, local.doc, local.rules, observed_at=observed, content_hash=local.content_hash,
        snapshot_id=pipeline.store_bundle(store, text=local.text, form=local.doc.format, path=local.path,
                                          includes=local.includes, meta=local.doc.meta) if store else None,
        page_url=url or local.doc.meta.get("source_url"), form=local.doc.format, doc_commit=commit,
        commit_url=_commit_url(commit, url or local.doc.meta.get("source_url")))
    res = pipeline.ingest(cat, obs, guard=cfg.guard, accept=accept, store=store)
    if res.events:
        _queue_alerts(ctx, cat)
    if as_json:
        _echo_json({"version": res.seq, "version_id": res.version_id, "status": res.status, "reason": res.reason,
                    "rules": len(local.rules), "events": [e.to_dict() for e in res.events]})
        return
    line = f"{source}: version {res.seq} {res.status} ({len(local.rules)} rules, {len(res.events)} events)"
    if res.reason:
        line += f" - {res.reason}"
    click.echo(line)
    if res.events:
        _events_out(res.events, False, "Changes")


def _store(cfg):
    """The snapshot store ingested files are kept in, so ``reparse`` can re-read them."""
    from docwatch.snapshots import SnapshotStore

    try:
        return SnapshotStore(cfg.snapshot_dir)
    except OSError as exc:
        log.warning("snapshot store %s unusable (%s); this version cannot be reparsed later", cfg.snapshot_dir, exc)
        return None


def _commit_url(commit: str | None, url: str | None) -> str | None:
    from docwatch.diff import commit_url

    return commit_url(url, commit) if commit else None


SEVERITIES = ("info", "low", "medium", "high")


@click.command("changes")
@click.option("--source", metavar="NAME", help="Only this source.")
@click.option("--since", metavar="DATE", help="Only events detected at or after DATE (ISO).")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Only events of this severity or higher.")
@click.option("--kind", metavar="KIND", help="Only this kind: added, removed, modified, anomaly, form-switch, parser …")
@click.option("--cloud", type=click.Choice(["public", "usgov", "china"]), help="Only events of this cloud "
              "(cloud-neutral events included).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the newest N events.")
@click.option("--json", "as_json", is_flag=True, help="JSON: a list of events, each with its id.")
@click.pass_context
def changes_cmd(ctx: click.Context, source: str | None, since: str | None, severity: str | None, kind: str | None,
                cloud: str | None, limit: int | None, as_json: bool) -> None:
    """List stored change events (oldest first)."""
    since_iso = parse_time(since, what="--since date") if since else None
    cat = _open(ctx, source)
    events = cat.events(source=source, since=since_iso, kind=kind, cloud=cloud,
                        min_severity=SEVERITIES.index(severity) if severity else None, limit=limit)
    _events_out(events, as_json, "Change events")


@click.command("versions")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def versions_cmd(ctx: click.Context, source: str, as_json: bool) -> None:
    """The stored versions of SOURCE, numbered 1, 2, 3 … (what `diff --from/--to` and `accept --version` take)."""
    cat = _open(ctx, source)
    rows = [{"version": v["seq"], "observed_at": v["observed_at"], "status": v["status"], "form": v.get("form"),
             "rules": v["rule_count"], "tables": v["table_count"], "doc_date": v["doc_date"],
             "doc_commit": v["doc_commit"], "parser": v.get("parser_version"), "reason": v["reason"]}
            for v in cat.versions(source)]
    if as_json:
        _echo_json(rows)
        return
    _print_table(f"Versions of {source}", ["version", "observed_at", "status", "form", "rules", "doc_date", "commit", "reason"],
                 [[r["version"], r["observed_at"], r["status"], r["form"], r["rules"], r["doc_date"],
                   (r["doc_commit"] or "")[:10], r["reason"] or ""] for r in rows])


@click.command("accept")
@click.argument("source")
@click.option("--version", "seq", type=int, metavar="N", help="The anomalous version to accept (default: the latest).")
@click.pass_context
def accept_cmd(ctx: click.Context, source: str, seq: int | None) -> None:
    """Accept a version the false-alarm guard held as an anomaly: its changes are applied at its own date."""
    from docwatch import pipeline

    cat = _open(ctx, source, create=True)
    res = pipeline.accept(cat, source, seq)
    click.echo(f"{source}: version {res.seq} accepted ({len(res.events)} events)")
    if res.events:
        _queue_alerts(ctx, cat)
        _events_out(res.events, False, "Changes")


@click.command("reparse")
@click.argument("source", required=False)
@click.pass_context
def reparse_cmd(ctx: click.Context, source: str | None) -> None:
    """Re-extract every stored snapshot of SOURCE (default: all sources) with the current parser and
    rewrite the rule history; differences are `parser` events, never alerted."""
    from docwatch import pipeline

    cat = _open(ctx, source, create=True)
    store = _store(ctx.obj.config)
    for name in [source] if source else [n for n in cat.source_names() if not n.startswith("servicetags-")]:
        events = pipeline.reparse(cat, name, store)
        click.echo(f"{name}: reparsed with parser {pipeline.parser_version()} ({len(events)} parser events)")


def _rules_out(rows: list[dict[str, Any]], as_json: bool, title: str, history: bool = False) -> None:
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("No rules match.")
        return
    cols = ["source", "cloud", "tab", "direction", "endpoint / tag", "protocol", "ports", "required", "purpose"]
    if history:
        cols = ["valid_from", "valid_to", "state"] + cols
    out = []
    for r in rows:
        row = [r["source"], r["cloud"], r["tab"], r["direction"], r["endpoint"] or r["service_tag"],
               r["protocol"], ",".join(r["ports"]), r["required"], (r["purpose"] or "")[:60]]
        if history:
            row = [r["valid_from"], r["valid_to"] or "", "removed" if r["tombstone"] else "present"] + row
        out.append(row)
    _print_table(title, cols, out)


def _check_port(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip()
    if not v.isdigit() or not 0 <= int(v) <= 65535:
        raise click.BadParameter(f"{value!r} is not a port number (0-65535)")
    return str(int(v))


@click.command("history")
@click.argument("term", metavar="ENDPOINT_OR_TAG")
@click.option("--source", metavar="NAME")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def history_cmd(ctx: click.Context, term: str, source: str | None, as_json: bool) -> None:
    """Every stored version of the rules for an endpoint or service tag (tombstones included)."""
    from docwatch.query import history

    cat = _open(ctx, source)
    _rules_out(history(cat, term, source=source), as_json, f"History of {term}", history=True)


@click.command("diff")
@click.argument("source")
@click.option("--from", "from_v", type=int, metavar="N", help="Older version number (default: second-to-last accepted).")
@click.option("--to", "to_v", type=int, metavar="N", help="Newer version number (default: last accepted).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def diff_cmd(ctx: click.Context, source: str, from_v: int | None, to_v: int | None, as_json: bool) -> None:
    """Changes between two stored versions of SOURCE (numbers as `docwatch versions` shows; default: the last two)."""
    from docwatch.catalog import ACCEPTED_STATUSES
    from docwatch.diff import diff_rules
    from docwatch.pipeline import stamp

    cat = _open(ctx, source)
    versions = {v["seq"]: v for v in cat.versions(source)}
    accepted = [n for n, v in versions.items() if v["status"] in ACCEPTED_STATUSES]
    for v in (from_v, to_v):
        if v is not None and v not in versions:
            raise UsageError(f"version {v} is not a version of {source!r} (versions: {', '.join(map(str, sorted(versions)))})")
    if to_v is None:
        to_v = accepted[-1] if accepted else None
    if from_v is None:
        older = [v for v in accepted if to_v is not None and v < to_v]
        from_v = older[-1] if older else None
    if from_v is None or to_v is None:
        raise UsageError(f"{source!r} has fewer than two stored versions to compare")
    a, b = versions[from_v], versions[to_v]
    events = diff_rules(cat.rules_at_version(source, a["id"]), cat.rules_at_version(source, b["id"]), source=source)
    _events_out(stamp(events, b), as_json, f"{source}: version {from_v} → {to_v}")


COMMANDS = [ingest_cmd, changes_cmd, history_cmd, diff_cmd, versions_cmd, accept_cmd, reparse_cmd]
