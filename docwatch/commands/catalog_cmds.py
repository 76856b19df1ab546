"""Catalog commands: ``ingest``, ``changes``, ``query``, ``history``, ``export``, ``diff``.

``--json`` output is for tools; the default output is a readable rich table. Unknown sources
and bad dates are usage errors (exit 2); an unusable catalog file is exit 1.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from docwatch.catalog import Catalog, parse_time
from docwatch.errors import UsageError
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


def _content_hash(path: Path, doc) -> str:
    """The page bytes plus the bytes of every include that contributed a table."""
    h = hashlib.sha256(path.read_bytes())
    for inc in sorted({t.source for t in doc.tables if t.source}):
        p = Path(inc)
        h.update(b"\0" + inc.encode() + b"\0")
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


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
@click.option("--accept", is_flag=True, help="Accept the version even if the false-alarm guard flags it.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def ingest_cmd(ctx: click.Context, path: Path, source: str, at: str | None, accept: bool, as_json: bool) -> None:
    """Store a local file as a version of SOURCE, diff it against the previous one and queue alerts."""
    from docwatch.diff import GuardSettings
    from docwatch.documents import load_local
    from docwatch.normalize import normalize_checked

    observed = parse_time(at, what="--at date") if at else None
    doc = load_local(path)
    rules, failures = normalize_checked(doc)
    doc.diagnostics.extend(failures)  # the guard turns these into an anomaly
    guard = GuardSettings(enabled=False) if accept else ctx.obj.config.guard
    cat = _open(ctx, create=True)
    res = cat.ingest(source, doc, rules, observed_at=observed, content_hash=_content_hash(path, doc),
                     page_url=doc.meta.get("source_url"), guard=guard)
    if res.events:
        _queue_alerts(ctx, cat)
    if as_json:
        _echo_json({"version_id": res.version_id, "status": res.status, "reason": res.reason,
                    "rules": len(rules), "events": [e.to_dict() for e in res.events]})
        return
    line = f"{source}: version {res.version_id} {res.status} ({len(rules)} rules, {len(res.events)} events)"
    if res.reason:
        line += f" - {res.reason}"
    click.echo(line)
    if res.events:
        _events_out(res.events, False, "Changes")


@click.command("changes")
@click.option("--source", metavar="NAME", help="Only this source.")
@click.option("--since", metavar="DATE", help="Only events detected at or after DATE (ISO).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def changes_cmd(ctx: click.Context, source: str | None, since: str | None, as_json: bool) -> None:
    """List stored change events (oldest first)."""
    since_iso = parse_time(since, what="--since date") if since else None
    cat = _open(ctx, source)
    _events_out(cat.events(source=source, since=since_iso), as_json, "Change events")


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


@click.command("query")
@click.option("--source", metavar="NAME")
@click.option("--cloud", type=click.Choice(["public", "usgov", "china"]))
@click.option("--direction", type=click.Choice(["outbound", "inbound", "both"]))
@click.option("--port", metavar="PORT", callback=_check_port, help="Rules allowing this port (ranges and * included).")
@click.option("--tag", metavar="SERVICE_TAG")
@click.option("--endpoint", metavar="PATTERN", help="Glob on the endpoint, e.g. '*.blob.core.windows.net'.")
@click.option("--as-of", "as_of", metavar="DATE", help="Rules in force at DATE (a bare date includes the whole day).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def query_cmd(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """Query current (or as-of) rules."""
    from docwatch.query import RuleFilter, query_rules

    if kw.get("as_of"):
        parse_time(kw["as_of"], what="--as-of date")
    cat = _open(ctx, kw.get("source"))
    _rules_out(query_rules(cat, RuleFilter(**kw)), as_json, "Rules" + (f" as of {kw['as_of']}" if kw.get("as_of") else ""))


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


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), required=True)
@click.option("--cloud", type=click.Choice(["public", "usgov", "china"]))
@click.option("--source", metavar="NAME")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE (default stdout).")
@click.pass_context
def export_cmd(ctx: click.Context, fmt: str, cloud: str | None, source: str | None, output: Path | None) -> None:
    """Export current rules: JSON in the Microsoft 365 endpoints shape (one document keyed by
    cloud instance: Worldwide / USGovernment / China) or CSV."""
    from docwatch.export import dumps_json, to_csv, to_m365_json
    from docwatch.query import RuleFilter, query_rules

    cat = _open(ctx, source)
    rows = query_rules(cat, RuleFilter(source=source))
    if fmt == "csv":
        text = to_csv([r for r in rows if not cloud or r["cloud"] in (cloud, None)])
    else:
        text = dumps_json(to_m365_json(rows, cloud))
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{output}: cannot write ({exc.strerror or exc})") from None
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@click.command("diff")
@click.argument("source")
@click.option("--from", "from_v", type=int, metavar="V", help="Older version id (default: second-to-last accepted).")
@click.option("--to", "to_v", type=int, metavar="V", help="Newer version id (default: last accepted).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def diff_cmd(ctx: click.Context, source: str, from_v: int | None, to_v: int | None, as_json: bool) -> None:
    """Changes between two stored versions of SOURCE (default: the last two)."""
    from docwatch.catalog import ACCEPTED_STATUSES
    from docwatch.diff import commit_url, diff_rules

    cat = _open(ctx, source)
    versions = {v["id"]: v for v in cat.versions(source)}
    accepted = [i for i, v in versions.items() if v["status"] in ACCEPTED_STATUSES]
    known = set(versions)
    for v in (from_v, to_v):
        if v is not None and v not in known:
            raise UsageError(f"version {v} is not a version of {source!r} (versions: {', '.join(map(str, sorted(known)))})")
    if to_v is None:
        to_v = accepted[-1] if accepted else None
    if from_v is None:
        older = [v for v in accepted if to_v is not None and v < to_v]
        from_v = older[-1] if older else None
    if from_v is None or to_v is None:
        raise UsageError(f"{source!r} has fewer than two stored versions to compare")
    events = diff_rules(cat.rules_at_version(source, from_v), cat.rules_at_version(source, to_v), source=source)
    to = versions[to_v]
    for ev in events:  # the "to" version's provenance, as stored events carry it
        ev.detected_at, ev.version_id, ev.doc_date, ev.doc_commit = to["observed_at"], to_v, to["doc_date"], to["doc_commit"]
        ev.page_url, ev.commit_url = to["page_url"], commit_url(to["source_url"], to["doc_commit"])
    _events_out(events, as_json, f"{source}: version {from_v} → {to_v}")


COMMANDS = [ingest_cmd, changes_cmd, query_cmd, history_cmd, export_cmd, diff_cmd]
