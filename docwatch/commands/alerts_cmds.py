"""``docwatch alerts``: inspect the delivery outbox, retry or skip failed deliveries, test a channel.

``retry``, ``deliver`` and ``skip`` may run beside a scrape or the daemon: every delivery is
claimed (a lease in the outbox) before it is sent, so concurrent runners never send one twice.
"""
from __future__ import annotations

import json
from contextlib import contextmanager

import click

from docwatch.errors import DocwatchError, UsageError


def _channel(app, name: str):
    channels = app.config.channels
    for ch in channels:
        if ch.name == name:
            return ch
    known = ", ".join(c.name for c in channels) or "none configured in [alerts]"
    raise UsageError(f"unknown alert channel {name!r} (configured: {known})")


@contextmanager
def _catalog(app, *, create: bool = False):
    """The catalog; only ``alerts test`` (an Atom feed of an empty catalog) may create it."""
    catalog = app.catalog(create=create)
    try:
        yield catalog
    finally:
        close = getattr(catalog, "close", None)
        if close:
            close()


def _echo_report(report) -> None:
    for name, r in report.channels.items():
        line = f"{name}: {r.sent} sent ({r.events} events), {r.failed} failed, {r.pending} pending"
        if r.held:
            line += f"; HELD by a failed delivery (`docwatch alerts retry {name}` or `docwatch alerts skip {name}`)"
        if r.busy:
            line += "; being sent by another runner"
        click.echo(line)
        for err in r.errors[:3]:
            click.echo(f"  error: {err}")


@click.group("alerts")
def alerts() -> None:
    """Alert channels: pending/failed deliveries, retries and test messages."""


@alerts.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include sent deliveries.")
@click.option("--limit", default=50, show_default=True, help="Most recent deliveries shown.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def list_cmd(app, show_all: bool, limit: int, as_json: bool) -> None:
    """Configured channels and their pending or failed deliveries."""
    from docwatch.alerts.outbox import channel_states, list_deliveries, redact
    from docwatch.logs import scrub

    channels = app.config.channels
    statuses = ("pending", "failed", "sent", "skipped") if show_all else ("pending", "failed")
    with _catalog(app) as catalog:
        rows = list_deliveries(catalog, statuses=statuses, limit=limit)
        states = {st.name: st for st in channel_states(catalog, channels)}
    by_name = {ch.name: ch for ch in channels}
    for r in rows:  # stored errors are scrubbed already; scrub again with today's secrets
        ch = by_name.get(r["channel"])
        r["last_error"] = redact(r["last_error"], ch) if ch and r["last_error"] else scrub(r["last_error"] or "") or None
    if as_json:
        click.echo(json.dumps({"channels": [{"name": ch.name, "kind": ch.kind, "enabled": ch.enabled,
                                             "target": ch.describe(), "state": states[ch.name].state,
                                             "undelivered_events": states[ch.name].undelivered_events}
                                            for ch in channels],
                               "deliveries": rows}, indent=2))
        return
    if not channels:
        click.echo("No alert channels configured (add [alerts.<name>] tables to config.toml).")
    for ch in channels:
        st = states[ch.name]
        state = "" if ch.enabled else " (disabled)"
        click.echo(f"{ch.name}: {ch.describe()}{state}; {st.undelivered_events} new events not yet looked at")
        if st.state in ("held", "retrying"):
            click.echo(f"  {st.line()}")
    if not rows:
        click.echo("No pending or failed deliveries." if not show_all else "No deliveries.")
        return
    click.echo("")
    click.echo(f"{'id':>5}  {'channel':<16} {'status':<8} {'tries':>5} {'events':>6}  next attempt / sent         last error")
    for r in rows:
        when = r["sent_at"] if r["status"] == "sent" else (r["next_attempt_at"] or "-")
        click.echo(f"{r['id']:>5}  {r['channel']:<16} {r['status']:<8} {r['attempts']:>5} {r['event_count']:>6}  "
                   f"{when:<26} {(r['last_error'] or '')[:80]}")


@alerts.command("retry")
@click.argument("channel", required=False)
@click.option("--id", "delivery_id", type=int, help="Only this delivery.")
@click.option("--no-send", is_flag=True, help="Only make them due; the next scrape sends them.")
@click.pass_obj
def retry_cmd(app, channel: str | None, delivery_id: int | None, no_send: bool) -> None:
    """Make failed (and backing-off) deliveries due now, then deliver."""
    from docwatch.alerts.outbox import deliver_pending, reset_for_retry

    selected = [_channel(app, channel)] if channel else app.config.channels
    with _catalog(app) as catalog:
        n = reset_for_retry(catalog, channel=channel, delivery_id=delivery_id)
        click.echo(f"{n} deliver{'y' if n == 1 else 'ies'} due now.")
        if no_send:
            return
        report = deliver_pending(catalog, selected)
    _echo_report(report)
    if not report.ok:
        raise DocwatchError("some deliveries failed again; see `docwatch alerts list`")


@alerts.command("skip")
@click.argument("channel")
@click.option("--id", "delivery_id", type=int, help="Only this delivery.")
@click.pass_obj
def skip_cmd(app, channel: str, delivery_id: int | None) -> None:
    """Give up on CHANNEL's failed deliveries so its newer events flow again (they are never sent)."""
    from docwatch.alerts.outbox import deliver_pending, skip_deliveries

    ch = _channel(app, channel)
    with _catalog(app) as catalog:
        rows = skip_deliveries(catalog, ch.name, delivery_id=delivery_id)
        events = sum(r["event_count"] for r in rows)
        click.echo(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'} skipped ({events} events will not be sent).")
        if not rows:
            return
        report = deliver_pending(catalog, [ch])
    _echo_report(report)
    if not report.ok:
        raise DocwatchError("newer deliveries failed too; see `docwatch alerts list`")


@alerts.command("deliver")
@click.pass_obj
def deliver_cmd(app) -> None:
    """Deliver pending change events now (a scrape does this after ingesting)."""
    from docwatch.alerts.outbox import deliver_pending

    with _catalog(app) as catalog:
        report = deliver_pending(catalog, app.config.channels)
    _echo_report(report)
    if not report.ok:
        raise DocwatchError("some deliveries failed; they will be retried (see `docwatch alerts list`)")


@alerts.command("test")
@click.argument("channel")
@click.pass_obj
def test_cmd(app, channel: str) -> None:
    """Send a sample digest to CHANNEL (an Atom channel rewrites its feed from the catalog)."""
    from docwatch.alerts.outbox import send_test

    ch = _channel(app, channel)
    if ch.kind == "atom":
        with _catalog(app, create=True) as catalog:
            send_test(ch, db=catalog)
        click.echo(f"{ch.name}: feed written to {ch.path}")
        return
    digest = send_test(ch)
    click.echo(f"{ch.name}: sample digest with {digest.total} changes sent ({ch.describe()})")


COMMANDS = [alerts]
