"""The versioned rule catalog (SQLite: plain ``sqlite3`` for reads, sqlite-utils for writers).

Identity
    A rule is identified by ``(source, Rule.key)`` where ``Rule.key`` is
    ``cloud|tab|direction|protocol|party`` (party = endpoint, else service tag, case-folded;
    ``-`` for an empty part). The key leaves out everything cosmetic - heading text, row and
    column order, purpose wording - so a page rewrite that keeps the facts keeps the
    identities, and a change of ports/purpose/required is a new *version* of the same rule.
    A change of protocol or direction is a new identity (the old one gets a tombstone), but
    the diff reports it as one ``modified`` event.

Versions
    Each ingested document version is a row of ``versions``. A rule version (a row of
    ``rule_versions`` with ``valid_from``/``valid_to``) is written only when the rule's
    normalised facts change (provenance alone never makes a version); a rule that disappears
    gets a tombstone version. Identical bytes (same ``content_hash`` as the source's last
    version) are not stored again (status ``duplicate``); a cosmetically different document
    stores a ``versions`` row (status ``unchanged``) and nothing else.

Time order
    Versions of one source must be ingested in ``observed_at`` order: ingesting one older
    than the source's latest version is refused with a clear error (history is append-only,
    so ``valid_to`` of earlier versions never needs rewriting). Equal times are allowed.

Decisions
    The catalog decides nothing: :mod:`docwatch.pipeline` reads the last accepted state here,
    asks the pure guard (:mod:`docwatch.guard`) and the diff (:mod:`docwatch.diff`), and hands
    back the version row, the rule versions (with re-keys for rules paired across keys) and the
    events to persist. Version statuses: ``first``, ``changed``, ``unchanged``, ``confirmed``
    and ``accepted`` (their rules are current), ``anomaly`` (held aside, rules in
    ``held_rules``), ``form-switch`` (a fallback form, kept apart), ``duplicate`` is never stored.
    Each version carries its per-source number ``seq`` (1, 2, 3 … per source), the form it was
    read from and the parser version that extracted it.

Concurrency
    WAL mode: readers never block. Each write is one ``BEGIN IMMEDIATE`` transaction (a crash
    leaves the previous state); a second writer waits ``timeout`` seconds, then gets a
    :class:`CatalogError`.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from docwatch.catalog_schema import (EVENT_PROVENANCE, PAGE_SIZE, SCHEMA_VERSION, TOMBSTONE_COPIES, create_views,
                                     current_version, lean_events, migrate, now_iso, pin_events)
from docwatch.errors import CatalogError, UsageError

if TYPE_CHECKING:  # loaded where rows become rules/events: `query` reads plain rows only
    import sqlite_utils

    from docwatch.model import ChangeEvent, Rule

log = logging.getLogger(__name__)

_SOURCE_ID = "(SELECT id FROM sources WHERE name = ?)"  # a source name to the id its rules carry (schema 15)


@dataclass
class IngestResult:
    version_id: int | None
    status: str  # first | changed | unchanged | duplicate | anomaly
    events: list[ChangeEvent] = field(default_factory=list)
    reason: str | None = None


# Version statuses whose rules are the source's current rules.
ACCEPTED_STATUSES = ("first", "changed", "unchanged", "confirmed", "accepted")
_ACCEPTED_SQL = "(" + ", ".join(repr(s) for s in ACCEPTED_STATUSES) + ")"


def parse_time(value: str | datetime | date | None, *, end_of_day: bool = False, what: str = "time") -> str:
    """Any ISO date/datetime (naive = UTC) → canonical ``YYYY-MM-DDTHH:MM:SSZ``; ``None`` → now.

    A bare date means its start, or its end with ``end_of_day`` (as-of queries include the day).
    """
    if value is None:
        return now_iso()
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
        if end_of_day:
            dt = dt.replace(hour=23, minute=59, second=59)
    else:
        text = str(value).strip()
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise UsageError(f"bad {what} {text!r}: expected an ISO date like 2025-06-17 or 2025-06-17T08:00:00Z") from None
        if end_of_day and len(text) <= 10:
            dt = dt.replace(hour=23, minute=59, second=59)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(iso: str) -> int:
    """A canonical ISO time as the epoch seconds rule versions store (schema 14)."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int((dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp())  # naive = UTC, as SQLite reads it


def check_catalog_path(path: Path, *, must_exist: bool = False, origin: str = "") -> None:
    """A :class:`UsageError` when ``path`` cannot name a catalog file (a directory, a missing
    parent directory) or, with ``must_exist``, when no catalog was created there yet."""
    where = f" (from {origin})" if origin else ""
    if path.is_dir():
        raise UsageError(f"catalog {path}{where} is a directory, expected a SQLite file")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise UsageError(f"catalog {path}{where}: directory {parent} {what}")
    if must_exist and not path.exists():
        raise UsageError(f"no catalog at {path}{where} yet: run `docwatch run`, `docwatch scrape` "
                         "or `docwatch ingest` first")


def catalog_error(path: Path | str, exc: sqlite3.Error, timeout: float | None = None) -> CatalogError:
    """One clear :class:`CatalogError` (with the file) for any SQLite failure on the catalog."""
    msg = str(exc)
    low = msg.lower()
    if "locked" in low or "busy" in low:
        waited = f" (waited {timeout:g}s)" if timeout is not None else ""
        return CatalogError(f"{path}: catalog is locked by another writer{waited}; try again later")
    if "readonly" in low or "read-only" in low:
        return CatalogError(f"{path}: catalog is read-only (SQLite: {msg}); check the permissions "
                            "of the file and its directory")
    if "unable to open" in low:
        return CatalogError(f"{path}: cannot open catalog (SQLite: {msg}); check that the file and "
                            "its directory exist and are readable and writable")
    if "disk i/o" in low or "full" in low:
        return CatalogError(f"{path}: catalog storage failed (SQLite: {msg})")
    return CatalogError(f"{path}: not a usable docwatch catalog (SQLite: {msg}); restore it from a "
                        "backup or point --db at another file")


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def rule_from_row(row: dict[str, Any]) -> Rule:
    """A :class:`Rule` from a ``rule_versions`` row (or a view row using the same names)."""
    from docwatch.model import Rule

    req = row.get("required")
    return Rule(
        endpoint=row.get("endpoint"), endpoint_kind=row.get("endpoint_kind"), service_tag=row.get("service_tag"),
        source=row.get("src", row.get("traffic_source")), destination=row.get("dst", row.get("traffic_destination")),
        ports=_loads(row.get("ports")) or [], protocol=row.get("protocol"), direction=row.get("direction"),
        cloud=row.get("cloud"), tab=row.get("tab"), required=None if req is None else bool(req),
        when=row.get("when"), purpose=row.get("purpose"), deadline=row.get("deadline"),
        deadline_text=row.get("deadline_text"), origin=row.get("origin") or "table",
        section=_loads(row.get("section")) or [], table=row.get("tbl", row.get("table")), row=row.get("row"),
    )


def _view_names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}


class Catalog:
    """Open (creating or migrating as needed) the catalog at ``path``."""

    def __init__(self, path: str | Path, *, timeout: float = 10.0, create: bool = True):
        self.path = Path(path)
        self.timeout = timeout
        self.create = create
        check_catalog_path(self.path, must_exist=not create)
        new = create and (not self.path.exists() or self.path.stat().st_size == 0)
        try:
            conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise catalog_error(self.path, exc, timeout) from None
        self.conn = conn
        self._db: sqlite_utils.Database | None = None
        try:
            conn.execute("PRAGMA busy_timeout = %d" % int(timeout * 1000))
            conn.execute("PRAGMA recursive_triggers = on")  # as sqlite-utils sets it, whichever opens first
            if new:  # before the first page is written (WAL fixes it)
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            if create:
                conn.execute("PRAGMA journal_mode = wal")
                conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints, few flushes
            self._setup()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise catalog_error(self.path, exc, timeout) from None

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection, for writers and table helpers; imported on first
        use, so read commands (plain ``sqlite3`` through :meth:`_all`) never pay its plugin scan."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def _setup(self) -> None:
        have = current_version(self.conn)
        if have > SCHEMA_VERSION:
            self.conn.close()
            raise CatalogError(
                f"{self.path}: catalog schema version {have} is newer than this docwatch supports "
                f"({SCHEMA_VERSION}); upgrade docwatch")
        if have == SCHEMA_VERSION and all(v in _view_names(self.conn) for v in ("current_rules", "rule_history", "changes")):
            return
        if not self.create:  # readers never write: no schema creation, no migration
            self.conn.close()
            if have == 0:
                raise CatalogError(f"{self.path}: not a docwatch catalog (no schema); point --db at a catalog "
                                   "made by `docwatch run`, `scrape` or `ingest`")
            raise CatalogError(f"{self.path}: catalog schema version {have} needs migrating to {SCHEMA_VERSION}; "
                               "run a writing command (`docwatch scrape` or `ingest`) once")
        with self._write():
            migrate(self.db)
            create_views(self.db)

    def close(self) -> None:
        self.conn.close()

    def compact(self) -> None:
        """After a bulk load (backfill, replay): merge the full-text index's segments (dropping
        the entries of replaced rule versions), then ``VACUUM`` (indexes rebuilt full, no free
        pages), at :data:`PAGE_SIZE` when the catalog has another page size and no other
        connection is open (changing it needs the rollback journal for a moment). Results
        are unchanged; a busy catalog is simply left as it is."""
        try:
            with self._write():
                self.conn.execute("INSERT INTO rules_fts (rules_fts) VALUES ('optimize')")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            resize = self.conn.execute("PRAGMA page_size").fetchall()[0][0] != PAGE_SIZE
            if resize and self.conn.execute("PRAGMA journal_mode = delete").fetchall()[0][0] == "delete":
                try:
                    self.conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                    self.conn.execute("VACUUM")
                finally:
                    self.conn.execute("PRAGMA journal_mode = wal").fetchall()
                    with self._begin():  # SQLite 3.40 refuses a checkpoint of the new WAL until a first transaction
                        pass
            else:
                self.conn.execute("VACUUM")
        except (sqlite3.OperationalError, CatalogError) as exc:  # another writer or reader holds it
            log.info("catalog: not compacted (%s)", exc)

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------------

    def write(self):
        """One write transaction (``BEGIN IMMEDIATE``); nested uses join the outer one."""
        return self._write()

    @contextmanager
    def _write(self) -> Iterator[None]:
        if self.conn.in_transaction:  # already inside a write: join it
            yield
            return
        with self._begin():
            yield

    @contextmanager
    def _begin(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction; rolled back on any exception."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise catalog_error(self.path, exc, self.timeout) from None
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- reads -----------------------------------------------------------------------------

    def _one(self, sql: str, params: tuple | dict = ()) -> dict[str, Any] | None:
        cur = self.conn.execute(sql, params)
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row))

    def _all(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def source_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM sources ORDER BY name")]

    def require_source(self, source: str | None) -> None:
        """Raise a :class:`UsageError` naming the known sources when ``source`` is unknown."""
        if source is None:
            return
        names = self.source_names()
        if source not in names:
            known = ", ".join(names) or "none yet"
            raise UsageError(f"unknown source {source!r} (known sources: {known})")

    def last_version(self, source: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM versions WHERE source = ? ORDER BY id DESC LIMIT 1", (source,))

    def last_accepted_version(self, source: str) -> dict[str, Any] | None:
        return self._one(f"SELECT * FROM versions WHERE source = ? AND status IN {_ACCEPTED_SQL} "
                         "ORDER BY id DESC LIMIT 1", (source,))

    def versions_since(self, source: str, after_id: int, status: str | None = None) -> list[dict[str, Any]]:
        """Versions of ``source`` stored after version id ``after_id`` (optionally of one status)."""
        sql = "SELECT * FROM versions WHERE source = ? AND id > ?" + (" AND status = ?" if status else "") + " ORDER BY id"
        return self._all(sql, (source, after_id, status) if status else (source, after_id))

    def version_by_seq(self, source: str, seq: int) -> dict[str, Any] | None:
        """A version by its per-source number (1, 2, 3 … as users see it)."""
        return self._one("SELECT * FROM versions WHERE source = ? AND seq = ?", (source, seq))

    def source_row(self, source: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM sources WHERE name = ?", (source,))

    def versions(self, source: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM versions WHERE source = ? ORDER BY id", (source,))

    def last_content_hash(self, source: str) -> str | None:
        row = self.last_version(source)
        return row["content_hash"] if row else None

    def current_rules(self, source: str) -> list[Rule]:
        rows = self._all(
            f"""SELECT rv.*, s.path AS section FROM rules r JOIN rule_versions rv ON rv.id = r.current_rv
               LEFT JOIN sections s ON s.id = rv.section_id
               WHERE r.source_id = {_SOURCE_ID} AND rv.tombstone = 0 ORDER BY r.rule_key""", (source,))
        return [rule_from_row(r) for r in rows]

    def rules_as_of(self, source: str, at: str) -> list[Rule]:
        """The rules of ``source`` valid at ``at`` (canonical ISO time)."""
        rows = self._all(
            f"""SELECT rv.*, s.path AS section FROM rules r JOIN rule_versions rv ON rv.rule = r.id
               LEFT JOIN sections s ON s.id = rv.section_id
               WHERE r.source_id = {_SOURCE_ID} AND rv.valid_from <= ? AND (rv.valid_to IS NULL OR rv.valid_to > ?)
                 AND rv.tombstone = 0 ORDER BY r.rule_key""", (source, epoch(at), epoch(at)))
        return [rule_from_row(r) for r in rows]

    def rules_at_version(self, source: str, version_id: int) -> list[Rule]:
        """The rules in force right after document version ``version_id`` was ingested."""
        rows = self._all(
            f"""SELECT rv.*, s.path AS section FROM rules r
               JOIN rule_versions rv ON rv.id = (
                   SELECT x.id FROM rule_versions x WHERE x.rule = r.id AND x.version_id <= ?
                   ORDER BY x.version_id DESC, x.id DESC LIMIT 1)
               LEFT JOIN sections s ON s.id = rv.section_id
               WHERE r.source_id = {_SOURCE_ID} AND rv.tombstone = 0 ORDER BY r.rule_key""", (version_id, source))
        return [rule_from_row(r) for r in rows]

    def events(self, *, source: str | None = None, since: str | None = None, version_id: int | None = None,
               kind: str | None = None, cloud: str | None = None, min_severity: int | None = None,
               limit: int | None = None) -> list[ChangeEvent]:
        """Stored change events, oldest first (``limit``: the newest N). ``cloud`` keeps
        cloud-neutral events; ``min_severity`` indexes ``info, low, medium, high``."""
        where, params = [], []
        if source:
            where.append("source = ?"); params.append(source)
        if since:
            where.append("detected_at >= ?"); params.append(since)
        if version_id is not None:
            where.append("version_id = ?"); params.append(version_id)
        if kind:
            where.append("kind = ?"); params.append(kind)
        if cloud:
            where.append("(cloud = ? OR cloud IS NULL)"); params.append(cloud)
        if min_severity:
            levels = ("info", "low", "medium", "high")[min_severity:]
            where.append(f"severity IN ({', '.join('?' for _ in levels)})"); params.extend(levels)
        sql = "SELECT * FROM changes" + (" WHERE " + " AND ".join(where) if where else "")
        if limit:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {int(limit)})"
        return [event_from_row(r) for r in self._all(sql + " ORDER BY id", tuple(params))]

    def last_event_id(self) -> int:
        """The newest change event's id (0 for none): a mark to show "what this run found"."""
        return self.conn.execute("SELECT coalesce(max(id), 0) FROM change_events").fetchone()[0]

    def rule_counts(self) -> list[tuple[str, str | None, str | None, int]]:
        """Current rules per (source, cloud, direction)."""
        return [tuple(r) for r in self.conn.execute(
            "SELECT source, cloud, direction, count(*) FROM current_rules GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")]

    def events_after(self, event_id: int) -> list[ChangeEvent]:
        """Events stored after ``event_id``, oldest first."""
        return [event_from_row(r) for r in self._all("SELECT * FROM changes WHERE id > ? ORDER BY id", (event_id,))]

    # -- writes ----------------------------------------------------------------------------

    def _source_row(self, source: str, at: str, page_url: str | None) -> dict[str, Any]:
        row = self._one("SELECT * FROM sources WHERE name = ?", (source,))
        if row is None:
            self.conn.execute("INSERT INTO sources (name, page_url, first_seen, last_checked) VALUES (?, ?, ?, ?)",
                            (source, page_url, at, at))
            row = self._one("SELECT * FROM sources WHERE name = ?", (source,))
        else:
            self.conn.execute("UPDATE sources SET last_checked = ?, page_url = coalesce(?, page_url) WHERE id = ?",
                            (at, page_url, row["id"]))
        return row

    def _insert_events(self, events: list[ChangeEvent]) -> None:
        """Store events lean (migrations 12, 13, 16, 17): the rule (and its version) by id, the section as a ``sections`` id,
        source and provenance only when they differ from the event's document version's (the
        ``changes`` view joins them back). They are leaned in a TEMP staging copy and then written
        once at their final size: shrinking stored rows would leave every page they sit on part-empty."""
        if not events:
            return
        cols = ("kind", "field", "old", "new", "severity", "impact", "cloud", "tab",
                "direction", "party", "summary", "version_id", "effective_after", "used_by")
        self._stage_events()
        sql = (f"INSERT INTO temp.events_stage (id, {', '.join(cols)}, rule, rule_key, section_id, own_prov, "
               f"{', '.join(EVENT_PROVENANCE)}) VALUES ({', '.join('?' for _ in range(len(cols) + 5 + len(EVENT_PROVENANCE)))})")
        sections: dict[str, int] = {}
        versions: dict[int, tuple | None] = {}
        rule_ids: dict[str, dict[str, int]] = {}
        next_id = self.conn.execute("""SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'change_events'), 0),
            coalesce((SELECT max(id) FROM change_events), 0)) + 1""").fetchone()[0]  # what AUTOINCREMENT would give
        for ev in events:
            row = [next_id, *(_dumps(getattr(ev, c)) if c in ("old", "new", "used_by") else getattr(ev, c) for c in cols)]
            if ev.rule_key is not None and ev.source not in rule_ids:
                rule_ids[ev.source] = dict(self.conn.execute(
                    f"SELECT rule_key, id FROM rules WHERE source_id = {_SOURCE_ID}", (ev.source,)).fetchall())
            rule = None if ev.rule_key is None else rule_ids[ev.source].get(ev.rule_key)
            row += [rule, None] if rule else [None, ev.rule_key]
            section = _dumps(None if ev.section is None else list(ev.section))
            row.append(None if section is None else self._section_text_id(section, sections))
            prov = tuple(getattr(ev, c) for c in EVENT_PROVENANCE)
            if ev.version_id is not None and ev.version_id not in versions:
                versions[ev.version_id] = self.conn.execute(
                    f"SELECT {', '.join(EVENT_PROVENANCE.values())} FROM versions WHERE id = ?", (ev.version_id,)).fetchone()
            same = ev.version_id is not None and versions[ev.version_id] == prov
            row += [None, *(None for _ in prov)] if same else [1, *prov]
            self.conn.execute(sql, row)
            ev.id, next_id = next_id, next_id + 1
        lean_events(self.conn, table="temp.events_stage")  # what the event's rule version already says goes
        self.conn.execute("INSERT INTO change_events SELECT * FROM temp.events_stage ORDER BY id")
        self.conn.execute("DELETE FROM temp.events_stage")

    def _stage_events(self) -> None:
        """The TEMP table events are leaned in: change_events' columns, made once per connection."""
        if not getattr(self, "_staged", False):
            self.conn.execute("DROP TABLE IF EXISTS temp.events_stage")
            self.conn.execute("CREATE TEMP TABLE events_stage AS SELECT * FROM main.change_events WHERE 0")
            self._staged = True

    def _anomaly_event(self, src: dict[str, Any], source: str, reason: str, at: str, **ctx: Any) -> ChangeEvent | None:
        """One anomaly event per streak; later anomalies of the same streak are silent."""
        if src.get("anomaly_since"):
            return None
        self.conn.execute("UPDATE sources SET anomaly_since = ?, anomaly_reason = ? WHERE id = ?", (at, reason, src["id"]))
        from docwatch.model import ChangeEvent

        ev = ChangeEvent(source=source, kind="anomaly", severity="high", impact="anomaly", detected_at=at,
                         summary=f"{source}: {reason}; no removals inferred, current rules kept", **ctx)
        self._insert_events([ev])
        return ev

    def record_anomaly(self, source: str, reason: str, *, observed_at: str | datetime | None = None,
                       page_url: str | None = None) -> ChangeEvent | None:
        """A failed or suspicious fetch: one ``anomaly`` event per streak, nothing else changes."""
        at = parse_time(observed_at, what="observed_at")
        with self._write():
            src = self._source_row(source, at, page_url)
            return self._anomaly_event(src, source, reason, at, page_url=page_url)

    def add_version(self, source: str, at: str, *, status: str, content_hash: str | None = None,
                    snapshot_id: str | None = None, meta: dict[str, Any] | None = None, page_url: str | None = None,
                    commit_url: str | None = None, table_count: int = 0, rule_count: int = 0,
                    reason: str | None = None, kind: str | None = None, held: list[Rule] | None = None,
                    form: str | None = None, parser_version: str | None = None,
                    missing_includes: list[str] | None = None) -> dict[str, Any]:
        """Insert one document version (numbered per source) and return its row."""
        meta = meta or {}
        seq = (self.conn.execute("SELECT coalesce(max(seq), 0) FROM versions WHERE source = ?", (source,)).fetchone()[0]) + 1
        vid = self.conn.execute(
            """INSERT INTO versions (source, observed_at, content_hash, snapshot_id, doc_date, doc_commit, page_url,
               source_url, table_count, rule_count, status, reason, held_rules, seq, form, parser_version, kind,
               commit_url, missing_includes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (source, at, content_hash, snapshot_id, meta.get("doc_date"), meta.get("doc_commit"), page_url,
             meta.get("source_url"), table_count, rule_count, status, reason,
             None if held is None else _dumps([r.to_dict() for r in held]), seq, form, parser_version, kind,
             commit_url, _dumps(missing_includes) if missing_includes else None)).lastrowid
        return self._one("SELECT * FROM versions WHERE id = ?", (vid,))

    def set_version(self, vid: int, **values: Any) -> None:
        """Update columns of a stored version (status after the diff, held rules cleared …). Its
        provenance stays as stored: change events read theirs from it (migration 12)."""
        if set(values) & set(EVENT_PROVENANCE.values()):
            raise ValueError(f"a version's provenance is never rewritten: {sorted(values)}")
        if "held_rules" in values and isinstance(values["held_rules"], list):
            values["held_rules"] = _dumps([r.to_dict() for r in values["held_rules"]])
        cols = ", ".join(f"{k} = ?" for k in values)
        self.conn.execute(f"UPDATE versions SET {cols} WHERE id = ?", (*values.values(), vid))

    @staticmethod
    def held_rules(version: dict[str, Any]) -> list[Rule] | None:
        held = _loads(version.get("held_rules"))
        if held is None:
            return None
        from docwatch.model import Rule

        return [Rule.from_dict(d) for d in held]

    def touch_source(self, source: str, at: str, page_url: str | None) -> dict[str, Any]:
        return self._source_row(source, at, page_url)

    def set_streak(self, source: str, *, since: str | None, reason: str | None, seen: str | None = None) -> None:
        """Start (``since``) or end (``None``) the source's anomaly streak."""
        self.conn.execute("UPDATE sources SET anomaly_since = ?, anomaly_reason = ?, last_seen = coalesce(?, last_seen) "
                        "WHERE name = ?", (since, reason, seen, source))

    def add_events(self, events: list[ChangeEvent]) -> None:
        """Persist change events (the outbox reads them from here)."""
        self._insert_events(events)

    def apply_rules(self, source: str, vid: int, at: str, current: list[Rule], rules: list[Rule],
                    rekeys: dict[str, str] | None = None) -> None:
        """Persist the step ``current`` → ``rules`` at version ``vid``: rules paired across storage
        keys keep their row (re-keyed), changed facts get a new version, vanished rules a tombstone."""
        cur = {r.key: r for r in current}
        keys = {k for pair in (rekeys or {}).items() for k in pair}
        if keys:  # re-keyed rules (and a clash's retired one) change rule_key: events keep theirs
            self._pin_event_keys(f"SELECT id FROM rules WHERE source_id = {_SOURCE_ID} AND rule_key IN ({', '.join('?' for _ in keys)})",
                                 (source, *keys))
        for old_key, new_key in (rekeys or {}).items():
            if old_key == new_key or old_key not in cur:
                continue
            self._rekey(source, old_key, new_key)
            cur[new_key] = cur.pop(old_key)
        self._write_rules(source, vid, at, cur, rules)

    def _rekey(self, source: str, old_key: str, new_key: str) -> None:
        clash = self.conn.execute(f"SELECT id FROM rules WHERE source_id = {_SOURCE_ID} AND rule_key = ?",
                                  (source, new_key)).fetchone()
        if clash:  # a long-gone rule once had this key: keep its history under a retired key
            self.conn.execute("UPDATE rules SET rule_key = rule_key || '#' || id WHERE id = ?", (clash[0],))
        self.conn.execute(f"UPDATE rules SET rule_key = ? WHERE source_id = {_SOURCE_ID} AND rule_key = ?",
                          (new_key, source, old_key))

    def drop_rule_history(self, source: str) -> None:
        """Forget every rule version of ``source`` (``reparse`` rebuilds them from the snapshots).
        Rules go first: their full-text trigger reads the text of their current version."""
        self._pin_event_keys(f"SELECT id FROM rules WHERE source_id = {_SOURCE_ID}", (source,))
        pin_events(self.conn, f"SELECT x.id FROM rule_versions x JOIN rules r ON r.id = x.rule WHERE r.source_id = {_SOURCE_ID}",
                   (source,))  # events made from these versions keep their text (migration 16)
        ids = [(i,) for i, in self.conn.execute(f"SELECT id FROM rules WHERE source_id = {_SOURCE_ID}", (source,))]
        self.conn.execute(f"DELETE FROM rules WHERE source_id = {_SOURCE_ID}", (source,))
        self.conn.executemany("DELETE FROM rule_versions WHERE rule = ?", ids)

    def _pin_event_keys(self, rules_sql: str, params: tuple) -> None:
        """Events that name one of these rules by id store its current key, before it changes."""
        self.conn.execute(f"""UPDATE change_events SET rule_key = (SELECT r.rule_key FROM rules r WHERE r.id = change_events.rule)
            WHERE rule_key IS NULL AND rule IN ({rules_sql})""", params)

    def _source_id(self, source: str) -> int:
        """The ``sources`` id a rule of ``source`` carries (schema 15); the row is made if missing."""
        row = self.conn.execute("SELECT id FROM sources WHERE name = ?", (source,)).fetchone()
        if row is None:
            return self.conn.execute("INSERT INTO sources (name) VALUES (?)", (source,)).lastrowid
        return row[0]

    def _section_id(self, path: list[str], cache: dict[str, int]) -> int | None:
        return self._section_text_id(_dumps(list(path)), cache) if path else None

    def _section_text_id(self, text: str, cache: dict[str, int]) -> int:
        """The ``sections`` id of a heading path's JSON text (added when new)."""
        if text not in cache:
            self.conn.execute("INSERT OR IGNORE INTO sections (path) VALUES (?)", (text,))
            cache[text] = self.conn.execute("SELECT id FROM sections WHERE path = ?", (text,)).fetchone()[0]
        return cache[text]

    def _write_rules(self, source: str, vid: int, at: str, current: dict[str, Rule], rules: list[Rule]) -> None:
        """New rule versions for changed facts, tombstones for vanished rules."""
        from docwatch.diff import facts_equal

        new = {r.key: r for r in rules}
        sections: dict[str, int] = {}
        sid = self._source_id(source)
        ids = {k: i for k, i in self.conn.execute("SELECT rule_key, id FROM rules WHERE source_id = ?", (sid,))}
        for key, rule in new.items():
            old = current.get(key)
            if old is not None and facts_equal(old, rule):
                continue
            rid = ids.get(key)
            if rid is None:
                rid = self.conn.execute("INSERT INTO rules (source_id, rule_key) VALUES (?, ?)", (sid, key)).lastrowid
            self._add_version(rid, vid, at, rule, tombstone=False, sections=sections)
        for key in sorted(current.keys() - new.keys()):  # sorted: the same ids on every run
            self._add_version(ids[key], vid, at, current[key], tombstone=True, sections=sections)

    def _add_version(self, rid: int, vid: int, at: str, rule: Rule, *, tombstone: bool, sections: dict[str, int]) -> None:
        since = epoch(at)
        self.conn.execute("UPDATE rule_versions SET valid_to = ? WHERE rule = ? AND valid_to IS NULL", (since, rid))
        facts = (rule.endpoint, rule.endpoint_kind, rule.service_tag, rule.source,
                 rule.destination, _dumps(list(rule.ports or [])), rule.protocol, rule.direction, rule.cloud,
                 rule.tab, None if rule.required is None else int(rule.required), rule.when, rule.purpose,
                 rule.deadline, rule.deadline_text, None if rule.origin == "table" else rule.origin,
                 self._section_id(rule.section, sections), rule.table, rule.row)
        facts_rv = None
        if tombstone:  # the rule as last seen: point at that version instead of copying it (migration 17)
            prev = self.conn.execute(f"""SELECT p.id, {', '.join(f'p.[{c}]' for c in TOMBSTONE_COPIES)} FROM rules r
                JOIN rule_versions p ON p.id = r.current_rv WHERE r.id = ? AND p.tombstone = 0 AND p.facts_rv IS NULL""",
                                     (rid,)).fetchone()
            if prev is not None and tuple(prev[1:]) == facts:
                facts_rv, facts = prev[0], tuple(None for _ in facts)
        values = (rid, vid, since, int(tombstone), *facts, facts_rv)
        rvid = self.conn.execute(
            f"""INSERT INTO rule_versions (rule, version_id, valid_from, tombstone, {', '.join(f'[{c}]' for c in TOMBSTONE_COPIES)},
                facts_rv) VALUES ({', '.join('?' for _ in values)})""", values).lastrowid
        self.conn.execute(  # the full-text index follows current_rv (trigger rules_fts_au)
            "UPDATE rules SET current_rv = ?, endpoint = ?, endpoint_rev = ?, service_tag = ? WHERE id = ?",
            (rvid, rule.endpoint, rule.endpoint.lower()[::-1] if rule.endpoint else None, rule.service_tag, rid))


def event_from_row(row: dict[str, Any]) -> ChangeEvent:
    from docwatch.model import ChangeEvent

    d = {k: row.get(k) for k in ChangeEvent.__dataclass_fields__}
    for k in ("old", "new", "used_by"):
        d[k] = _loads(d[k])
    d["section"] = _loads(d["section"]) or []
    return ChangeEvent(**d)
