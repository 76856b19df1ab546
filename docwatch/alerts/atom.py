"""Atom 1.0 feed file of recent changes.

The feed is regenerated from the ``changes`` view on every delivery (newest first, capped at
``max_entries``, same filters as the channel), so it is idempotent: re-running a delivery
rewrites the same file. Entry ids hash the event's content, so they stay stable across
runs and catalog rebuilds. The file is replaced atomically (temp file + ``os.replace``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from docwatch.alerts.config import SEVERITIES, SEVERITY_RANK, AtomChannel
from docwatch.alerts.digest import CLOUD_LABELS, Digest, StoredEvent, describe, event_from_row, safe_url

ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _XML_BAD.sub("", text)


def atom_time(value: str | None, default: datetime | None = None) -> str:
    """RFC 3339 UTC (``2024-05-01T10:00:00Z``) from an ISO date/time; naive means UTC."""
    dt = None
    if value:
        try:
            dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            dt = None
    dt = dt or default or datetime.now(timezone.utc)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_id(e: StoredEvent) -> str:
    """A hash of every fact of the event (not its row id), so ids survive a catalog rebuild and
    two events of one version (a port swap: "80 removed", "8080 added") never share one."""
    facts = {k: v for k, v in e.event.to_dict().items() if k != "id"}
    ident = json.dumps(facts, sort_keys=True, default=str)
    return "urn:docwatch:change:" + hashlib.sha256(ident.encode("utf-8")).hexdigest()[:32]


def entry_ids(events: list[StoredEvent]) -> list[str]:
    """Ids for one feed, unique even for events identical in every fact (then the row id tells them apart)."""
    seen: dict[str, int] = {}
    out = []
    for e in events:
        base = entry_id(e)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.append(base if not n else f"{base}:{e.id if e.id is not None else n}")
    return out


def recent_events(db, channel: AtomChannel, upto_id: int | None = None) -> list[StoredEvent]:
    """Newest matching events (id <= upto_id) for the feed, newest first."""
    if "change_events" not in db.table_names():
        return []
    where, params = ["coalesce(severity, 'low') in ({})".format(
        ", ".join("?" for s in SEVERITIES if SEVERITY_RANK[s] >= SEVERITY_RANK[channel.min_severity]))], \
        [s for s in SEVERITIES if SEVERITY_RANK[s] >= SEVERITY_RANK[channel.min_severity]]
    if upto_id is not None:
        where.append("id <= ?")
        params.append(upto_id)
    if channel.sources:
        where.append(f"source in ({', '.join('?' for _ in channel.sources)})")
        params += list(channel.sources)
    if channel.clouds:
        where.append(f"(cloud is null or cloud in ({', '.join('?' for _ in channel.clouds)}))")
        params += list(channel.clouds)
    sql = (f"select * from changes where {' and '.join(where)} "
           f"order by detected_at desc, id desc limit {int(channel.max_entries)}")
    cursor = db.execute(sql, params)
    cols = [c[0] for c in cursor.description]
    return [event_from_row(dict(zip(cols, row))) for row in cursor.fetchall()]


def render(channel: AtomChannel, events: list[StoredEvent], *, now: datetime | None = None) -> bytes:
    ET.register_namespace("", ATOM_NS)
    q = lambda tag: f"{{{ATOM_NS}}}{tag}"  # noqa: E731
    feed = ET.Element(q("feed"))
    ET.SubElement(feed, q("id")).text = f"urn:docwatch:feed:{channel.name}"
    ET.SubElement(feed, q("title")).text = _clean(channel.title)
    ET.SubElement(feed, q("updated")).text = atom_time(events[0].event.detected_at if events else None, now)
    ET.SubElement(ET.SubElement(feed, q("author")), q("name")).text = "docwatch"
    ET.SubElement(feed, q("generator")).text = "docwatch"
    for e, ident in zip(events, entry_ids(events)):
        ev = e.event
        entry = ET.SubElement(feed, q("entry"))
        ET.SubElement(entry, q("id")).text = ident
        cloud = CLOUD_LABELS.get(ev.cloud, ev.cloud or "all clouds")
        ET.SubElement(entry, q("title")).text = _clean(f"[{ev.severity.upper()}] {ev.source} ({cloud}): {describe(ev, 200)}")
        ET.SubElement(entry, q("updated")).text = atom_time(ev.detected_at, now)
        url = safe_url(ev.page_url)
        if url:
            ET.SubElement(entry, q("link"), {"rel": "alternate", "href": url})
        for term in (ev.severity, ev.kind, ev.source):
            if term:
                ET.SubElement(entry, q("category"), {"term": _clean(term)})
        lines = [describe(ev, 2000), f"source: {ev.source}", f"cloud: {cloud}"]
        if ev.field:
            lines.append(f"field: {ev.field}")
        if ev.doc_date or ev.doc_commit:
            lines.append(f"doc: {ev.doc_date or ''} {ev.doc_commit or ''}".strip())
        ET.SubElement(entry, q("summary"), {"type": "text"}).text = _clean("\n".join(lines))
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def send(channel: AtomChannel, digest: Digest, meta, client=None) -> None:
    """Rewrite the feed from the catalog (events up to this delivery's last id); without a
    catalog handle, from the digest's own events."""
    if meta.db is not None:
        upto = max((e.id for e in digest.events if e.id is not None), default=None)
        events = recent_events(meta.db, channel, upto)
    else:
        events = sorted(digest.events, key=lambda e: e.event.detected_at or "", reverse=True)[: channel.max_entries]
    write_atomic(Path(channel.path), render(channel, events, now=meta.now))
