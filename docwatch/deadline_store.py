"""Deadlines a page announces, kept in the catalog, listed, and reminded before the date.

Extraction is :func:`docwatch.deadlines.find_deadlines` (pure: document → ``Deadline`` with
date, sentence, parties, section, line). Here we persist them per source (migration 8):

* one row per deadline, identified by its sentence with the dates masked plus the parties
  it names, so a *moved* date is the same deadline with a new date, not a new one;
* each keeps its sentence, date, affected rule keys (empty: a page-level deadline, naming no
  rule extracted from the page) and provenance (first/last version, commit, links);
* a new or moved deadline is a ``deadline`` change event, in ``change_events`` like any
  other, so ``docwatch changes`` shows it and the outbox delivers it; the source's first
  version is the baseline and raises none (as for rules);
* reminders: ``reminder`` change events ``reminders = [30, 7, 1]`` days before each date,
  once per deadline × offset (``reminders_sent``); an offset already overtaken when first
  checked (daemon was down) is marked without an event, so only the most imminent fires.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from docwatch.model import ChangeEvent

log = logging.getLogger(__name__)

DEFAULT_REMINDERS = (30, 7, 1)
_MONTHS = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
_DATEISH = re.compile(rf"\b(?:{_MONTHS})\b\.?|\d+(?:st|nd|rd|th)?", re.I)
_SKIP_STATUSES = ("duplicate", "anomaly")


@dataclass
class StoredDeadline:
    """One deadline as the catalog keeps it."""

    id: int
    source: str
    date: str
    sentence: str
    parties: list[str] = field(default_factory=list)
    rule_keys: list[str] = field(default_factory=list)
    section: list[str] = field(default_factory=list)
    line: int | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    removed_at: str | None = None
    doc_commit: str | None = None
    commit_url: str | None = None
    page_url: str | None = None

    @property
    def level(self) -> str:
        return "rule" if self.rule_keys else "page"

    def days_left(self, today: date) -> int:
        return (date.fromisoformat(self.date) - today).days

    def to_dict(self, today: date | None = None) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["level"] = self.level
        if today is not None:
            d["days_left"] = self.days_left(today)
        return d


def deadline_key(sentence: str, parties: Iterable[str]) -> str:
    """Identity of a deadline: its wording with dates masked, plus the parties it names."""
    masked = _DATEISH.sub("#", sentence.lower())
    masked = re.sub(r"[^\w#<>.*-]+", " ", masked).strip()
    return masked + "|" + ",".join(sorted({p.lower() for p in parties if p}))


def iso_day(value: Any) -> str | None:
    """``date``/``datetime``/ISO text → ``YYYY-MM-DD`` (None when it is not a date)."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            return None
    return None


def find_page_deadlines(doc) -> list:
    """The extractor's deadlines of ``doc`` (empty while ``docwatch.deadlines`` is absent)."""
    if doc is None:
        return []
    try:
        from docwatch.deadlines import find_deadlines
    except ImportError:
        log.debug("deadlines: docwatch.deadlines not available; no deadlines read")
        return []
    try:
        return list(find_deadlines(doc))
    except Exception as exc:  # noqa: BLE001 - a deadline sentence must never fail an ingest
        log.warning("deadlines: extraction failed (%s); none recorded for this version", exc)
        return []


def _rules_named(d, rules) -> list[str]:
    """Keys of the rules a deadline applies to: those the extractor marked with it, and those
    whose party the sentence names."""
    day = iso_day(getattr(d, "date", None))
    sentence = getattr(d, "sentence", "") or ""
    parties = {str(p).lower() for p in (getattr(d, "parties", None) or [])}
    keys = set()
    for r in rules or []:
        if (r.deadline and iso_day(r.deadline) == day and (not r.deadline_text or r.deadline_text == sentence)) \
                or (r.party and r.party.lower() in parties):
            keys.add(r.key)
    return sorted(keys)


def _row(r: dict[str, Any]) -> StoredDeadline:
    return StoredDeadline(
        id=r["id"], source=r["source"], date=r["date"], sentence=r["sentence"],
        parties=json.loads(r["parties"] or "[]"), rule_keys=json.loads(r["rule_keys"] or "[]"),
        section=json.loads(r["section"] or "[]"), line=r["line"], first_seen=r["first_seen"],
        last_seen=r["last_seen"], removed_at=r["removed_at"], doc_commit=r["doc_commit"],
        commit_url=r["commit_url"], page_url=r["page_url"])


def record_deadlines(catalog, obs, result, *, deadlines: list | None = None) -> list[ChangeEvent]:
    """Store the deadlines of one ingested version; return the change events it raised.

    Idempotent per version (safe to call from both the pipeline and backfill). Duplicates and
    anomalies are skipped: a collapsed page never "removes" a deadline."""
    vid = getattr(result, "version_id", None)
    if vid is None or result.status in _SKIP_STATUSES:
        return []
    if catalog._one("SELECT 1 AS x FROM deadline_scans WHERE version_id = ?", (vid,)):
        return []
    found = find_page_deadlines(obs.doc) if deadlines is None else deadlines
    ver = catalog._one("SELECT * FROM versions WHERE id = ?", (vid,)) or {}
    at = ver.get("observed_at") or obs.observed_at
    from docwatch.diff import commit_url as _commit_url

    ctx = dict(doc_date=ver.get("doc_date"), doc_commit=ver.get("doc_commit") or obs.doc_commit,
               page_url=ver.get("page_url") or obs.page_url,
               commit_url=obs.commit_url or ver.get("commit_url") or _commit_url(ver.get("source_url"), ver.get("doc_commit")))
    baseline = result.status == "first"
    by_key: dict[str, dict[str, Any]] = {}
    for d in found:
        day = iso_day(getattr(d, "date", None))
        sentence = " ".join(str(getattr(d, "sentence", "") or "").split())
        if not day or not sentence:
            continue
        parties = [str(p) for p in (getattr(d, "parties", None) or [])]
        key = deadline_key(sentence, parties)
        item = by_key.setdefault(key, dict(date=day, sentence=sentence, parties=parties, rule_keys=set(),
                                           section=list(getattr(d, "section", None) or []),
                                           line=getattr(d, "line", None)))
        item["rule_keys"].update(_rules_named(d, obs.rules))
    events: list[ChangeEvent] = []
    with catalog.write():
        if catalog._one("SELECT 1 AS x FROM deadline_scans WHERE version_id = ?", (vid,)):
            return []
        existing = {r["deadline_key"]: r for r in catalog._all(
            "SELECT * FROM deadlines WHERE source = ?", (obs.source,))}
        active = {k for k, r in existing.items() if not r["removed_at"]}
        gone = {k: existing[k] for k in active - by_key.keys()}
        for key, item in by_key.items():
            old = existing.get(key)
            if old is None and gone:  # reworded as well as moved: the one vanished deadline with the same parties
                same = [k for k, g in gone.items() if item["parties"] and json.loads(g["parties"] or "[]") == item["parties"]]
                if len(same) == 1:
                    old = gone.pop(same[0])
                    catalog.db.execute("UPDATE deadlines SET deadline_key = ? WHERE id = ?", (key, old["id"]))
            gone.pop(key, None)
            values = (item["date"], item["sentence"], json.dumps(item["parties"]), json.dumps(sorted(item["rule_keys"])),
                      json.dumps(item["section"]), item["line"], vid, at, ctx["doc_commit"], ctx["commit_url"],
                      ctx["page_url"])
            if old is None:
                catalog.db.execute(
                    """INSERT INTO deadlines (date, sentence, parties, rule_keys, section, line, version_id, last_seen,
                       doc_commit, commit_url, page_url, source, deadline_key, first_version_id, first_seen)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", (*values, obs.source, key, vid, at))
                if not baseline:
                    events.append(_event(obs.source, item, None, at, vid, ctx))
                continue
            moved = old["date"] != item["date"]
            catalog.db.execute(
                """UPDATE deadlines SET date = ?, sentence = ?, parties = ?, rule_keys = ?, section = ?, line = ?,
                   version_id = ?, last_seen = ?, doc_commit = ?, commit_url = ?, page_url = ?, removed_at = NULL
                   WHERE id = ?""", (*values, old["id"]))
            if moved:
                catalog.db.execute("DELETE FROM reminders_sent WHERE deadline_id = ?", (old["id"],))
            if (moved or old["removed_at"]) and not baseline:
                events.append(_event(obs.source, item, old["date"] if moved else None, at, vid, ctx))
        for g in gone.values():
            catalog.db.execute("UPDATE deadlines SET removed_at = ? WHERE id = ?", (at, g["id"]))
        catalog.db.execute("INSERT INTO deadline_scans (version_id, source, found) VALUES (?, ?, ?)",
                           (vid, obs.source, len(by_key)))
        catalog.add_events(events)
    if events:
        log.info("%s: %d deadline event(s)", obs.source, len(events))
    return events


def _event(source: str, item: dict[str, Any], old_date: str | None, at: str, vid: int, ctx: dict) -> ChangeEvent:
    keys = sorted(item["rule_keys"])
    party = item["parties"][0] if item["parties"] else None
    what = f"deadline moved from {old_date} to {item['date']}" if old_date else f"deadline {item['date']} added"
    scope = f" ({len(keys)} rule{'s' if len(keys) != 1 else ''})" if keys else " (page level)"
    return ChangeEvent(source=source, kind="deadline", rule_key=keys[0] if keys else None, field="deadline",
                       old=old_date, new=item["date"], severity="medium",
                       impact="deadline-moved" if old_date else "deadline-added", party=party,
                       section=item["section"], summary=f"{what}{scope}: {item['sentence']}",
                       detected_at=at, version_id=vid, **ctx)


def stored_deadlines(catalog, *, source: str | None = None, include_removed: bool = False) -> list[StoredDeadline]:
    if "deadlines" not in catalog.db.table_names():
        return []
    where, params = [], []
    if source:
        where.append("source = ?"); params.append(source)
    if not include_removed:
        where.append("removed_at IS NULL")
    sql = "SELECT * FROM deadlines" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY date, source, id"
    return [_row(r) for r in catalog._all(sql, tuple(params))]


def _today(now: datetime | str | None) -> date:
    if now is None:
        return datetime.now(timezone.utc).date()
    if isinstance(now, str):
        from docwatch.catalog import parse_time

        now = datetime.fromisoformat(parse_time(now).replace("Z", "+00:00"))
    if isinstance(now, datetime):
        return (now if now.tzinfo else now.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).date()
    return now


def upcoming(catalog, *, now: datetime | str | None = None, within_days: int | None = None,
             source: str | None = None) -> list[StoredDeadline]:
    """Deadlines still on the page, dated today or later (and within ``within_days``)."""
    today = _today(now)
    out = []
    for d in stored_deadlines(catalog, source=source):
        left = d.days_left(today)
        if left >= 0 and (within_days is None or left <= within_days):
            out.append(d)
    return out


def reminder_offsets(cfg) -> list[int]:
    """``[deadlines] reminders`` from the config (days before the date), largest first."""
    section = getattr(cfg, "deadlines", None)
    offsets = getattr(section, "reminders", None) if section is not None else None
    return sorted({int(o) for o in (DEFAULT_REMINDERS if offsets is None else offsets)}, reverse=True)


def due_reminders(catalog, offsets: Iterable[int], *, now: datetime | str | None = None) -> list[ChangeEvent]:
    """Insert a ``reminder`` change event for every deadline whose reminder offset is reached
    and not yet sent; the outbox delivers them with the next delivery run."""
    from docwatch.catalog import parse_time

    today = _today(now)
    at = parse_time(now)
    offs = sorted({int(o) for o in offsets if int(o) >= 0}, reverse=True)
    if not offs or "deadlines" not in catalog.db.table_names():
        return []
    events: list[ChangeEvent] = []
    with catalog.write():
        sent = {(r["deadline_id"], r["offset_days"]) for r in catalog._all("SELECT deadline_id, offset_days FROM reminders_sent")}
        for d in stored_deadlines(catalog):
            left = d.days_left(today)
            if left < 0:
                continue
            due = [o for o in offs if left <= o and (d.id, o) not in sent]
            if not due:
                continue
            fire = min(due)  # the most imminent; overtaken ones are marked without an event
            for o in due:
                event_id = None
                if o == fire:
                    ev = _reminder(d, o, left, at)
                    catalog.add_events([ev])
                    event_id = catalog.db.execute("SELECT last_insert_rowid()").fetchone()[0]
                    events.append(ev)
                catalog.db.execute("INSERT INTO reminders_sent (deadline_id, offset_days, sent_at, event_id) VALUES (?, ?, ?, ?)",
                                   (d.id, o, at, event_id))
    if events:
        log.info("deadlines: %d reminder event(s) queued", len(events))
    return events


def _reminder(d: StoredDeadline, offset: int, left: int, at: str) -> ChangeEvent:
    when = "today" if left == 0 else "tomorrow" if left == 1 else f"in {left} days"
    severity = "high" if offset <= 1 else "medium"  # channels default to medium and up: reminders reach them
    return ChangeEvent(source=d.source, kind="reminder", rule_key=d.rule_keys[0] if d.rule_keys else None,
                       field="deadline", old=None, new=d.date, severity=severity, impact=f"deadline-in-{offset}d",
                       party=d.parties[0] if d.parties else None, section=d.section,
                       summary=f"deadline {d.date} {when}: {d.sentence}", detected_at=at,
                       doc_commit=d.doc_commit, page_url=d.page_url, commit_url=d.commit_url)


def emit_reminders(catalog, cfg, *, now: datetime | str | None = None) -> list[ChangeEvent]:
    """The daemon's per-cycle hook: queue due reminders (never fails the cycle). Channels seen
    for the first time get their starting point first, so they receive these reminders too."""
    try:
        channels = list(getattr(cfg, "channels", None) or [])
        if channels:
            from docwatch.alerts.outbox import start_channels

            start_channels(catalog, channels)
        return due_reminders(catalog, reminder_offsets(cfg), now=now)
    except Exception as exc:  # noqa: BLE001 - reminders must not stop scraping
        log.error("deadlines: reminders failed: %s", exc)
        return []
