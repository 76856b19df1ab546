"""Catalog schema, automatic migrations and the consumer views.

``schema_version`` holds one row per applied migration; :data:`MIGRATIONS` is the ordered
list of steps. Opening a catalog applies the missing steps inside a write lock; a catalog
whose version is newer than :data:`SCHEMA_VERSION` is refused (an older docwatch must not
write into a newer layout). Views are dropped and re-created on every open so their
definitions always match the code.

Storage is kept lean (goal ≤ 300 bytes per rule version): facts are plain columns (NULLs
cost one byte), ports a compact JSON array, heading paths de-duplicated in ``sections``,
and per-version provenance (snapshot, doc date/commit, observed_at, page URL) lives once
per document version in ``versions`` and is joined in by the views. Rules keep only what
their look-ups need (source id, key, party, reversed endpoint, current version); the full-text index is
contentless and ``rule_ports`` indexes ports (both kept by triggers, migration 11).
"""
from __future__ import annotations

import logging
import re
import sqlite3
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # writers pass a sqlite_utils.Database; readers never import it
    import sqlite_utils

log = logging.getLogger(__name__)

_V1 = [
    """CREATE TABLE IF NOT EXISTS sources (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, page_url TEXT,
        first_seen TEXT, last_seen TEXT, last_checked TEXT)""",
    """CREATE TABLE IF NOT EXISTS versions (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, observed_at TEXT NOT NULL,
        content_hash TEXT, snapshot_id TEXT, doc_date TEXT, doc_commit TEXT, page_url TEXT,
        source_url TEXT, table_count INTEGER, rule_count INTEGER, status TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS versions_source ON versions(source, id)",
    "CREATE TABLE IF NOT EXISTS sections (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE)",
    """CREATE TABLE IF NOT EXISTS rules (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, rule_key TEXT NOT NULL,
        endpoint TEXT, service_tag TEXT, purpose TEXT, current_rv INTEGER,
        first_seen TEXT, last_changed TEXT, UNIQUE(source, rule_key))""",
    """CREATE TABLE IF NOT EXISTS rule_versions (
        id INTEGER PRIMARY KEY, rule INTEGER NOT NULL REFERENCES rules(id),
        version_id INTEGER NOT NULL REFERENCES versions(id),
        valid_from TEXT NOT NULL, valid_to TEXT, tombstone INTEGER NOT NULL DEFAULT 0,
        endpoint TEXT, endpoint_kind TEXT, service_tag TEXT, src TEXT, dst TEXT, ports TEXT,
        protocol TEXT, direction TEXT, cloud TEXT, tab TEXT, required INTEGER, "when" TEXT,
        purpose TEXT, section_id INTEGER, tbl INTEGER, row INTEGER)""",
    "CREATE INDEX IF NOT EXISTS rule_versions_rule ON rule_versions(rule, valid_from)",
    """CREATE TABLE IF NOT EXISTS change_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, kind TEXT NOT NULL,
        rule_key TEXT, field TEXT, old TEXT, new TEXT, severity TEXT, impact TEXT, cloud TEXT,
        tab TEXT, direction TEXT, party TEXT, section TEXT, summary TEXT, detected_at TEXT,
        doc_date TEXT, doc_commit TEXT, page_url TEXT, commit_url TEXT, version_id INTEGER)""",
    "CREATE INDEX IF NOT EXISTS change_events_source ON change_events(source, detected_at)",
]

# v2: anomaly bookkeeping (streaks, reasons) and full-text search on rule identities.
_V2 = [
    "ALTER TABLE sources ADD COLUMN anomaly_since TEXT",
    "ALTER TABLE sources ADD COLUMN anomaly_reason TEXT",
    "ALTER TABLE versions ADD COLUMN reason TEXT",
    "CREATE INDEX IF NOT EXISTS rules_source ON rules(source)",
    "CREATE INDEX IF NOT EXISTS rules_endpoint ON rules(lower(endpoint))",
    "CREATE INDEX IF NOT EXISTS rules_tag ON rules(lower(service_tag))",
]


def _fts(db: sqlite_utils.Database) -> None:
    db["rules"].enable_fts(["endpoint", "service_tag", "purpose"], create_triggers=True, replace=True)


# v3: a ratio anomaly keeps its rules aside, so a later version that confirms it can apply
# them at the anomalous version's own date (exact per-version history, no merged diffs).
_V3 = ["ALTER TABLE versions ADD COLUMN held_rules TEXT"]

# Reserved migration slots (one owner each; fill the list, keep the number):
# v4 ingest pipeline / rule identity, v5 fetch + daemon state, v6 service tags,
# v7 export endpoint sets, v8 deadlines + backfill.
def _number_versions(db: sqlite_utils.Database) -> None:
    db.execute("""UPDATE versions SET seq = (SELECT count(*) FROM versions v2
                  WHERE v2.source = versions.source AND v2.id <= versions.id) WHERE seq IS NULL""")


# v4 (owner: the ingest pipeline): per-source version numbers, the form and parser version a
# version was read with, the guard's decision kind and a repeat counter for identical anomalies;
# rule versions keep origin (NULL = table) and deadline.
_V4: list = [
    "ALTER TABLE versions ADD COLUMN seq INTEGER",
    "ALTER TABLE versions ADD COLUMN form TEXT",
    "ALTER TABLE versions ADD COLUMN parser_version TEXT",
    "ALTER TABLE versions ADD COLUMN kind TEXT",
    "ALTER TABLE versions ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE versions ADD COLUMN commit_url TEXT",
    "ALTER TABLE versions ADD COLUMN missing_includes TEXT",
    _number_versions,
    "CREATE UNIQUE INDEX IF NOT EXISTS versions_seq ON versions(source, seq)",
    "ALTER TABLE rule_versions ADD COLUMN deadline TEXT",
    "ALTER TABLE rule_versions ADD COLUMN deadline_text TEXT",
    "ALTER TABLE rule_versions ADD COLUMN origin TEXT",
    "CREATE INDEX IF NOT EXISTS change_events_kind ON change_events(kind, id)",
]
# v5 (owner: the scrape cycle, docwatch/crawlstate.py): HTTP validators per URL (and
# includes known to be missing), the fetch log, per-source crawl state (failure streak,
# form used, coverage counts) and daemon state. CREATE IF NOT EXISTS + idempotent ADD COLUMN:
# catalogs made before v5 already hold the first four tables in their old shape.
_V5: list = [
    """CREATE TABLE IF NOT EXISTS http_cache (
        url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, sha256 TEXT, content_type TEXT, updated_at TEXT)""",
    "ALTER TABLE http_cache ADD COLUMN missing_since TEXT",
    "ALTER TABLE http_cache ADD COLUMN missing_checked TEXT",
    """CREATE TABLE IF NOT EXISTS fetch_log (
        id INTEGER PRIMARY KEY, url TEXT NOT NULL, source TEXT, time TEXT NOT NULL, status TEXT NOT NULL,
        http_status INTEGER, etag TEXT, bytes INTEGER, duration_ms INTEGER, attempts INTEGER,
        sha256 TEXT, error TEXT)""",
    "CREATE INDEX IF NOT EXISTS fetch_log_source ON fetch_log(source, id)",
    "CREATE INDEX IF NOT EXISTS fetch_log_time ON fetch_log(time)",
    """CREATE TABLE IF NOT EXISTS source_state (
        source TEXT PRIMARY KEY, last_attempt TEXT, last_success TEXT, last_status TEXT,
        last_error TEXT, last_error_at TEXT)""",
    "ALTER TABLE source_state ADD COLUMN form TEXT",
    "ALTER TABLE source_state ADD COLUMN degraded TEXT",
    "ALTER TABLE source_state ADD COLUMN fail_streak INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE source_state ADD COLUMN coverage TEXT",
    "CREATE TABLE IF NOT EXISTS daemon_state (key TEXT PRIMARY KEY, value TEXT)",
]
# v6 (owner: service tags, docwatch/catalog_tags.py): one row per ingested file, per tag, per
# changed tag version and per prefix version (v_from/v_to are version ids; v_to NULL = listed now).
_V6: list = [
    """CREATE TABLE IF NOT EXISTS tag_files (
        version_id INTEGER PRIMARY KEY, cloud TEXT NOT NULL, change_number INTEGER, file_date TEXT,
        effective_after TEXT, tag_count INTEGER, prefix_count INTEGER, url TEXT, snapshot_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS tag_files_cloud ON tag_files(cloud, version_id)",
    """CREATE TABLE IF NOT EXISTS tags (
        id INTEGER PRIMARY KEY, cloud TEXT NOT NULL, name TEXT NOT NULL, tag_id TEXT, region TEXT,
        region_id INTEGER, platform TEXT, system_service TEXT, network_features TEXT, change_number INTEGER,
        prefix_count INTEGER, prefix_hash TEXT, first_version INTEGER, last_changed_version INTEGER,
        removed_version INTEGER, prefixes_now TEXT, UNIQUE(cloud, name))""",
    "CREATE INDEX IF NOT EXISTS tags_lname ON tags(cloud, lower(name))",
    """CREATE TABLE IF NOT EXISTS tag_versions (
        id INTEGER PRIMARY KEY, tag INTEGER NOT NULL, version_id INTEGER NOT NULL,
        tombstone INTEGER NOT NULL DEFAULT 0, change_number INTEGER, region TEXT, platform TEXT,
        system_service TEXT, prefix_count INTEGER, added INTEGER, removed INTEGER)""",
    "CREATE INDEX IF NOT EXISTS tag_versions_tag ON tag_versions(tag, version_id)",
    """CREATE TABLE IF NOT EXISTS tag_prefixes (
        tag INTEGER NOT NULL, prefix TEXT NOT NULL, v_from INTEGER NOT NULL, v_to INTEGER,
        PRIMARY KEY (tag, prefix, v_from)) WITHOUT ROWID""",
    "ALTER TABLE change_events ADD COLUMN effective_after TEXT",
    "ALTER TABLE change_events ADD COLUMN used_by TEXT",
    """CREATE TABLE IF NOT EXISTS tag_fetch_cache (
        url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, sha256 TEXT, updated_at TEXT)""",
]
# v7 (owner: exports, docwatch/exports/base.py): endpoint-set ids. AUTOINCREMENT so an id is
# allocated once and never reused; a set is found again by its key (what it is, not where it
# sits). The catalog version exports carry is max(rule_versions.id): no counter needed.
# set_id: the public id when a set succeeds a vanished one (same members, new wording, tab or
# ports: it keeps its predecessor's id); members: its parties when last seen (JSON list).
_V7: list = [
    """CREATE TABLE IF NOT EXISTS endpoint_sets (
        id INTEGER PRIMARY KEY AUTOINCREMENT, set_key TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
        created_at TEXT, set_id INTEGER, members TEXT)""",
    "ALTER TABLE endpoint_sets ADD COLUMN set_id INTEGER",
    "ALTER TABLE endpoint_sets ADD COLUMN members TEXT",
    "CREATE INDEX IF NOT EXISTS endpoint_sets_source ON endpoint_sets(source)",
]
# v8 (owner: backfill + deadlines, docwatch/deadline_store.py): deadlines read from the page
# (page level when rule_keys is empty), which versions were scanned for them, and the reminders
# already sent (once per deadline x offset in days).
_V8: list = [
    """CREATE TABLE IF NOT EXISTS deadlines (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, deadline_key TEXT NOT NULL, date TEXT NOT NULL,
        sentence TEXT NOT NULL, parties TEXT, rule_keys TEXT, section TEXT, line INTEGER,
        first_version_id INTEGER, version_id INTEGER, first_seen TEXT, last_seen TEXT, removed_at TEXT,
        doc_commit TEXT, commit_url TEXT, page_url TEXT, UNIQUE(source, deadline_key))""",
    "CREATE INDEX IF NOT EXISTS deadlines_date ON deadlines(date)",
    "CREATE TABLE IF NOT EXISTS deadline_scans (version_id INTEGER PRIMARY KEY, source TEXT NOT NULL, found INTEGER)",
    """CREATE TABLE IF NOT EXISTS reminders_sent (
        deadline_id INTEGER NOT NULL, offset_days INTEGER NOT NULL, sent_at TEXT NOT NULL,
        event_id INTEGER, PRIMARY KEY (deadline_id, offset_days))""",
]

def _reverse_endpoints(db: sqlite_utils.Database) -> None:
    db.conn.create_function("dw_reverse", 1, lambda v: v[::-1] if v else v, deterministic=True)
    db.execute("UPDATE rules SET endpoint_rev = dw_reverse(lower(endpoint)) WHERE endpoint IS NOT NULL")


# v9 (owner: queries): the endpoint reversed, indexed, so a glob with a literal suffix
# (``*.blob.core.windows.net``) is an index range, not a scan of every rule.
_V9: list = [
    "ALTER TABLE rules ADD COLUMN endpoint_rev TEXT",
    _reverse_endpoints,
    "CREATE INDEX IF NOT EXISTS rules_endpoint_rev ON rules(endpoint_rev)",
]

def _outbox(db: sqlite_utils.Database) -> None:
    """The alert outbox tables (``alert_deliveries``, ``alert_cursors``), defined beside the code
    that uses them (:func:`docwatch.alerts.outbox.ensure_schema`, which also upgrades older ones)."""
    from docwatch.alerts.outbox import ensure_schema

    ensure_schema(db)


# v10: the alert outbox, created by the migrations like every other table (readers never create it).
_V10: list = [_outbox]

# v11 (owner: the catalog): leaner rules and an index for port queries.
# * ``rules_fts`` becomes contentless (no copy of the text: rowid = rules.id), filled by triggers
#   from the rule's current version, so ``rules`` drops its copy of ``purpose``;
# * ``rules.first_seen``/``last_changed`` go (the rule's versions hold both) and so does the index
#   ``rules_source`` (the UNIQUE (source, rule_key) index already starts with source);
# * ``rule_ports``: each non-tombstone rule version's ports as integers (-1: a range, ``*`` or
#   other text; :func:`docwatch.query.port_matches` decides those) with the version's start as
#   epoch seconds, so ``query --port [--as-of]`` over every source is an index range, not a walk
#   of every rule. Triggers keep it in step with ``rule_versions`` whoever writes them.
_PORT = ("CASE WHEN j.value GLOB '[0-9]*' AND NOT j.value GLOB '*[^0-9]*' AND length(j.value) <= 5 "
         "THEN CAST(j.value AS INTEGER) ELSE -1 END")
_EPOCH = "CAST(strftime('%s', {}) AS INTEGER)"
_FTS_ADD = ("INSERT INTO rules_fts (rowid, endpoint, service_tag, purpose) "
            "SELECT new.id, endpoint, service_tag, purpose FROM rule_versions WHERE id = new.current_rv;")
_FTS_DROP = ("INSERT INTO rules_fts (rules_fts, rowid, endpoint, service_tag, purpose) "  # contentless: the old values
             "SELECT 'delete', old.id, endpoint, service_tag, purpose FROM rule_versions WHERE id = old.current_rv;")
_V11: list = [
    "DROP TRIGGER IF EXISTS rules_ai", "DROP TRIGGER IF EXISTS rules_ad", "DROP TRIGGER IF EXISTS rules_au",
    "DROP TABLE IF EXISTS rules_fts",
    "CREATE VIRTUAL TABLE rules_fts USING fts5(endpoint, service_tag, purpose, content='', columnsize=0)",
    # merge segments (and drop deleted entries) as soon as two pile up: each ingest adds one
    "INSERT INTO rules_fts (rules_fts, rank) VALUES ('automerge', 2)",
    "INSERT INTO rules_fts (rowid, endpoint, service_tag, purpose) SELECT r.id, rv.endpoint, rv.service_tag, "
    "rv.purpose FROM rules r JOIN rule_versions rv ON rv.id = r.current_rv",
    f"CREATE TRIGGER rules_fts_ai AFTER INSERT ON rules BEGIN {_FTS_ADD} END",
    f"CREATE TRIGGER rules_fts_au AFTER UPDATE OF current_rv ON rules BEGIN {_FTS_DROP} {_FTS_ADD} END",
    f"CREATE TRIGGER rules_fts_ad AFTER DELETE ON rules BEGIN {_FTS_DROP} END",
    "DROP INDEX IF EXISTS rules_source",
    "ALTER TABLE rules DROP COLUMN purpose",
    "ALTER TABLE rules DROP COLUMN first_seen",
    "ALTER TABLE rules DROP COLUMN last_changed",
    """CREATE TABLE IF NOT EXISTS rule_ports (port INTEGER NOT NULL, since INTEGER NOT NULL,
        rule_version INTEGER NOT NULL, PRIMARY KEY (port, since, rule_version)) WITHOUT ROWID""",
    f"""INSERT OR IGNORE INTO rule_ports SELECT {_PORT}, {_EPOCH.format("rv.valid_from")}, rv.id
        FROM rule_versions rv, json_each(rv.ports) j WHERE rv.tombstone = 0""",
    f"""CREATE TRIGGER rule_ports_ai AFTER INSERT ON rule_versions WHEN new.tombstone = 0 BEGIN
        INSERT OR IGNORE INTO rule_ports SELECT {_PORT}, {_EPOCH.format("new.valid_from")}, new.id FROM json_each(new.ports) j;
    END""",
    f"""CREATE TRIGGER rule_ports_ad AFTER DELETE ON rule_versions WHEN old.tombstone = 0 BEGIN
        DELETE FROM rule_ports WHERE port IN (SELECT {_PORT} FROM json_each(old.ports) j)
            AND since = {_EPOCH.format("old.valid_from")} AND rule_version = old.id;
    END""",
]

# v12 (owner: the catalog): change events point into per-version rows instead of repeating text.
# * ``section`` (a JSON heading path) becomes ``section_id`` into ``sections``, shared with rules;
# * what an event copies from its document version (source, detected_at = observed_at, doc_date,
#   doc_commit, page_url, commit_url) is kept only when it differs from that version's
#   (``own_prov`` = 1; version provenance is never rewritten, see ``Catalog.set_version``);
# * so ``change_events_source`` goes, and ``change_events_kind`` too: a filter on the (small)
#   event table is a scan; the outbox and feeds read it by id.
# The ``changes`` view joins all of it back: same columns, same values. Readers use the view.
EVENT_PROVENANCE = {"source": "source", "detected_at": "observed_at", "doc_date": "doc_date", "doc_commit": "doc_commit",
                    "page_url": "page_url", "commit_url": "commit_url"}
_EVENT_COLUMNS = """source TEXT, kind TEXT NOT NULL, rule_key TEXT, field TEXT, old TEXT, new TEXT,
        severity TEXT, impact TEXT, cloud TEXT, tab TEXT, direction TEXT, party TEXT, section_id INTEGER,
        summary TEXT, version_id INTEGER, effective_after TEXT, used_by TEXT, own_prov INTEGER,
        detected_at TEXT, doc_date TEXT, doc_commit TEXT, page_url TEXT, commit_url TEXT"""
_SAME_PROV = " AND ".join(f"v.{vc} IS e.{ec}" for ec, vc in EVENT_PROVENANCE.items())


def _lean_events(db: sqlite_utils.Database) -> None:
    """Rebuild ``change_events`` in the v12 layout, keeping ids and the AUTOINCREMENT counter."""
    db.execute("INSERT OR IGNORE INTO sections (path) SELECT DISTINCT section FROM change_events WHERE section IS NOT NULL")
    db.execute(f"CREATE TABLE change_events_v12 (id INTEGER PRIMARY KEY AUTOINCREMENT, {_EVENT_COLUMNS})")
    prov = ", ".join(f"CASE WHEN same THEN NULL ELSE {c} END" for c in EVENT_PROVENANCE)
    db.execute(f"""INSERT INTO change_events_v12 (id, kind, rule_key, field, old, new, severity, impact, cloud,
        tab, direction, party, section_id, summary, version_id, effective_after, used_by, own_prov, {", ".join(EVENT_PROVENANCE)})
        SELECT id, kind, rule_key, field, old, new, severity, impact, cloud, tab, direction, party,
        section_id, summary, version_id, effective_after, used_by, CASE WHEN same THEN NULL ELSE 1 END, {prov}
        FROM (SELECT e.*, s.id AS section_id, v.id IS NOT NULL AND {_SAME_PROV} AS same FROM change_events e
              LEFT JOIN versions v ON v.id = e.version_id LEFT JOIN sections s ON s.path = e.section)""")
    seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'change_events'").fetchone()
    db.execute("DELETE FROM sqlite_sequence WHERE name = 'change_events_v12'")
    if seq:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('change_events_v12', ?)", seq)
    db.execute("DROP TABLE change_events")
    db.execute("ALTER TABLE change_events_v12 RENAME TO change_events")


_V12: list = [_lean_events]

# v13 (owner: the catalog): an event names its rule by id (``rule``) instead of repeating the
# rule's key, while that rule keeps the key; ``rule_key`` is stored only for events of no stored
# rule, or pinned (``Catalog._pin_event_keys``) before a rule is re-keyed or deleted.
_V13: list = [
    "ALTER TABLE change_events ADD COLUMN rule INTEGER",
    """UPDATE change_events SET rule = (SELECT r.id FROM rules r WHERE r.rule_key = change_events.rule_key
        AND r.source = coalesce(change_events.source, (SELECT v.source FROM versions v WHERE v.id = change_events.version_id)))
        WHERE rule_key IS NOT NULL""",
    "UPDATE change_events SET rule_key = NULL WHERE rule IS NOT NULL",
]

# v14 (owner: the catalog): a rule version's ``valid_from``/``valid_to`` are epoch seconds (≈5 B
# instead of 20, also in the ``(rule, valid_from)`` index and ``rule_ports.since``); the views
# and queries give ISO text back (:data:`ISO_TIME`). ``rule_versions`` is rebuilt, so the
# triggers that read it are re-made around the rebuild.
# Page size of a new catalog (bytes). SQLite's default 4 KiB costs a page for every table and
# index (≈40 of them, most small or empty: alert outbox, fetch log, service tags…) and a
# partly filled last page each; 2 KiB pages halve that fixed cost while history queries on a
# 1M-version catalog stay within their goal. An existing catalog takes it at its next
# :meth:`docwatch.catalog.Catalog.compact` (VACUUM), e.g. after a backfill or replay.
PAGE_SIZE = 1024
ISO_TIME = "strftime('%Y-%m-%dT%H:%M:%SZ', {}, 'unixepoch')"
_RV_TRIGGERS = ("rules_fts_ai", "rules_fts_au", "rules_fts_ad", "rule_ports_ai", "rule_ports_ad")


def _epoch_times(db: sqlite_utils.Database) -> None:
    for name in _RV_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'rule_versions'").fetchone()[0]
    cols = [c[1] for c in db.execute("PRAGMA table_info(rule_versions)")]
    new = re.sub(r"valid_from TEXT NOT NULL", "valid_from INTEGER NOT NULL", sql)
    new = re.sub(r"valid_to TEXT", "valid_to INTEGER", new).replace("rule_versions", "rule_versions_v14", 1)
    db.execute(new)
    sel = ", ".join(_EPOCH.format(f"[{c}]") if c in ("valid_from", "valid_to") else f"[{c}]" for c in cols)
    db.execute(f"INSERT INTO rule_versions_v14 ({', '.join(f'[{c}]' for c in cols)}) SELECT {sel} FROM rule_versions")
    db.execute("DROP TABLE rule_versions")
    db.execute("ALTER TABLE rule_versions_v14 RENAME TO rule_versions")


_V14: list = [
    _epoch_times,
    "CREATE INDEX rule_versions_rule ON rule_versions(rule, valid_from)",
    f"CREATE TRIGGER rules_fts_ai AFTER INSERT ON rules BEGIN {_FTS_ADD} END",
    f"CREATE TRIGGER rules_fts_au AFTER UPDATE OF current_rv ON rules BEGIN {_FTS_DROP} {_FTS_ADD} END",
    f"CREATE TRIGGER rules_fts_ad AFTER DELETE ON rules BEGIN {_FTS_DROP} END",
    f"""CREATE TRIGGER rule_ports_ai AFTER INSERT ON rule_versions WHEN new.tombstone = 0 BEGIN
        INSERT OR IGNORE INTO rule_ports SELECT {_PORT}, new.valid_from, new.id FROM json_each(new.ports) j;
    END""",
    f"""CREATE TRIGGER rule_ports_ad AFTER DELETE ON rule_versions WHEN old.tombstone = 0 BEGIN
        DELETE FROM rule_ports WHERE port IN (SELECT {_PORT} FROM json_each(old.ports) j)
            AND since = old.valid_from AND rule_version = old.id;
    END""",
]

# v15 (owner: the catalog): a rule names its source by ``sources.id`` (``source_id``, 1-2 B)
# instead of repeating the page name (≈27 B) in every rule row and again in the
# ``UNIQUE (source, rule_key)`` index; readers join ``sources`` back (the views give the same
# ``source`` column). ``rules`` is rebuilt (same ids, so ``rules_fts`` rowids and
# ``current_rv`` stay valid) and its triggers and indexes are re-made around the rebuild.
RULES_V15 = """CREATE TABLE rules (id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL, rule_key TEXT NOT NULL,
        endpoint TEXT, endpoint_rev TEXT, service_tag TEXT, current_rv INTEGER, UNIQUE (source_id, rule_key))"""


def _rules_by_source_id(db: sqlite_utils.Database) -> None:
    for name in ("rules_fts_ai", "rules_fts_au", "rules_fts_ad"):
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute("INSERT OR IGNORE INTO sources (name) SELECT DISTINCT source FROM rules")
    db.execute(RULES_V15.replace("CREATE TABLE rules", "CREATE TABLE rules_v15", 1))
    db.execute("""INSERT INTO rules_v15 (id, source_id, rule_key, endpoint, endpoint_rev, service_tag, current_rv)
        SELECT r.id, so.id, r.rule_key, r.endpoint, r.endpoint_rev, r.service_tag, r.current_rv
        FROM rules r JOIN sources so ON so.name = r.source""")
    db.execute("DROP TABLE rules")
    db.execute("ALTER TABLE rules_v15 RENAME TO rules")


_V15: list = [
    _rules_by_source_id,
    "CREATE INDEX rules_endpoint ON rules(lower(endpoint))",
    "CREATE INDEX rules_tag ON rules(lower(service_tag))",
    "CREATE INDEX rules_endpoint_rev ON rules(endpoint_rev)",
    f"CREATE TRIGGER rules_fts_ai AFTER INSERT ON rules BEGIN {_FTS_ADD} END",
    f"CREATE TRIGGER rules_fts_au AFTER UPDATE OF current_rv ON rules BEGIN {_FTS_DROP} {_FTS_ADD} END",
    f"CREATE TRIGGER rules_fts_ad AFTER DELETE ON rules BEGIN {_FTS_DROP} END",
]
# SQL for readers: the join that gives a rule ``r`` its source name (``so.name``).
RULE_SOURCE = "JOIN sources so ON so.id = r.source_id"

# v16 (owner: the catalog): an event of one rule points at the rule version it reports (``rv``) and
# keeps only what that version does not already say. ``derived`` is a bit set of the columns the
# ``changes`` view makes from the version (:data:`EVENT_DERIVED`): the facts an added/removed event
# copies (``old``/``new``, the rule's JSON as :func:`docwatch.diff.event_facts` writes it), its party,
# cloud, tab and direction, and its summary with the party and source written as char(1) and char(2).
# A column is only left out when the view's expression gives back exactly the stored value (checked
# in SQL by :func:`lean_events` as each event is written), so nothing is lost, odd values included.
def _json_str(key: str, col: str) -> str:
    return f"""CASE WHEN x.{col} <> '' THEN ',"{key}":' || json_quote(x.{col}) ELSE '' END"""  # json_quote(NULL) is 'null'


_FACTS_JSON = ("'{' || substr(" + " || ".join([
    _json_str("endpoint", "endpoint"), _json_str("service_tag", "service_tag"),
    """CASE WHEN x.ports IS NOT NULL AND x.ports <> '[]' THEN ',"ports":' || x.ports ELSE '' END""",
    _json_str("protocol", "protocol"), _json_str("direction", "direction"), _json_str("cloud", "cloud"),
    _json_str("tab", "tab"),
    """CASE x.required WHEN 1 THEN ',"required":true' WHEN 0 THEN ',"required":false' ELSE '' END""",
    _json_str("deadline", "deadline")]) + ", 2) || '}'")
_PARTY = "nullif(trim(coalesce(nullif(x.endpoint, ''), x.service_tag, '')), '')"
_EV_SOURCE = "CASE WHEN e.own_prov THEN e.source ELSE v.source END"
# column -> (bit, the view's expression over the event e, its rule version x, its version v);
# ``impact`` (migration 17) is what :mod:`docwatch.diff` names an added/removed rule or a field change
EVENT_DERIVED = {
    "old": (1, _FACTS_JSON), "new": (2, _FACTS_JSON), "party": (4, _PARTY), "cloud": (8, "x.cloud"),
    "tab": (16, "x.tab"), "direction": (32, "x.direction"),
    "summary": (64, f"replace(replace(e.summary, char(2), {_EV_SOURCE}), char(1), {{party}})"),
    "impact": (128, "CASE WHEN e.kind IN ('added', 'removed') THEN CASE WHEN x.endpoint <> '' THEN 'endpoint' ELSE 'tag' END "
                    "|| '-' || e.kind WHEN e.kind = 'modified' THEN replace(e.field, '_', '-') || '-changed' END"),
}


def _event_col(col: str) -> str:
    bit, expr = EVENT_DERIVED[col]
    if col == "summary":
        expr = expr.format(party=_event_col("party"))
    return f"CASE WHEN e.derived & {bit} THEN {expr} ELSE e.{col} END"


# the event's rule version x is the one holding the facts: a lean tombstone's ``facts_rv`` (migration 17)
_EVENT_X = "LEFT JOIN rule_versions x ON x.id = (SELECT coalesce(x0.facts_rv, x0.id) FROM rule_versions x0 WHERE x0.id = e.rv)"
_EVENT_FROM = f"""FROM change_events e LEFT JOIN versions v ON v.id = e.version_id {_EVENT_X}"""


def lean_events(conn: sqlite3.Connection, first_id: int = 0, *, table: str = "change_events", resolve: bool = True) -> None:
    """Leave out of the events from id ``first_id`` on what their rule version says (migrations
    16, 17): each column only where the ``changes`` view's expression gives the stored value back.
    ``table``: the events to lean (a staging copy, so rows are written once at their final size);
    ``resolve`` False for catalogs before migration 17 (no ``facts_rv`` yet: every row has its facts)."""
    frm = _EVENT_FROM.replace("FROM change_events e", f"FROM {table} e")
    if not resolve:
        frm = frm.replace(_EVENT_X, "LEFT JOIN rule_versions x ON x.id = e.rv")
    conn.execute(f"""UPDATE {table} SET rv = (SELECT x.id FROM rule_versions x WHERE x.rule = {table}.rule
        AND x.version_id = {table}.version_id ORDER BY x.id DESC LIMIT 1), derived = 0
        WHERE id >= ? AND rule IS NOT NULL AND version_id IS NOT NULL AND rv IS NULL""", (first_id,))
    for col in ("old", "new", "party", "cloud", "tab", "direction", "impact"):
        bit, expr = EVENT_DERIVED[col]
        conn.execute(f"""UPDATE {table} SET {col} = NULL, derived = derived | {bit}
            WHERE id IN (SELECT e.id {frm} WHERE e.id >= ? AND e.rv IS NOT NULL AND e.{col} IS NOT NULL
              AND e.derived & {bit} = 0 AND e.{col} IS ({expr}))""", (first_id,))
    party, source = _event_col("party"), _EV_SOURCE
    template = f"replace(replace(e.summary, {party}, char(1)), {source}, char(2))"
    rebuilt = f"replace(replace({template}, char(2), {source}), char(1), {party})"
    conn.execute(f"""UPDATE {table} SET summary = (SELECT {template} {frm} WHERE e.id = {table}.id),
        derived = derived | 64 WHERE id IN (SELECT e.id {frm} WHERE e.id >= ? AND e.rv IS NOT NULL
        AND e.derived & 64 = 0 AND {party} <> '' AND {source} <> '' AND {rebuilt} IS e.summary)""", (first_id,))


def pin_events(conn: sqlite3.Connection, rv_sql: str, params: tuple = ()) -> None:
    """Events derived from the rule versions ``rv_sql`` selects store their own text again,
    before those versions are deleted (``reparse``): the ``changes`` view reads the same."""
    cols = ", ".join(EVENT_DERIVED)
    conn.execute(f"""UPDATE change_events SET ({cols}) = (SELECT {cols} FROM changes c WHERE c.id = change_events.id),
        derived = 0, rv = NULL WHERE rv IN ({rv_sql})""", params)


_V16: list = [
    "ALTER TABLE change_events ADD COLUMN rv INTEGER",
    "ALTER TABLE change_events ADD COLUMN derived INTEGER",
    lambda db: lean_events(db.conn, resolve=False),
]

# v17 (owner: the catalog): no copies of what a rule's versions already hold.
# * A tombstone repeats the version it closes (the rule as it was last seen): it keeps its own
#   columns (rule, version, times) and ``facts_rv``, that version's id, instead of a second copy of
#   every fact (:data:`TOMBSTONE_COPIES`); readers take the facts from ``coalesce(facts_rv, id)``.
#   Only where every copied column equals the closed version's (checked in SQL, :func:`lean_tombstones`).
# * ``UNIQUE (source_id, rule_key)`` (an index holding every key a second time) becomes an index
#   on ``source_id`` and a trigger refusing a duplicate key.
# * An event's ``impact`` is derived like its other columns (bit 128 of ``derived``).
TOMBSTONE_COPIES = ("endpoint", "endpoint_kind", "service_tag", "src", "dst", "ports", "protocol", "direction", "cloud",
                    "tab", "required", "when", "purpose", "deadline", "deadline_text", "origin", "section_id", "tbl", "row")
# a rule version's facts: itself, or the version a lean tombstone repeats
_FACTS_OF = "SELECT {cols} FROM rule_versions x LEFT JOIN rule_versions f ON f.id = x.facts_rv WHERE x.id = {rv}"
_FTS_COLS17 = "coalesce(f.endpoint, x.endpoint), coalesce(f.service_tag, x.service_tag), coalesce(f.purpose, x.purpose)"
_FTS_ADD17 = ("INSERT INTO rules_fts (rowid, endpoint, service_tag, purpose) "
              + _FACTS_OF.format(cols=f"new.id, {_FTS_COLS17}", rv="new.current_rv") + ";")
_FTS_DROP17 = ("INSERT INTO rules_fts (rules_fts, rowid, endpoint, service_tag, purpose) "
               + _FACTS_OF.format(cols=f"'delete', old.id, {_FTS_COLS17}", rv="old.current_rv") + ";")
RULES_V17 = """CREATE TABLE rules (id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL, rule_key TEXT NOT NULL,
        endpoint TEXT, endpoint_rev TEXT, service_tag TEXT, current_rv INTEGER)"""
_KEY_TAKEN = ("EXISTS (SELECT 1 FROM rules k WHERE k.source_id = new.source_id AND k.rule_key = new.rule_key "
              "AND k.id IS NOT new.id)")
_KEY_CLASH = "SELECT RAISE(ABORT, 'UNIQUE constraint failed: rules.source_id, rules.rule_key');"


def lean_tombstones(conn: sqlite3.Connection, first_id: int = 0) -> None:
    """Tombstones from id ``first_id`` on that repeat the version they close keep only ``facts_rv``."""
    cols = [f"[{c}]" for c in TOMBSTONE_COPIES]
    conn.execute(f"""UPDATE rule_versions SET facts_rv = p.id, {', '.join(f'{c} = NULL' for c in cols)}
        FROM rule_versions p WHERE rule_versions.id >= ? AND rule_versions.tombstone <> 0 AND rule_versions.facts_rv IS NULL
          AND p.id = (SELECT max(q.id) FROM rule_versions q WHERE q.rule = rule_versions.rule AND q.id < rule_versions.id)
          AND p.tombstone = 0 AND p.facts_rv IS NULL AND {' AND '.join(f'p.{c} IS rule_versions.{c}' for c in cols)}""",
                 (first_id,))


def _lean_rules(db: sqlite_utils.Database) -> None:
    for name in ("rules_fts_ai", "rules_fts_au", "rules_fts_ad"):
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute(RULES_V17.replace("CREATE TABLE rules", "CREATE TABLE rules_v17", 1))
    db.execute("""INSERT INTO rules_v17 (id, source_id, rule_key, endpoint, endpoint_rev, service_tag, current_rv)
        SELECT id, source_id, rule_key, endpoint, endpoint_rev, service_tag, current_rv FROM rules""")
    db.execute("DROP TABLE rules")
    db.execute("ALTER TABLE rules_v17 RENAME TO rules")


_V17: list = [
    "ALTER TABLE rule_versions ADD COLUMN facts_rv INTEGER",
    _lean_rules,
    "CREATE INDEX rules_source_id ON rules(source_id)",
    "CREATE INDEX rules_endpoint ON rules(lower(endpoint))",
    "CREATE INDEX rules_tag ON rules(lower(service_tag))",
    "CREATE INDEX rules_endpoint_rev ON rules(endpoint_rev)",
    f"CREATE TRIGGER rules_key_ai BEFORE INSERT ON rules WHEN {_KEY_TAKEN} BEGIN {_KEY_CLASH} END",
    f"CREATE TRIGGER rules_key_au BEFORE UPDATE OF source_id, rule_key ON rules WHEN {_KEY_TAKEN} BEGIN {_KEY_CLASH} END",
    f"CREATE TRIGGER rules_fts_ai AFTER INSERT ON rules BEGIN {_FTS_ADD17} END",
    f"CREATE TRIGGER rules_fts_au AFTER UPDATE OF current_rv ON rules BEGIN {_FTS_DROP17} {_FTS_ADD17} END",
    f"CREATE TRIGGER rules_fts_ad AFTER DELETE ON rules BEGIN {_FTS_DROP17} END",
    lambda db: lean_tombstones(db.conn),
    lambda db: lean_events(db.conn),  # impact, derived from now on
]

MIGRATIONS: list[tuple[int, str, list[str | Callable[[sqlite_utils.Database], None]]]] = [
    (1, "initial schema", _V1),
    (2, "anomaly streaks + FTS on rules", [*_V2, _fts]),
    (3, "rules held by a ratio anomaly until confirmed", _V3),
    (4, "rule identity, origin, deadline, parser version, form and per-source version numbers", _V4),
    (5, "fetch cache, fetch log, source and daemon state", _V5),
    (6, "service tags: prefixes per tag, versioned", _V6),
    (7, "export endpoint sets with stable ids", _V7),
    (8, "deadlines and reminders", _V8),
    (9, "reversed endpoints for suffix globs", _V9),
    (10, "alert outbox", _V10),
    (11, "contentless full-text index, leaner rules, port index", _V11),
    (12, "change events point into sections and their document version", _V12),
    (13, "change events name their rule by id", _V13),
    (14, "rule version times as epoch seconds", _V14),
    (15, "rules name their source by id", _V15),
    (16, "change events keep only what their rule version does not say", _V16),
    (17, "lean tombstones, rules without a second copy of every key, derived impact", _V17),
]
SCHEMA_VERSION = max(v for v, _, _ in MIGRATIONS)

def _rv_columns(f: str) -> str:
    """A view's rule-version columns: facts from ``f`` (the row itself, or what a lean tombstone
    repeats), the row's own times and version from ``rv``."""
    return f"""
    so.name AS source, r.rule_key, {f}.endpoint, {f}.endpoint_kind, {f}.service_tag,
    {f}.src AS traffic_source, {f}.dst AS traffic_destination, {f}.ports, {f}.protocol,
    {f}.direction, {f}.cloud, {f}.tab, {f}.required, {f}."when", {f}.purpose, {f}.deadline, {f}.deadline_text,
    coalesce({f}.origin, 'table') AS origin, s.path AS section, {f}.tbl AS "table", {f}.row,
    {ISO_TIME.format("rv.valid_from")} AS valid_from,
    v.id AS version_id, v.seq AS version, v.snapshot_id, v.observed_at, v.doc_date, v.doc_commit, v.page_url"""


_PROV = {ec: f"CASE WHEN e.own_prov THEN e.{ec} ELSE v.{vc} END AS {ec}" for ec, vc in EVENT_PROVENANCE.items()}

VIEWS = {
    "current_rules": f"""SELECT {_rv_columns("rv")}
        FROM rules r {RULE_SOURCE} JOIN rule_versions rv ON rv.id = r.current_rv
        JOIN versions v ON v.id = rv.version_id LEFT JOIN sections s ON s.id = rv.section_id
        WHERE rv.tombstone = 0""",
    "rule_history": f"""SELECT {_rv_columns("f")}, {ISO_TIME.format("rv.valid_to")} AS valid_to, rv.tombstone, rv.id AS rule_version_id
        FROM rule_versions rv JOIN rule_versions f ON f.id = coalesce(rv.facts_rv, rv.id) JOIN rules r ON r.id = rv.rule
        {RULE_SOURCE} JOIN versions v ON v.id = rv.version_id LEFT JOIN sections s ON s.id = f.section_id""",
    # the consumer contract (README): one row per change event, provenance and section joined back
    "changes": f"""SELECT e.id, {_PROV["detected_at"]}, {_PROV["source"]}, {_event_col("cloud")} AS cloud, e.kind,
        coalesce(e.rule_key, r.rule_key) AS rule_key, {_event_col("party")} AS party, e.field,
        {_event_col("old")} AS old, {_event_col("new")} AS new, e.severity, {_event_col("impact")} AS impact, {_event_col("tab")} AS tab,
        {_event_col("direction")} AS direction, s.path AS section, {_event_col("summary")} AS summary,
        {_PROV["doc_date"]}, {_PROV["doc_commit"]}, {_PROV["page_url"]}, {_PROV["commit_url"]},
        e.version_id, e.effective_after, e.used_by
        {_EVENT_FROM} LEFT JOIN sections s ON s.id = e.section_id LEFT JOIN rules r ON r.id = e.rule""",
    # service tags (docwatch/catalog_tags.py)
    "service_tags": """SELECT t.cloud, t.name, t.tag_id, t.region, t.region_id, t.platform, t.system_service,
        t.network_features, t.change_number, t.prefix_count,
        (SELECT json_group_array(p.prefix) FROM tag_prefixes p WHERE p.tag = t.id AND p.v_to IS NULL) AS prefixes,
        fv.observed_at AS first_seen, lv.observed_at AS last_changed, t.last_changed_version AS version_id
        FROM tags t LEFT JOIN versions fv ON fv.id = t.first_version LEFT JOIN versions lv ON lv.id = t.last_changed_version
        WHERE t.removed_version IS NULL""",
    "service_tag_history": """SELECT t.cloud, t.name, p.prefix,
        CASE WHEN instr(p.prefix, ':') > 0 THEN 6 ELSE 4 END AS ip_version,
        vf.observed_at AS valid_from, vt.observed_at AS valid_to, p.v_from AS from_version_id,
        p.v_to AS to_version_id, ff.change_number AS from_change_number, ft.change_number AS to_change_number
        FROM tag_prefixes p JOIN tags t ON t.id = p.tag JOIN versions vf ON vf.id = p.v_from
        LEFT JOIN versions vt ON vt.id = p.v_to LEFT JOIN tag_files ff ON ff.version_id = p.v_from
        LEFT JOIN tag_files ft ON ft.version_id = p.v_to""",
    "service_tag_changes": """SELECT id, detected_at, source, cloud, kind, party AS tag, impact, severity, summary,
        old AS removed, new AS added, effective_after, used_by, doc_date AS file_date,
        doc_commit AS change_number, page_url AS url, version_id
        FROM changes WHERE source LIKE 'servicetags-%'""",
}


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def current_version(db: sqlite_utils.Database | sqlite3.Connection) -> int:
    """The applied schema version (0: not a catalog yet); plain SQL, so readers need no sqlite-utils."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone():
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return row[0] or 0


_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) (ADD|DROP) COLUMN (\w+)", re.I)


def _already_applied(db: sqlite_utils.Database, step: str) -> bool:
    """Makes ``ADD``/``DROP COLUMN`` steps idempotent: a migration interrupted after a step that
    commits (``enable_fts`` runs ``executescript``) is simply re-run on the next open."""
    m = _ADD_COLUMN.match(step.strip())
    return bool(m) and (m.group(3) in db[m.group(1)].columns_dict) == (m.group(2).upper() == "ADD")


def migrate(db: sqlite_utils.Database, target: int = SCHEMA_VERSION) -> int:
    """Apply missing migrations up to ``target``; the caller holds the write lock."""
    db.execute("""CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, note TEXT)""")
    have = current_version(db)
    if have < target:  # views of the old layout would break its ALTERs; create_views re-makes them
        drop_views(db)
    for version, note, steps in MIGRATIONS:
        if version <= have or version > target:
            continue
        log.info("catalog: migrating schema to version %d (%s)", version, note)
        for step in steps:
            if callable(step):
                step(db)
            elif not _already_applied(db, step):
                db.execute(step)
        if not db.conn.in_transaction:  # enable_fts uses executescript, which commits
            db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO schema_version (version, applied_at, note) VALUES (?, ?, ?)",
                   (version, now_iso(), note))
        have = version
    return have


def drop_views(db: sqlite_utils.Database) -> None:
    for name in VIEWS:
        db.execute(f"DROP VIEW IF EXISTS [{name}]")


def create_views(db: sqlite_utils.Database) -> None:
    drop_views(db)
    for name, sql in VIEWS.items():  # one space for each run of blanks: the schema keeps the text
        db.execute(f"CREATE VIEW [{name}] AS {' '.join(sql.split())}")
