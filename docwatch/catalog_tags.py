"""Service-tag files on the catalog: versioned prefixes per tag, as-of reads, resolution.

Storage grows with changes only. Each ingested file is a row of ``versions`` (source
``servicetags-<cloud>``; ``doc_date`` = file date, ``doc_commit`` = its ``changeNumber``,
``table_count``/``rule_count`` = tags/prefixes) plus a row of ``tag_files``. A tag is one row
of ``tags`` (its current facts); ``tag_versions`` gets a row only when a tag's prefixes or
facts change; ``tag_prefixes`` holds one row per *prefix version*: ``(tag, prefix, v_from,
v_to)`` with version ids (``v_to`` NULL = still listed). An unchanged tag costs one hash
comparison and no row; identical bytes store nothing (``duplicate``).

Events go to ``change_events`` like page events (see :func:`docwatch.servicetags.tag_events`),
with ``effective_after`` and ``used_by`` in two extra columns (view ``service_tag_changes``).
"""
from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from docwatch.catalog import ACCEPTED_STATUSES, Catalog, parse_time
from docwatch.errors import UsageError
from docwatch.model import ChangeEvent
from docwatch.servicetags import (CLOUD_FILE_NAMES, DEFAULT_MIN_RATIO, SOURCE_PREFIX, Tag, TagFile, TagState,
                                  UsageIndex, diff_tags, effective_after, guard_reason, sort_prefixes, source_name,
                                  split_rule_tag, tag_events)
from docwatch.tagnames import VIRTUAL_TAGS

log = logging.getLogger(__name__)

_ACCEPTED = "(" + ", ".join(repr(s) for s in ACCEPTED_STATUSES) + ")"

# tables (migration 6) and views: docwatch/catalog_schema.py (_V6, VIEWS)


@dataclass
class TagIngestResult:
    source: str
    version_id: int | None
    status: str  # first | changed | unchanged | duplicate | anomaly
    events: list[ChangeEvent] = field(default_factory=list)
    reason: str | None = None
    tags: int = 0
    prefixes: int = 0


@dataclass
class TagView:
    """One tag as of a file version, for ``tags show`` and resolution."""

    name: str
    cloud: str
    change_number: int | None
    region: str
    system_service: str | None
    platform: str | None
    prefixes: list[str]
    file_change_number: int | None
    version_id: int
    observed_at: str

    @property
    def ipv4(self) -> list[str]:
        return [p for p in self.prefixes if ":" not in p]

    @property
    def ipv6(self) -> list[str]:
        return [p for p in self.prefixes if ":" in p]


def _last_file(cat: Catalog, source: str) -> dict[str, Any] | None:
    return cat._one(f"""SELECT v.*, f.change_number, f.tag_count, f.prefix_count, f.cloud FROM versions v
        JOIN tag_files f ON f.version_id = v.id WHERE v.source = ? AND v.status IN {_ACCEPTED}
        ORDER BY v.id DESC LIMIT 1""", (source,))


def _insert_version(cat: Catalog, source: str, at: str, status: str, **cols: Any) -> int:
    cols = {k: v for k, v in cols.items() if v is not None}
    have = cat.db["versions"].columns_dict
    if "seq" in have:  # per-source version numbers (migration 4)
        cols["seq"] = cat.db.execute("SELECT coalesce(max(seq), 0) + 1 FROM versions WHERE source = ?",
                                     (source,)).fetchone()[0]
    names = ["source", "observed_at", "status", *cols]
    return cat.db.execute(f"INSERT INTO versions ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
                          (source, at, status, *cols.values())).lastrowid


def record_tag_anomaly(cat: Catalog, cloud: str, reason: str, *, observed_at: str | None = None,
                       content_hash: str | None = None, snapshot_id: str | None = None, url: str | None = None,
                       source: str | None = None) -> TagIngestResult:
    """A file that failed to parse or looks wrong: one version row with the reason and one
    anomaly event per streak; the current tags and prefixes stay as they are."""
    source = source or source_name(cloud)
    at = parse_time(observed_at, what="observed_at")
    with cat._write():
        src = cat._source_row(source, at, url)
        vid = _insert_version(cat, source, at, "anomaly", content_hash=content_hash, snapshot_id=snapshot_id,
                              page_url=url, reason=reason)
        ev = cat._anomaly_event(src, source, reason, at, cloud=cloud, version_id=vid, page_url=url)
    return TagIngestResult(source, vid, "anomaly", [ev] if ev else [], reason)


def _current_state(cat: Catalog, cloud: str) -> tuple[dict[str, TagState], dict[str, int], dict[str, int]]:
    """Current tags (no prefixes read), id of every tag row ever seen, and current tag ids."""
    state: dict[str, TagState] = {}
    ids: dict[str, int] = {}
    live: dict[str, int] = {}
    for tid, name, h, n, region, removed, number, service in cat.db.execute(
            "SELECT id, name, prefix_hash, prefix_count, region, removed_version, change_number, system_service "
            "FROM tags WHERE cloud = ?", (cloud,)):
        ids[name] = tid
        if removed is None:
            live[name] = tid
            state[name] = TagState(name, h, n or 0, region or "", bool(region) and "." in name, number, service)
    return state, ids, live


def page_tag_rules(cat: Catalog) -> list[tuple[str, str, str | None]]:
    """(source, service_tag, cloud) of every current page rule naming a service tag."""
    return [tuple(r) for r in cat.db.execute(
        """SELECT so.name, rv.service_tag, rv.cloud FROM rules r JOIN sources so ON so.id = r.source_id
           JOIN rule_versions rv ON rv.id = r.current_rv
           WHERE rv.tombstone = 0 AND rv.service_tag IS NOT NULL AND rv.service_tag != ''
             AND so.name NOT LIKE ?""", (SOURCE_PREFIX + "%",))]


def ingest_tag_file(cat: Catalog, tf: TagFile, *, observed_at: str | None = None, snapshot_id: str | None = None,
                    url: str | None = None, expected_cloud: str | None = None, min_ratio: float = DEFAULT_MIN_RATIO,
                    accept: bool = False, source: str | None = None) -> TagIngestResult:
    """Record ``tf`` as a version of ``servicetags-<cloud>``, diff it against the current tags
    and store its events. Same content → ``duplicate``; a lower changeNumber than the last
    accepted file → :class:`UsageError`; wrong cloud / far fewer tags or prefixes → anomaly
    (unless ``accept``)."""
    source = source or tf.source
    at = parse_time(observed_at or tf.file_date, what="observed_at")
    with cat._write():
        src = cat._source_row(source, at, url)
        last = cat.last_version(source)
        if last and last["content_hash"] == tf.content_hash and not (accept and last["status"] == "anomaly"):
            healthy = last["status"] in ACCEPTED_STATUSES
            cat.db.execute("UPDATE sources SET last_seen = ?, anomaly_since = CASE WHEN ? THEN NULL ELSE anomaly_since END, "
                           "anomaly_reason = CASE WHEN ? THEN NULL ELSE anomaly_reason END WHERE id = ?",
                           (at, healthy, healthy, src["id"]))
            return TagIngestResult(source, last["id"], "duplicate", tags=len(tf.tags), prefixes=tf.prefix_count)
        accepted = _last_file(cat, source)
        wrong_cloud = None if accept else guard_reason(tf, expected_cloud=expected_cloud, last_tags=None,
                                                       last_prefixes=None)
        if not wrong_cloud and accepted and tf.change_number < (accepted["change_number"] or 0):
            raise UsageError(f"cannot ingest {source!r} changeNumber {tf.change_number}: lower than the last file's "
                             f"({accepted['change_number']}); files must be ingested in order")
        if not wrong_cloud and last and at < last["observed_at"]:
            raise UsageError(f"cannot ingest {source!r} observed at {at}: older than its latest version "
                             f"({last['observed_at']}); versions must be ingested in time order")
        reason = None if accept else guard_reason(
            tf, expected_cloud=expected_cloud, last_tags=accepted and accepted["tag_count"],
            last_prefixes=accepted and accepted["prefix_count"], min_ratio=min_ratio)
        common = dict(content_hash=tf.content_hash, page_url=url, source_url=url,
                      doc_date=tf.file_date or at[:10], doc_commit=str(tf.change_number), table_count=len(tf.tags),
                      rule_count=tf.prefix_count)
        if reason:
            vid = _insert_version(cat, source, at, "anomaly", reason=reason, snapshot_id=snapshot_id, **common)
            ev = cat._anomaly_event(src, source, reason, at, cloud=tf.cloud, version_id=vid, page_url=url,
                                    doc_date=common["doc_date"], doc_commit=common["doc_commit"])
            return TagIngestResult(source, vid, "anomaly", [ev] if ev else [], reason, len(tf.tags), tf.prefix_count)
        # the snapshot id stays off accepted `versions` rows: page tools (reparse, backfill) re-extract
        # the snapshots of those rows as documents; tag_files keeps it
        vid = _insert_version(cat, source, at, "pending", **common)
        cat.db.execute("INSERT INTO tag_files (version_id, cloud, change_number, file_date, effective_after, tag_count, "
                       "prefix_count, url, snapshot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (vid, tf.cloud, tf.change_number, common["doc_date"], effective_after(common["doc_date"]),
                        len(tf.tags), tf.prefix_count, url, snapshot_id))
        cat.db.execute("UPDATE sources SET anomaly_since = NULL, anomaly_reason = NULL, last_seen = ? WHERE id = ?",
                       (at, src["id"]))
        stored = _apply(cat, tf, vid, at, first=accepted is None, source=source, url=url, day=common["doc_date"])
        status = "first" if accepted is None else "changed" if stored else "unchanged"
        cat.db.execute("UPDATE versions SET status = ? WHERE id = ?", (status, vid))
    return TagIngestResult(source, vid, status, stored, None, len(tf.tags), tf.prefix_count)


def _tag_row(tag: Tag) -> tuple:
    return (tag.id, tag.region or None, tag.region_id, tag.platform, tag.system_service,
            json.dumps(list(tag.network_features)) if tag.network_features else None, tag.change_number,
            len(set(tag.prefixes)), tag.prefix_hash, "\n".join(tag.prefixes))


# prefixes_now caches the current list (newline-joined) so a diff reads one value per changed tag
_TAG_COLS = ("tag_id, region, region_id, platform, system_service, network_features, change_number, prefix_count, "
             "prefix_hash, prefixes_now")


def _apply(cat: Catalog, tf: TagFile, vid: int, at: str, *, first: bool, source: str, url: str | None,
           day: str | None) -> list[ChangeEvent]:
    db = cat.db
    state, ids, live = _current_state(cat, tf.cloud)

    def upsert(tag: Tag, added: int, removed: int) -> int:
        tid = ids.get(tag.name)
        if tid is None:
            tid = db.execute(f"INSERT INTO tags (cloud, name, {_TAG_COLS}, first_version, last_changed_version) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (tf.cloud, tag.name, *_tag_row(tag), vid, vid)).lastrowid
            ids[tag.name] = tid
        else:
            db.execute(f"UPDATE tags SET ({_TAG_COLS}, last_changed_version, removed_version) = "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) WHERE id = ?", (*_tag_row(tag), vid, tid))
        db.execute("INSERT INTO tag_versions (tag, version_id, change_number, region, platform, system_service, "
                   "prefix_count, added, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (tid, vid, tag.change_number, tag.region or None, tag.platform, tag.system_service,
                    len(set(tag.prefixes)), added, removed))
        return tid

    if first:
        for tag in tf.tags.values():
            tid = upsert(tag, len(set(tag.prefixes)), 0)
            db.conn.executemany("INSERT OR IGNORE INTO tag_prefixes (tag, prefix, v_from) VALUES (?, ?, ?)",
                           ((tid, p, vid) for p in tag.prefixes))
        return []

    def load(name: str) -> set[str]:
        text = db.conn.execute("SELECT prefixes_now FROM tags WHERE id = ?", (live[name],)).fetchone()[0]
        if text is None:  # not cached: read the prefix versions
            cur = db.conn.execute("SELECT prefix FROM tag_prefixes WHERE tag = ? AND v_to IS NULL", (live[name],))
            return set(itertools.chain.from_iterable(cur.fetchall()))
        return set(text.split("\n")) if text else set()

    diff = diff_tags(state, tf, load)
    changed = {c.name for c in diff.changes}
    for c in diff.changes:
        if c.kind == "removed":
            tid = live[c.name]
            db.execute("UPDATE tag_prefixes SET v_to = ? WHERE tag = ? AND v_to IS NULL", (vid, tid))
            db.execute("UPDATE tags SET removed_version = ?, last_changed_version = ?, prefixes_now = '' WHERE id = ?",
                       (vid, vid, tid))
            db.execute("INSERT INTO tag_versions (tag, version_id, tombstone, prefix_count, added, removed) "
                       "VALUES (?, ?, 1, 0, 0, ?)", (tid, vid, len(c.removed)))
            continue
        tid = upsert(tf.tags[c.name], len(c.added), len(c.removed))
        if c.removed:
            db.conn.executemany("UPDATE tag_prefixes SET v_to = ? WHERE tag = ? AND prefix = ? AND v_to IS NULL",
                           ((vid, tid, p) for p in c.removed))
        if c.added:
            db.conn.executemany("INSERT OR IGNORE INTO tag_prefixes (tag, prefix, v_from) VALUES (?, ?, ?)",
                           ((tid, p, vid) for p in c.added))
    for name, tag in tf.tags.items():  # facts changed without a prefix change: a tag version, no event
        st = state.get(name)
        if st and name not in changed and (st.change_number, st.region, st.system_service) != \
                (tag.change_number, tag.region or "", tag.system_service):
            upsert(tag, 0, 0)
            changed.add(name)
    for name in diff.changed_hash - changed:  # same set, new order: remember the new hash only
        db.execute("UPDATE tags SET prefix_hash = ?, prefixes_now = ? WHERE id = ?",
                   (tf.tags[name].prefix_hash, "\n".join(tf.tags[name].prefixes), live[name]))
    usage = UsageIndex(page_tag_rules(cat), tf.cloud)
    out = tag_events(diff, source=source, cloud=tf.cloud, usage=usage, day=day)
    for te in out:
        ev = te.event
        ev.detected_at, ev.version_id, ev.page_url = at, vid, url
        ev.doc_date, ev.doc_commit = day, str(tf.change_number)
        cat._insert_events([ev])
        db.execute("UPDATE change_events SET effective_after = ?, used_by = ? WHERE id = last_insert_rowid()",
                   (te.effective_after, json.dumps(te.used_by) if te.used_by else None))
    return [te.event for te in out]


# -- reads -----------------------------------------------------------------------------------

def file_version_at(cat: Catalog, cloud: str, as_of: str | None = None) -> dict[str, Any] | None:
    """The accepted file version of ``cloud`` in force at ``as_of`` (default: the latest)."""
    sql = f"""SELECT v.id, v.observed_at, f.change_number FROM versions v JOIN tag_files f ON f.version_id = v.id
              WHERE f.cloud = ? AND v.status IN {_ACCEPTED}"""
    params: list[Any] = [cloud]
    if as_of:
        sql += " AND v.observed_at <= ?"
        params.append(parse_time(as_of, end_of_day=True, what="--as-of date"))
    return cat._one(sql + " ORDER BY v.id DESC LIMIT 1", tuple(params))


def tag_names(cat: Catalog, cloud: str) -> list[str]:
    """Every tag name the ``cloud`` files ever listed (for "did you mean" hints)."""
    return [r["name"] for r in cat._all("SELECT name FROM tags WHERE cloud = ? ORDER BY id", (cloud,))]


def tag_as_of(cat: Catalog, name: str, cloud: str = "public", as_of: str | None = None) -> TagView | None:
    """Tag ``name`` (any case) as listed in the file in force at ``as_of``; None when absent."""
    fv = file_version_at(cat, cloud, as_of)
    if fv is None:
        return None
    row = cat._one("SELECT id, name FROM tags WHERE cloud = ? AND lower(name) = lower(?)", (cloud, name))
    if row is None:
        return None
    vid = fv["id"]
    meta = cat._one("SELECT * FROM tag_versions WHERE tag = ? AND version_id <= ? ORDER BY version_id DESC, id DESC "
                    "LIMIT 1", (row["id"], vid))
    if meta is None or meta["tombstone"]:
        return None
    prefixes = [r[0] for r in cat.db.execute(
        "SELECT prefix FROM tag_prefixes WHERE tag = ? AND v_from <= ? AND (v_to IS NULL OR v_to > ?)",
        (row["id"], vid, vid))]
    return TagView(row["name"], cloud, meta["change_number"], meta["region"] or "", meta["system_service"],
                   meta["platform"], sort_prefixes(prefixes), fv["change_number"], vid, fv["observed_at"])


def _regional_names(cat: Catalog, cloud: str, base: str, region: str) -> list[str]:
    """Tags of ``base`` for ``region`` given as a name suffix (EastUS, "East US") or a region value."""
    key = region.replace(" ", "").lower()
    return [r[0] for r in cat.db.execute(
        "SELECT name FROM tags WHERE cloud = ? AND lower(name) LIKE ? AND "
        "(lower(substr(name, instr(name, '.') + 1)) = ? OR lower(region) = ?)",
        (cloud, base.lower() + ".%", key, key))]


def resolve_tag(cat: Catalog, tag: str, cloud: str | None = None, regions: list[str] | None = None,
                as_of: str | None = None) -> list[str]:
    """Prefixes behind a page rule's tag: the tag itself, or for a ``Tag.<region>`` template
    the union of its regional tags for ``regions`` (none given: nothing, the template names
    no address yet). Unknown tags resolve to []."""
    cloud = cloud or "public"
    base, region, placeholder = split_rule_tag(tag)
    names = [tag]
    if placeholder:
        names = [n for r in regions or [] for n in _regional_names(cat, cloud, base, r)]
    out: set[str] = set()
    for n in names:
        view = tag_as_of(cat, n, cloud, as_of)
        if view:
            out.update(view.prefixes)
    return sort_prefixes(out)


@dataclass
class TagUse:
    tag: str  # as the page rules write it
    cloud: str
    sources: list[str]
    resolved: list[str]  # file tags it stands for
    prefix_count: int
    last_change: str | None
    known: bool


def _clouds_ingested(cat: Catalog) -> list[str]:
    return [r[0] for r in cat.db.execute("SELECT DISTINCT cloud FROM tag_files ORDER BY cloud")]


def _matching(cat: Catalog, cloud: str, tag: str) -> list[dict[str, Any]]:
    base, region, placeholder = split_rule_tag(tag)
    if placeholder:
        sql, params = "lower(name) LIKE ? AND region IS NOT NULL", (base.lower() + ".%",)
    else:
        sql, params = "lower(name) = lower(?)", (tag.strip(),)
    return cat._all(f"""SELECT t.name, t.prefix_count, v.observed_at AS last_change FROM tags t
        LEFT JOIN versions v ON v.id = t.last_changed_version
        WHERE t.cloud = ? AND t.removed_version IS NULL AND {sql}""", (cloud, *params))


def tags_used(cat: Catalog) -> list[TagUse]:
    """The tags the watched pages' current rules use, per cloud with a file, with prefix counts."""
    clouds = _clouds_ingested(cat)
    by: dict[tuple[str, str], set[str]] = {}
    for source, tag, rule_cloud in page_tag_rules(cat):
        if tag.strip() in VIRTUAL_TAGS:
            continue
        for cloud in ([rule_cloud] if rule_cloud else clouds or ["public"]):
            by.setdefault((tag.strip(), cloud), set()).add(source)
    out = []
    for (tag, cloud), sources in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0].lower())):
        rows = _matching(cat, cloud, tag) if cloud in clouds else []
        out.append(TagUse(tag, cloud, sorted(sources), sorted(r["name"] for r in rows),
                          sum(r["prefix_count"] or 0 for r in rows), max((r["last_change"] or "" for r in rows), default=None) or None,
                          bool(rows)))
    return out


@dataclass
class UnknownTag:
    source: str
    tag: str
    cloud: str | None
    checked: list[str]  # clouds whose file lacks it


def unknown_tags(cat: Catalog) -> list[UnknownTag]:
    """Page rules naming a tag that the file of their cloud does not list (often a doc error).
    A rule naming no cloud is reported only when no ingested cloud lists the tag."""
    clouds = _clouds_ingested(cat)
    if not clouds:
        return []
    out = []
    seen: set[tuple[str, str, str | None]] = set()
    for source, tag, rule_cloud in page_tag_rules(cat):
        tag = tag.strip()
        if tag in VIRTUAL_TAGS or (source, tag, rule_cloud) in seen:
            continue
        seen.add((source, tag, rule_cloud))
        check = [rule_cloud] if rule_cloud else clouds
        check = [c for c in check if c in clouds]
        if check and not any(_matching(cat, c, tag) for c in check):
            out.append(UnknownTag(source, tag, rule_cloud, check))
    return sorted(out, key=lambda u: (u.source, u.tag.lower()))


def cloud_label(cloud: str) -> str:
    return CLOUD_FILE_NAMES.get(cloud, cloud)


def add_resolved(cat: Catalog, rows: list[dict[str, Any]], regions: list[str] | tuple[str, ...] = (),
                 as_of: str | None = None) -> list[dict[str, Any]]:
    """``query --resolve``: each rule row naming a service tag gets ``prefixes`` (its tag's, or for
    ``Tag.<region>`` the given regions'), from the file of the rule's cloud (public when none)."""
    cache: dict[tuple, list[str]] = {}
    for r in rows:
        tag = r.get("service_tag")
        if not tag:
            continue
        key = (tag.lower(), r.get("cloud"))
        if key not in cache:
            cache[key] = resolve_tag(cat, tag, r.get("cloud"), list(regions), as_of)
        r["prefixes"] = cache[key]
    return rows
