"""Firewall outputs: ``query``, ``export``, ``drift``, ``parity``.

Reference sources (``role = "reference"`` in config.toml) are never exported as allow rules nor
counted as requirements by ``drift``. Warnings (what a format cannot express) go to stderr and,
where the format has room, into the file's metadata.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from docwatch.catalog import parse_time
from docwatch.commands.catalog_cmds import _check_port, _echo_json, _open, _print_table, _rules_out
from docwatch.errors import UsageError

CLOUD = click.Choice(["public", "usgov", "china"])


@click.command("query")
@click.option("--source", metavar="NAME")
@click.option("--cloud", type=CLOUD, help="Rules for this cloud, including those that name no cloud.")
@click.option("--only-cloud", is_flag=True, help="With --cloud: only rules that name that cloud.")
@click.option("--direction", type=click.Choice(["outbound", "inbound", "both"]))
@click.option("--port", metavar="PORT", callback=_check_port, help="Rules allowing this port (ranges and * included).")
@click.option("--tag", metavar="SERVICE_TAG", help="Storage also finds Storage.<region> and Storage.EastUS.")
@click.option("--endpoint", metavar="PATTERN", help="Glob on the endpoint ('*.blob.core.windows.net'); a plain name "
              "works like --host.")
@click.option("--host", metavar="NAME", help="Is this host allowed, and by which rule (wildcards, <placeholder> templates).")
@click.option("--as-of", "as_of", metavar="DATE", help="Rules in force at DATE (a bare date includes the whole day).")
@click.option("--resolve", is_flag=True, help="Add each tag rule's prefixes from the service-tag files.")
@click.option("--region", "regions", metavar="REGION", multiple=True, help="With --resolve: Tag.<region> for REGION.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def query_cmd(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """Query current (or as-of) rules."""
    from docwatch.query import RuleFilter, query_rules

    if kw.get("as_of"):
        parse_time(kw["as_of"], what="--as-of date")
    resolve, regions = kw.pop("resolve"), kw.pop("regions")
    cat = _open(ctx, kw.get("source"))
    rows = query_rules(cat, RuleFilter(**kw))
    if resolve:  # service tags → prefixes (docwatch/catalog_tags.py)
        from docwatch.catalog_tags import add_resolved

        add_resolved(cat, rows, regions, kw.get("as_of"))
    if kw.get("host") and not as_json:
        if not rows:
            click.echo(f"{kw['host']}: no rule allows this host.")
            return
        _print_table(f"{kw['host']} is allowed by", ["source", "cloud", "direction", "pattern", "match", "protocol",
                                                       "ports", "purpose"],
                     [[r["source"], r["cloud"] or "every cloud", r["direction"], r["matched_by"]["pattern"],
                       r["matched_by"]["match"], r["protocol"], ",".join(r["ports"]), (r["purpose"] or "")[:60]]
                      for r in rows])
        return
    _rules_out(rows, as_json, "Rules" + (f" as of {kw['as_of']}" if kw.get("as_of") else ""))
    if resolve and not as_json:
        from docwatch.commands.tags_cmds import echo_resolved

        echo_resolved(rows)


def _reference(ctx: click.Context) -> set[str]:
    from docwatch.exports import reference_sources

    return reference_sources(ctx.obj.config)


def _emit(text: str, output: Path | None) -> None:
    if output:
        from docwatch.exports import atomic_write

        atomic_write(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "changes-json", "csv", "azure-firewall", "nsg", "edl-urls",
                                                    "edl-ips", "pac"]), required=True)
@click.option("--cloud", type=CLOUD, help="One cloud (rules that name no cloud apply to every cloud).")
@click.option("--source", "sources", metavar="NAME", multiple=True, help="Only these sources (repeatable).")
@click.option("--required-only", is_flag=True, help="Leave out rules the page marks as not required.")
@click.option("--as-of", "as_of", metavar="DATE", help="The rules in force at DATE.")
@click.option("--region", "regions", metavar="REGION", multiple=True, help="Resolve <region> templates (repeatable).")
@click.option("--since-version", type=click.IntRange(min=0), default=0, help="changes-json: entries after this version.")
@click.option("--pac-route", default="DIRECT", show_default=True, help="pac: where listed hosts go.")
@click.option("--pac-default", default=None, help="pac: where every other host goes, e.g. 'PROXY proxy:8080'.")
@click.option("--policy-name", default="docwatch", show_default=True, help="azure-firewall/nsg: default resource name.")
@click.option("--priority", type=click.IntRange(100, 65000), default=500, show_default=True,
              help="azure-firewall: rule collection group priority.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to FILE atomically (default stdout).")
@click.pass_context
def export_cmd(ctx: click.Context, fmt: str, sources: tuple[str, ...], regions: tuple[str, ...], output: Path | None,
               **kw: Any) -> None:
    """Export the rules for firewalls, proxies and tools (formats: see README, "Exports")."""
    from docwatch.exports import run_export
    from docwatch.exports.base import ExportRequest

    if kw.get("as_of"):
        parse_time(kw["as_of"], what="--as-of date")
    if output is not None and output.is_dir():
        raise UsageError(f"{output}: is a directory")
    cat = _open(ctx)
    for s in sources:
        cat.require_source(s)
    req = ExportRequest(format=fmt, sources=list(sources), regions=list(regions), reference_sources=_reference(ctx), **kw)
    res = run_export(cat, req)
    _emit(res.text, output)
    skipped = sorted(req.reference_sources & (set(sources) or set(cat.source_names())))
    if skipped:
        click.echo(f"note: reference sources not exported as allow rules: {', '.join(skipped)}", err=True)
    for w in res.warnings:
        click.echo(f"warning: {w.line()}", err=True)
    click.echo(f"{fmt}: catalog version {res.catalog_version}, {len(res.warnings)} warnings", err=True)


@click.command("drift")
@click.option("--policy", "policy", required=True, type=click.Path(path_type=Path),
              help="Azure Firewall rule collection group JSON or NSG JSON (az CLI output or ARM template).")
@click.option("--cloud", type=CLOUD)
@click.option("--source", "sources", metavar="NAME", multiple=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def drift_cmd(ctx: click.Context, policy: Path, cloud: str | None, sources: tuple[str, ...], as_json: bool) -> None:
    """Check a firewall policy against the requirements: must add, partial, review. Exit 1 when a
    required rule is missing."""
    from docwatch.drift import check_drift, load_policy

    pol = load_policy(policy)
    cat = _open(ctx)
    for s in sources:
        cat.require_source(s)
    report = check_drift(cat, pol, cloud=cloud, sources=list(sources), reference_sources=_reference(ctx))
    if as_json:
        _echo_json(report.to_dict())
    else:
        click.echo(f"{policy}: {report.kind} policy, {len(report.policy_rules)} rules; "
                   f"{len(report.covered)} requirements covered, {len(report.must_add)} must add, "
                   f"{len(report.partial)} partial, {len(report.review)} to review")
        for title, items in (("Must add", report.must_add), ("Partial", report.partial)):
            if items:
                _print_table(title, ["source", "party", "direction", "protocol", "ports", "missing", "required"],
                             [[i.source, i.party, i.direction, i.protocol, ",".join(i.ports), i.missing, i.required]
                              for i in items])
        if report.review:
            _print_table("Review (covers nothing docwatch knows)", ["rule", "destinations"],
                         [[r.name, ", ".join(r.destinations)] for r in report.review])
    ctx.exit(1 if report.failed else 0)


@click.command("parity")
@click.argument("source", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def parity_cmd(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """Rules stated for one cloud with no counterpart in another (sovereign-domain suffix table)."""
    from docwatch.parity import parity_gaps

    cat = _open(ctx, source)
    gaps = parity_gaps(cat, source=source, reference_sources=_reference(ctx))
    if as_json:
        _echo_json([g.to_dict() for g in gaps])
        return
    if not gaps:
        click.echo("No parity gaps.")
        return
    _print_table("Parity gaps", ["source", "stated for", "party", "missing in", "expected counterpart", "purpose"],
                 [[g.source, g.cloud, g.party, g.missing_in, g.expected or "(same name)", (g.purpose or "")[:50]]
                  for g in gaps])


COMMANDS = [query_cmd, export_cmd, drift_cmd, parity_cmd]
