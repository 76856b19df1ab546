"""``docwatch parse`` and ``docwatch rules``: look at one local file without a catalog.

JSON output is the contract (DESIGN.md, "CLI contract"); the human output is a readable
listing rendered with rich.
"""
from __future__ import annotations

import json

import click

from docwatch.documents import load_local
from docwatch.normalize import normalize_checked


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _console():
    import sys

    from rich.console import Console

    # piped output (files, CliRunner) gets a wide fixed width instead of rich's 80 columns
    width = None if sys.stdout.isatty() else 200
    return Console(soft_wrap=False, highlight=False, width=width, file=sys.stdout)


def _doc_json(doc) -> dict:
    d = doc.to_dict()
    return {"meta": d.pop("meta"), "tables": d.pop("tables"), "diagnostics": d.pop("diagnostics"), **d}


@click.command("parse")
@click.argument("path", type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the parsed document as JSON.")
def parse_cmd(path: str, as_json: bool) -> None:
    """Show the tables of a local markdown or HTML file (format detected from content)."""
    doc = load_local(path)
    if as_json:
        _echo_json(_doc_json(doc))
        return
    from rich.table import Table as RichTable
    from rich.text import Text

    console = _console()
    title = doc.title or doc.meta.get("title") or path
    console.print(Text(f"{title}  [{doc.format}, {len(doc.tables)} tables]", style="bold"))
    for k in ("doc_date", "doc_commit", "source_url"):
        if doc.meta.get(k):
            console.print(Text(f"  {k}: {doc.meta[k]}", style="dim"))
    for i, t in enumerate(doc.tables):
        where = " › ".join(t.headings) or "(no heading)"
        if t.tabs:
            where += " › " + " › ".join(f"[{tab.label}]" for tab in t.tabs)
        console.print()
        console.print(Text(f"#{i} {where}" + (f"  (line {t.line})" if t.line else ""), style="bold cyan"))
        if t.source:
            console.print(Text(f"   from {t.source}", style="dim"))
        if t.lead_in:
            console.print(Text(f"   {t.lead_in}", style="italic"))
        rt = RichTable(show_lines=False, expand=False)
        for c in t.columns or [""]:
            rt.add_column(c, overflow="fold")
        for row in t.rows:
            rt.add_row(*["\n".join(c.items) or c.text for c in row])
        console.print(rt)
    for d in doc.diagnostics:
        console.print(Text(f"{d.level}: {d.code}: {d.message}" + (f" (line {d.line})" if d.line else ""), style="yellow"))


@click.command("rules")
@click.argument("path", type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the normalized rules as a JSON list.")
@click.option("--coverage", "with_coverage", is_flag=True,
              help="With --json: print an object {rules, coverage, unparsed} instead of the bare list.")
def rules_cmd(path: str, as_json: bool, with_coverage: bool) -> None:
    """Show the normalized network rules of a local markdown or HTML file, and its coverage:
    host/URL/IP/CIDR/tag-like tokens seen on the page, turned into rules, set aside, unparsed."""
    from docwatch.coverage import coverage_counts

    doc = load_local(path)
    rules, diags = normalize_checked(doc)
    cov = coverage_counts(doc, rules, [*doc.diagnostics, *diags])
    unparsed = [d for d in diags if d.code == "unparsed"]
    if as_json:
        if with_coverage:
            _echo_json({"rules": [r.to_dict() for r in rules], "coverage": cov.to_dict(),
                        "unparsed": [d.to_dict() for d in unparsed]})
        else:  # the bare list is the stable contract (DESIGN.md)
            _echo_json([r.to_dict() for r in rules])
        return
    from rich.table import Table as RichTable

    rt = RichTable(title=f"{len(rules)} rules", show_lines=False)
    for c in ("cloud", "tab", "dir", "proto", "party", "kind", "ports", "req", "purpose"):
        rt.add_column(c, overflow="fold", max_width=60 if c == "purpose" else None)
    for r in rules:
        rt.add_row(
            r.cloud or "-", r.tab or "-", r.direction or "-", r.protocol or "-",
            f"{r.source} → {r.destination}" if r.endpoint_kind == "role" and r.source and r.destination
            else r.party or f"{r.source or '?'} → {r.destination or '?'}",
            r.endpoint_kind or ("tag" if r.service_tag else "-"),
            ",".join(r.ports) or "-", {True: "yes", False: "no"}.get(r.required, "-"),
            (r.purpose or "")[:120],
        )
    console = _console()
    console.print(rt)
    from rich.text import Text

    console.print(Text(cov.summary(), style="bold"))
    for d in unparsed:
        where = " › ".join(d.section or []) or "(no heading)"
        console.print(Text(f"  unparsed: {d.token}  [{where}" + (f", line {d.line}]" if d.line else "]"), style="yellow"))


COMMANDS = [parse_cmd, rules_cmd]
