"""At-least-once delivery of ``change_events`` to every channel.

The catalog writes change events inside its ingest transaction, so ``change_events`` is
the transactional outbox. Per channel we keep a cursor (last event id looked at) and a
``alert_deliveries`` row per digest:

1. In one transaction: read events after the cursor, keep those the channel accepts,
   record them as a *pending* delivery whose idempotency key is
   ``sha256(channel name + event ids)``, and move the cursor.
2. Claim it: in one transaction the delivery gets a lease (``claimed_by``, ``claim_expires_at``).
   Another runner (``alerts deliver`` beside a scrape, two daemons' retry jobs) skips a
   delivery claimed by a live holder; an expired lease, or one held by a process that no
   longer exists on this host, is taken over.
3. Outside any transaction: send. Then mark *sent* (releasing the claim), or count the attempt
   and schedule the next one with exponential backoff; after ``max_attempts`` the delivery is
   *failed* until ``docwatch alerts retry`` (or ``docwatch alerts skip``, status *skipped*).

A crash between sending and marking leaves the delivery pending, so the next run sends it
again with the same idempotency key (bounded duplicates, nothing lost); a sent delivery is
never sent again. Per channel, events go out in order: a pending or *failed* delivery holds
every newer event of that channel (no new digest is cut behind it, so an outage ends with at
most two messages), and :func:`channel_states` tells ``status`` which channels are held. A
failing channel never blocks the others. Error texts are scrubbed of every secret and its
URL fragments (:func:`docwatch.logs.scrub`) before they are logged or stored.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from docwatch import httpx_without_its_cli

httpx_without_its_cli()
import httpx  # noqa: E402 - after the stand-in for its CLI
import sqlite_utils

from docwatch.alerts.config import Channel, sender_for
from docwatch.alerts.digest import Digest, StoredEvent, build_digest, event_from_row
from docwatch.errors import DocwatchError, UsageError
from docwatch.logs import register_secrets, scrub

log = logging.getLogger("docwatch.alerts")

DELIVERIES = "alert_deliveries"
CURSORS = "alert_cursors"
SCAN_BATCH = 1000  # events looked at (and at most put in one digest) per step
MAX_STEPS = 100  # deliveries handled per channel per run
CRASH_HOOK_ENV = "DOCWATCH_TEST_CRASH_AFTER_SEND"  # tests only: die between send and mark

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {DELIVERIES} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    first_event_id INTEGER,
    last_event_id INTEGER,
    event_ids TEXT NOT NULL,
    event_count INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_attempt_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    claimed_by TEXT,
    claim_expires_at TEXT,
    skipped_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_{DELIVERIES}_channel_status ON {DELIVERIES} (channel, status, id);
CREATE TABLE IF NOT EXISTS {CURSORS} (
    channel TEXT PRIMARY KEY,
    last_event_id INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
"""


@dataclass
class DeliveryMeta:
    """What a sender may need besides the digest."""

    delivery_id: int | str
    idempotency_key: str
    now: datetime
    db: Any = None
    attempt: int = 1

    @property
    def sent_at(self) -> str:
        return iso(self.now)

    @property
    def timestamp(self) -> int:
        return int(self.now.timestamp())


@dataclass
class ChannelReport:
    sent: int = 0  # deliveries sent in this run
    failed: int = 0  # attempts that failed in this run
    pending: int = 0  # deliveries still waiting after this run (backoff / blocked)
    gave_up: int = 0  # deliveries that reached max_attempts in this run (status "failed")
    events: int = 0  # events in the deliveries sent in this run
    errors: list[str] = field(default_factory=list)
    held: bool = False  # a failed delivery holds this channel's queue (retry or skip it)
    busy: int = 0  # deliveries left alone because another runner holds their claim


@dataclass
class ChannelState:
    """What ``docwatch status`` shows per channel (see :func:`channel_states`)."""

    name: str
    kind: str
    enabled: bool
    state: str  # "ok" | "retrying" (backing off) | "held" (failed: retry or skip) | "disabled"
    pending: int = 0  # deliveries waiting (cut, not yet sent)
    failed: int = 0  # deliveries that reached max_attempts
    waiting_events: int = 0  # events in pending/failed deliveries
    undelivered_events: int = 0  # events after the cursor, not yet cut into a delivery
    next_attempt_at: str | None = None
    held_since: str | None = None  # first failed attempt of the delivery holding the queue
    last_error: str | None = None

    def line(self) -> str:
        """One human line for ``status``."""
        if self.state == "held":
            return (f"{self.name}: HELD since {self.held_since} - {self.failed} failed deliver"
                    f"{'y' if self.failed == 1 else 'ies'}, {self.waiting_events + self.undelivered_events} events waiting"
                    f" (`docwatch alerts retry {self.name}` or `docwatch alerts skip {self.name}`): {self.last_error}")
        if self.state == "retrying":
            return (f"{self.name}: retrying, next attempt {self.next_attempt_at} "
                    f"({self.waiting_events} events waiting): {self.last_error}")
        return f"{self.name}: {self.state}" + (f", {self.undelivered_events} events not yet delivered"
                                               if self.undelivered_events else "")


@dataclass
class DeliveryReport:
    channels: dict[str, ChannelReport] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(getattr(r, name) for r in self.channels.values())

    @property
    def ok(self) -> bool:
        return self.total("failed") == 0

    def to_dict(self) -> dict[str, Any]:
        return {name: vars(r).copy() for name, r in self.channels.items()}

    def __str__(self) -> str:
        parts = [f"{n}: {r.sent} sent, {r.failed} failed, {r.pending} pending" + (" (held)" if r.held else "")
                 for n, r in self.channels.items()]
        return "; ".join(parts) or "no alert channels"


# ---------------------------------------------------------------- helpers

def utc(now: datetime | str | None = None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if isinstance(now, str):
        now = datetime.fromisoformat(now.replace("Z", "+00:00"))
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def idempotency_key(channel: str, event_ids: Iterable[int]) -> str:
    return hashlib.sha256((channel + "\n" + ",".join(str(i) for i in event_ids)).encode("utf-8")).hexdigest()


def backoff(channel: Channel, attempts: int) -> timedelta:
    """Exponential: base, 2·base, 4·base, … capped at retry_max_seconds."""
    return timedelta(seconds=min(channel.retry_base_seconds * 2 ** max(0, attempts - 1), channel.retry_max_seconds))


def redact(text: str, channel: Channel) -> str:
    """``text`` without the channel's secrets, their URL fragments or any registered secret."""
    return scrub(text or "", channel.secrets())[:500]


def _register(channels: Iterable[Channel]) -> None:
    """Let the log handler scrub these channels' secrets from every line (httpx's too)."""
    register_secrets(s for ch in channels for s in ch.secrets())


LEASE_MIN_SECONDS = 60.0
_RUNNER = f"{socket.gethostname()}:{os.getpid()}"


def lease_seconds(channel: Channel) -> float:
    """Long enough for one send to finish (a few times its timeout)."""
    return max(LEASE_MIN_SECONDS, 4 * float(getattr(channel, "timeout", 0) or 0))


def _holder_alive(holder: str | None) -> bool:
    """A claim's holder is alive unless it is a process of this host that has exited."""
    if not holder:
        return False
    host, _, rest = holder.partition(":")
    pid = rest.split(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another host: trust its lease until it expires
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(db: sqlite_utils.Database, delivery_id: int, token: str, now: datetime, lease: float) -> bool:
    """Take the lease on a pending delivery in one IMMEDIATE transaction; False when another
    live runner holds it."""
    with _tx(db):
        row = _rows(db, f"select status, claimed_by, claim_expires_at from {DELIVERIES} where id = ?", [delivery_id])
        if not row or row[0]["status"] != "pending":
            return False
        holder, expires = row[0]["claimed_by"], row[0]["claim_expires_at"]
        if holder and holder != token and (expires or "") > iso(now) and _holder_alive(holder):
            return False
        db.execute(f"update {DELIVERIES} set claimed_by = ?, claim_expires_at = ? where id = ?",
                   [token, iso(now + timedelta(seconds=lease)), delivery_id])
        return True


def db_of(catalog_or_db: Any) -> sqlite_utils.Database:
    """Accept a Catalog (its ``.db``), a sqlite_utils.Database, or a path."""
    db = getattr(catalog_or_db, "db", catalog_or_db)
    if isinstance(db, sqlite_utils.Database):
        return db
    return sqlite_utils.Database(str(db))


_CLAIM_COLUMNS = ("claimed_by", "claim_expires_at", "skipped_at")


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the outbox tables, or bring an older ``alert_deliveries`` up to date (claim
    columns and the ``skipped`` status: SQLite cannot alter a CHECK, so the table is rebuilt
    in one transaction). Writers only; readers use :func:`_has_outbox`."""
    names = set(db.table_names())
    if not {DELIVERIES, CURSORS} <= names:
        db.conn.executescript(_SCHEMA)
        return
    if all(c in db[DELIVERIES].columns_dict for c in _CLAIM_COLUMNS):
        return
    with _tx(db):
        old = [c for c in db[DELIVERIES].columns_dict]
        db.execute(f"ALTER TABLE {DELIVERIES} RENAME TO {DELIVERIES}_old")
        db.execute(f"DROP INDEX IF EXISTS idx_{DELIVERIES}_channel_status")
        for stmt in _SCHEMA.split(";"):
            if f"TABLE IF NOT EXISTS {DELIVERIES}" in stmt or f"INDEX IF NOT EXISTS idx_{DELIVERIES}" in stmt:
                db.execute(stmt)
        cols = ", ".join(old)
        db.execute(f"INSERT INTO {DELIVERIES} ({cols}) SELECT {cols} FROM {DELIVERIES}_old")
        db.execute(f"DROP TABLE {DELIVERIES}_old")


def _has_outbox(db: sqlite_utils.Database) -> bool:
    return DELIVERIES in db.table_names()


@contextmanager
def _tx(db: sqlite_utils.Database):
    """One IMMEDIATE transaction (joins the caller's when one is already open)."""
    conn = db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def _rows(db: sqlite_utils.Database, sql: str, params: Iterable = ()) -> list[dict[str, Any]]:
    cur = db.execute(sql, list(params))
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


# ---------------------------------------------------------------- outbox steps

def _cut_delivery(db: sqlite_utils.Database, channel: Channel, now: datetime) -> dict[str, Any] | None:
    """Turn events after the cursor into one pending delivery (cursor moves in the same tx)."""
    if "change_events" not in db.table_names():
        return None
    while True:
        with _tx(db):
            cur = _rows(db, f"select last_event_id from {CURSORS} where channel = ?", [channel.name])
            after = cur[0]["last_event_id"] if cur else _start_id(db, channel)
            rows = _rows(db, f"select * from changes where id > ? order by id limit {SCAN_BATCH}", [after])
            if not rows:
                return None
            events = [event_from_row(r) for r in rows]
            ids = [e.id for e in events if channel.accepts(e.event)]
            db.execute(f"insert into {CURSORS} (channel, last_event_id, updated_at) values (?, ?, ?) "
                       "on conflict(channel) do update set last_event_id = excluded.last_event_id, updated_at = excluded.updated_at",
                       [channel.name, rows[-1]["id"], iso(now)])
            if ids:
                key = idempotency_key(channel.name, ids)
                db.execute(f"insert or ignore into {DELIVERIES} (channel, first_event_id, last_event_id, event_ids, "
                           "event_count, idempotency_key, status, attempts, next_attempt_at, created_at) "
                           "values (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                           [channel.name, ids[0], ids[-1], json.dumps(ids), len(ids), key, iso(now), iso(now)])
                return _rows(db, f"select * from {DELIVERIES} where idempotency_key = ?", [key])[0]
        # a whole batch the channel filters out: the cursor moved, look at the next batch


def load_events(db: sqlite_utils.Database, ids: list[int]) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        out += [event_from_row(r) for r in _rows(
            db, f"select * from changes where id in ({', '.join('?' for _ in chunk)}) order by id", chunk)]
    return out


def _attempt(db: sqlite_utils.Database, channel: Channel, delivery: dict[str, Any], now: datetime,
             client: httpx.Client, report: ChannelReport) -> bool:
    """Send one delivery and record the outcome; True when sent."""
    events = load_events(db, json.loads(delivery["event_ids"]))
    attempts = delivery["attempts"] + 1
    error = None
    if events:
        digest = build_digest(channel.name, events, max_items=channel.max_items)
        meta = DeliveryMeta(delivery["id"], delivery["idempotency_key"], now, db, attempts)
        try:
            sender_for(channel)(channel, digest, meta, client)
        except Exception as exc:  # one failing channel must never stop the others
            error = redact(str(exc) if isinstance(exc, DocwatchError) else f"{type(exc).__name__}: {exc}", channel)
        if error is None and os.environ.get(CRASH_HOOK_ENV):
            os._exit(86)  # test hook: the message went out, the mark below never happens
    with _tx(db):
        if error is None:
            db.execute(f"update {DELIVERIES} set status = 'sent', attempts = ?, sent_at = ?, last_attempt_at = ?, "
                       "last_error = ?, next_attempt_at = null, claimed_by = null, claim_expires_at = null where id = ?",
                       [attempts, iso(now), iso(now), None if events else "events no longer in the catalog", delivery["id"]])
        else:
            gave_up = attempts >= channel.max_attempts
            db.execute(f"update {DELIVERIES} set status = ?, attempts = ?, last_attempt_at = ?, last_error = ?, "
                       "next_attempt_at = ?, claimed_by = null, claim_expires_at = null where id = ?",
                       ["failed" if gave_up else "pending", attempts, iso(now), error,
                        None if gave_up else iso(now + backoff(channel, attempts)), delivery["id"]])
    if error is None:
        report.sent += 1
        report.events += len(events)
        log.info("alerts: %s: delivery %s sent (%d events, attempt %d)", channel.name, delivery["id"], len(events), attempts)
        return True
    report.failed += 1
    report.errors.append(error)
    if attempts >= channel.max_attempts:
        report.gave_up += 1
        log.error("alerts: %s: delivery %s failed for good after %d attempts: %s; newer events of this channel "
                  "are held until `docwatch alerts retry %s` or `docwatch alerts skip %s`",
                  channel.name, delivery["id"], attempts, error, channel.name, channel.name)
    else:
        log.warning("alerts: %s: delivery %s attempt %d failed: %s; next try after %s",
                    channel.name, delivery["id"], attempts, error, iso(now + backoff(channel, attempts)))
    return False


def _deliver_channel(db: sqlite_utils.Database, channel: Channel, now: datetime, client: httpx.Client,
                     report: ChannelReport, token: str) -> None:
    """Oldest first: the head delivery (pending or failed) decides; nothing newer overtakes it."""
    for _ in range(MAX_STEPS):
        due = _rows(db, f"select * from {DELIVERIES} where channel = ? and status in ('pending', 'failed') "
                        "order by id limit 1", [channel.name])
        if due:
            head = due[0]
            if head["status"] == "failed":
                report.held = True  # in order: newer events wait for `alerts retry` / `alerts skip`
                return
            if (head["next_attempt_at"] or "") > iso(now):
                return  # backing off; newer deliveries of this channel wait behind it
            if not _claim(db, head["id"], token, now, lease_seconds(channel)):
                report.busy += 1
                log.info("alerts: %s: delivery %s is being sent by another runner", channel.name, head["id"])
                return
            if not _attempt(db, channel, head, now, client, report):
                return
            continue
        if _cut_delivery(db, channel, now) is None:
            return


def _start_id(db, channel: Channel) -> int:
    """Where a channel seen for the first time starts: now, or the very first event with ``backlog``."""
    if channel.backlog:
        return 0
    return _rows(db, "select coalesce(max(id), 0) n from change_events")[0]["n"]


def start_channels(catalog: Any, channels: Iterable[Channel]) -> None:
    """Give every configured channel without a cursor its starting point *before* a writer adds
    events, so a channel added to config.toml gets what happens from now on (not the backlog,
    unless ``backlog = true``) including the events of the run that first sees it."""
    db = db_of(catalog)
    channels = list(channels)
    if not {CURSORS, "change_events"} <= set(db.table_names()):
        ensure_schema(db)
    elif {ch.name for ch in channels} <= {r["channel"] for r in _rows(db, f"select channel from {CURSORS}")}:
        return  # the common case: nothing to write, no transaction
    with _tx(db):
        known = {r["channel"] for r in _rows(db, f"select channel from {CURSORS}")}
        for ch in channels:
            if ch.name not in known:
                db.execute(f"insert into {CURSORS} (channel, last_event_id, updated_at) values (?, ?, ?)",
                           [ch.name, _start_id(db, ch), iso(utc())])


def skip_to_latest(catalog: Any, channels: Iterable[Channel]) -> None:
    """Move every channel past the events stored so far (a backfill's history is recorded, not sent)."""
    db = db_of(catalog)
    ensure_schema(db)
    with _tx(db):
        top = _rows(db, "select coalesce(max(id), 0) n from change_events")[0]["n"]
        for ch in channels:
            db.execute(f"insert into {CURSORS} (channel, last_event_id, updated_at) values (?, ?, ?) "
                       "on conflict(channel) do update set last_event_id = max(last_event_id, excluded.last_event_id), "
                       "updated_at = excluded.updated_at", [ch.name, top, iso(utc())])


def deliver_pending(catalog: Any, channels: Iterable[Channel], *, now: datetime | str | None = None,
                    client: httpx.Client | None = None) -> DeliveryReport:
    """Deliver every change event not yet delivered, per channel (see module doc)."""
    db = db_of(catalog)
    ensure_schema(db)
    moment = utc(now)
    report = DeliveryReport()
    channels = list(channels)
    _register(channels)
    token = f"{_RUNNER}:{uuid.uuid4().hex[:12]}"
    own = client is None
    client = client or httpx.Client(follow_redirects=False)
    try:
        for channel in channels:
            if not channel.enabled:
                continue
            r = report.channels.setdefault(channel.name, ChannelReport())
            try:
                _deliver_channel(db, channel, moment, client, r, token)
            except Exception as exc:  # a bug or a locked db in one channel: report, go on
                msg = redact(f"{type(exc).__name__}: {exc}", channel)
                log.error("alerts: %s: delivery run failed: %s", channel.name, msg)
                r.failed += 1
                r.errors.append(msg)
            r.pending = _rows(db, f"select count(*) n from {DELIVERIES} where channel = ? and status = 'pending'",
                              [channel.name])[0]["n"]
            if r.held:
                log.info("alerts: %s: queue held by a failed delivery (`docwatch alerts retry %s` or "
                            "`docwatch alerts skip %s`)", channel.name, channel.name, channel.name)
    finally:
        if own:
            client.close()
    return report


# ---------------------------------------------------------------- CLI support

def list_deliveries(catalog: Any, *, statuses: Iterable[str] = ("pending", "failed"), limit: int = 100) -> list[dict[str, Any]]:
    db = db_of(catalog)
    if not _has_outbox(db):
        return []
    statuses = list(statuses)
    return _rows(db, f"select id, channel, status, attempts, event_count, first_event_id, last_event_id, "
                     f"next_attempt_at, last_error, created_at, sent_at, idempotency_key from {DELIVERIES} "
                     f"where status in ({', '.join('?' for _ in statuses)}) order by id desc limit {int(limit)}", statuses)


def backlog(catalog: Any, channel: Channel) -> int:
    """Events after the channel's cursor (not yet cut into a delivery; before filters)."""
    db = db_of(catalog)
    if "change_events" not in db.table_names():
        return 0
    cur = _rows(db, f"select last_event_id from {CURSORS} where channel = ?", [channel.name]) if _has_outbox(db) else []
    after = cur[0]["last_event_id"] if cur else 0
    return _rows(db, "select count(*) n from change_events where id > ?", [after])[0]["n"]


def reset_for_retry(catalog: Any, *, channel: str | None = None, delivery_id: int | None = None,
                    now: datetime | str | None = None) -> int:
    """Failed (and backing-off) deliveries become due now; attempts restart. Returns how many."""
    db = db_of(catalog)
    ensure_schema(db)
    where, params = ["status in ('pending', 'failed')"], [iso(utc(now))]
    if channel:
        where.append("channel = ?")
        params.append(channel)
    if delivery_id is not None:
        where.append("id = ?")
        params.append(delivery_id)
    with _tx(db):
        cur = db.execute(f"update {DELIVERIES} set status = 'pending', attempts = 0, next_attempt_at = ? "
                         f"where {' and '.join(where)}", params)
        return cur.rowcount


def skip_deliveries(catalog: Any, channel: str, *, delivery_id: int | None = None,
                    now: datetime | str | None = None) -> list[dict[str, Any]]:
    """Give up on a held channel's failed deliveries (and any that already failed an attempt)
    so the newer events flow again: they become *skipped*, never sent. A delivery another
    runner is sending right now is left alone. Returns the skipped rows."""
    db = db_of(catalog)
    ensure_schema(db)
    moment = iso(utc(now))
    where, params = ["channel = ?", "(status = 'failed' or (status = 'pending' and attempts > 0))",
                     "(claimed_by is null or claim_expires_at <= ?)"], [channel, moment]
    if delivery_id is not None:
        where.append("id = ?")
        params.append(delivery_id)
    with _tx(db):
        rows = _rows(db, f"select id, event_count, first_event_id, last_event_id, last_error from {DELIVERIES} "
                         f"where {' and '.join(where)} order by id", params)
        for r in rows:
            db.execute(f"update {DELIVERIES} set status = 'skipped', skipped_at = ?, next_attempt_at = null, "
                       "claimed_by = null, claim_expires_at = null where id = ?", [moment, r["id"]])
    if rows:
        log.warning("alerts: %s: skipped %d deliver%s (%d events not sent)", channel, len(rows),
                    "y" if len(rows) == 1 else "ies", sum(r["event_count"] for r in rows))
    return rows


def channel_states(catalog: Any, channels: Iterable[Channel], *, now: datetime | str | None = None) -> list[ChannelState]:
    """Per channel: ok, retrying or held (read-only; for ``docwatch status``)."""
    db = db_of(catalog)
    moment = iso(utc(now))
    out: list[ChannelState] = []
    have = _has_outbox(db)
    for ch in channels:
        st = ChannelState(ch.name, ch.kind, ch.enabled, "ok" if ch.enabled else "disabled")
        st.undelivered_events = backlog(db, ch)
        if have:
            rows = _rows(db, f"select status, attempts, event_count, next_attempt_at, last_attempt_at, last_error "
                             f"from {DELIVERIES} where channel = ? and status in ('pending', 'failed') order by id",
                         [ch.name])
            st.pending = sum(r["status"] == "pending" for r in rows)
            st.failed = sum(r["status"] == "failed" for r in rows)
            st.waiting_events = sum(r["event_count"] for r in rows)
            if rows:
                head = rows[0]
                st.last_error = redact(head["last_error"] or "", ch) or None
                if head["status"] == "failed":
                    st.state = "held"
                    st.held_since = head["last_attempt_at"]
                elif head["attempts"] > 0:
                    st.state = "retrying"
                    st.next_attempt_at = head["next_attempt_at"]
                if st.state == "ok" and (head["next_attempt_at"] or "") > moment:
                    st.next_attempt_at = head["next_attempt_at"]
        out.append(st)
    return out


def send_test(channel: Channel, *, db: Any = None, now: datetime | str | None = None,
              client: httpx.Client | None = None) -> Digest:
    """Send a sample digest to one channel now (no outbox bookkeeping); raises on failure."""
    from docwatch.alerts.digest import sample_events

    moment = utc(now)
    _register([channel])
    digest = build_digest(channel.name, sample_events(), max_items=channel.max_items)
    key = idempotency_key(channel.name + "/test", [int(moment.timestamp())])
    handle = db_of(db) if db is not None else None
    meta = DeliveryMeta(f"test-{int(moment.timestamp())}", key, moment, handle)
    try:
        sender_for(channel)(channel, digest, meta, client)
    except Exception as exc:
        raise DocwatchError(f"test message to {channel.name!r} failed: {redact(str(exc), channel)}") from None
    return digest
