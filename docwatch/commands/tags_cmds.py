"""`docwatch tags ingest|show|used`: the weekly Azure Service Tags files."""
from __future__ import annotations

import difflib
from dataclasses import asdict
from pathlib import Path

import click

from docwatch.catalog import parse_time
from docwatch.commands.catalog_cmds import _echo_json, _events_out, _open, _print_table, _queue_alerts
from docwatch.errors import UsageError

CLOUD_CHOICE = click.Choice(["public", "usgov", "china"])


def _entry(ctx: click.Context, cloud: str):
    """The ``[[servicetags]]`` entry of ``cloud`` (its source name and min_ratio), if configured."""
    for entry in getattr(ctx.obj.config, "servicetags", []) or []:
        if entry.cloud == cloud:
            return entry
    return None


def _source_for(ctx: click.Context, cloud: str) -> str:
    """The configured source name of ``cloud``'s entry, else ``servicetags-<cloud>``."""
    from docwatch.servicetags import source_name

    entry = _entry(ctx, cloud)
    return entry.source if entry else source_name(cloud)


@click.group("tags")
def tags_group() -> None:
    """Weekly Azure Service Tags files: ingest them, show a tag's prefixes, list the tags pages use."""


@tags_group.command("ingest")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--at", "at", metavar="ISO-DATE", help="When the file was published/observed (default: the date in "
              "its name, else now).")
@click.option("--cloud", type=CLOUD_CHOICE, help="The cloud this file must be for (default: the one its name "
              "claims, if any); a file for another cloud is an anomaly.")
@click.option("--accept", is_flag=True, help="Accept the file even if the guard flags far fewer tags or prefixes.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ingest_cmd(ctx: click.Context, path: Path, at: str | None, cloud: str | None, accept: bool, as_json: bool) -> None:
    """Record a ServiceTags_*.json[.gz] file as a version of servicetags-<cloud>, diff it, queue alerts."""
    from docwatch.catalog_tags import ingest_tag_file, record_tag_anomaly
    from docwatch.servicetags import TagFileError, file_date, name_cloud, parse_tag_file, sniff_cloud

    observed = parse_time(at, what="--at date") if at else None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    cat = _open(ctx, create=True)
    try:
        tf = parse_tag_file(data, name=path.name)
    except TagFileError as exc:
        target = cloud or sniff_cloud(data, path.name)
        if target is None:
            raise UsageError(f"{path}: {exc}; its cloud cannot be told (pass --cloud)") from None
        res = record_tag_anomaly(cat, target, f"{path.name}: {exc}", source=_source_for(ctx, target),
                                 observed_at=observed or file_date(path.name))
    else:
        from docwatch.servicetags import DEFAULT_MIN_RATIO

        expected = cloud or name_cloud(path.name)  # a file named for another cloud is one too
        entry = _entry(ctx, expected or tf.cloud)
        res = ingest_tag_file(cat, tf, observed_at=observed, expected_cloud=expected, accept=accept,
                              source=_source_for(ctx, expected or tf.cloud), url=str(path.resolve()),
                              min_ratio=entry.min_ratio if entry else DEFAULT_MIN_RATIO)
    if res.events:
        _queue_alerts(ctx, cat)
    if as_json:
        _echo_json({"source": res.source, "version_id": res.version_id, "status": res.status, "reason": res.reason,
                    "tags": res.tags, "prefixes": res.prefixes, "events": [e.to_dict() for e in res.events]})
        return
    line = f"{res.source}: version {res.version_id} {res.status} ({res.tags} tags, {res.prefixes} prefixes, " \
           f"{len(res.events)} events)"
    click.echo(line + (f" - {res.reason}" if res.reason else ""))
    if res.events:
        _events_out(res.events, False, "Changes")


@tags_group.command("show")
@click.argument("name")
@click.option("--cloud", type=CLOUD_CHOICE, default="public", show_default=True)
@click.option("--as-of", "as_of", metavar="DATE", help="As listed in the file in force at DATE.")
@click.option("--ipv4", "family", flag_value="ipv4", help="Only IPv4 prefixes.")
@click.option("--ipv6", "family", flag_value="ipv6", help="Only IPv6 prefixes.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show_cmd(ctx: click.Context, name: str, cloud: str, as_of: str | None, family: str | None, as_json: bool) -> None:
    """A tag's change number, region, system service and prefixes."""
    from docwatch.catalog_tags import file_version_at, tag_as_of, tag_names

    if as_of:
        parse_time(as_of, end_of_day=True, what="--as-of date")
    cat = _open(ctx)
    if file_version_at(cat, cloud, as_of) is None:
        when = f" by {as_of}" if as_of else ""
        raise UsageError(f"no service-tag file for cloud {cloud!r} ingested{when}: run `docwatch tags ingest FILE` "
                         "or `docwatch scrape`")
    view = tag_as_of(cat, name, cloud, as_of)
    if view is None:
        names = tag_names(cat, cloud)
        from docwatch.servicetags import split_rule_tag

        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        if split_rule_tag(name)[2]:
            hint = f" ({name} is a template: name a region, e.g. {name.split('.')[0]}.EastUS, or use " \
                   "`docwatch query --resolve --region R`)"
        raise UsageError(f"no tag {name!r} in the {cloud} file{' as of ' + as_of if as_of else ''}{hint}")
    prefixes = view.ipv4 if family == "ipv4" else view.ipv6 if family == "ipv6" else view.prefixes
    if as_json:
        d = asdict(view)
        d.update(prefixes=prefixes, ipv4_count=len(view.ipv4), ipv6_count=len(view.ipv6))
        _echo_json(d)
        return
    click.echo(f"{view.name} ({cloud}): change number {view.change_number}, region {view.region or '-'}, "
               f"system service {view.system_service or '-'}, platform {view.platform or '-'}")
    click.echo(f"file changeNumber {view.file_change_number} observed {view.observed_at}; "
               f"{len(view.ipv4)} IPv4 + {len(view.ipv6)} IPv6 prefixes")
    for p in prefixes:
        click.echo(p)


@tags_group.command("used")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def used_cmd(ctx: click.Context, as_json: bool) -> None:
    """The tags the watched pages' current rules use, with prefix counts and last change;
    tags the cloud's file does not list are reported as diagnostics."""
    from docwatch.catalog_tags import tags_used, unknown_tags

    cat = _open(ctx)
    used, unknown = tags_used(cat), unknown_tags(cat)
    if as_json:
        _echo_json({"used": [asdict(u) for u in used], "unknown": [asdict(u) for u in unknown]})
        return
    if not used:
        click.echo("No page rule names a service tag yet.")
    else:
        _print_table("Service tags used by watched pages", ["tag", "cloud", "used by", "file tags", "prefixes", "last change"],
                     [[u.tag, u.cloud, ", ".join(u.sources), len(u.resolved) if u.known else "not in file",
                       u.prefix_count, u.last_change or ""] for u in used])
    for u in unknown:
        click.echo(f"diagnostic: {u.source}: tag {u.tag!r} is not in the {'/'.join(u.checked)} service-tag file "
                   "(a doc error?)")


COMMANDS = [tags_group]


def echo_resolved(rows: list[dict]) -> None:
    """The prefixes ``query --resolve`` added, one line per tag rule (the full lists are in --json)."""
    for r in rows:
        if "prefixes" not in r:
            continue
        shown = ", ".join(r["prefixes"][:8]) + (f", … ({len(r['prefixes'])} in all)" if len(r["prefixes"]) > 8 else "")
        click.echo(f"{r['source']}: {r['service_tag']} ({r.get('cloud') or 'public'}): "
                   f"{len(r['prefixes'])} prefixes{': ' + shown if shown else ' (no file, unknown tag or template without --region)'}")
