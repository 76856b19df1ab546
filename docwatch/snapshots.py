"""Content-addressed snapshot store for raw fetched bytes, and the recorded-snapshot manifest.

Objects live at ``<root>/objects/<sha[:2]>/<sha>.gz``: the key is the sha256 of the raw
bytes, so identical content is stored once. Writes are atomic (temp file, fsync,
``os.replace``) so a crash never leaves half an object; reads re-hash and refuse a
corrupt object (:class:`CorruptSnapshot`) rather than trusting it, and ``put`` verifies an
object that already exists and rewrites it when it does not match (a corrupt object is
repaired by the next fetch of the same bytes instead of warning every cycle).

Retention: bodies kept as evidence of a suspicious fetch are capped per source
(:func:`prune_suspicious`, the newest ``keep_suspicious``), and :func:`collect_garbage`
(``docwatch gc``) removes objects no catalog row refers to.

Recorded snapshots (shipped in the repo for offline replay) are the same kind of store
rooted at ``snapshots/recorded`` plus ``snapshots/recorded.json`` listing, per snapshot:
source, url, observed_at, content_type, sha256 and object path (relative to the manifest).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from docwatch.errors import DocwatchError, UsageError

log = logging.getLogger(__name__)

MANIFEST = "recorded.json"
RECORDED_DIR = "recorded"


class CorruptSnapshot(DocwatchError):
    """A stored object does not hash to its name (or cannot be decompressed)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SnapshotStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        return self.root / "objects" / digest[:2] / f"{digest}.gz"

    def has(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and return its sha256."""
        digest = sha256(data)
        target = self.path_for(digest)
        if target.is_file():
            try:
                _read_verified(target, digest, "snapshot")
                return digest
            except CorruptSnapshot as exc:
                log.warning("%s; rewriting it from the bytes just fetched", exc)
        target.parent.mkdir(parents=True, exist_ok=True)
        # mtime=0: the same bytes always compress to the same object file
        blob = gzip.compress(data, compresslevel=6, mtime=0)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(target.parent)
        return digest

    def get(self, digest: str) -> bytes:
        """The bytes stored under ``digest``; verified, else :class:`CorruptSnapshot`."""
        return _read_verified(self.path_for(digest), digest, "snapshot")

    def digests(self) -> dict[str, Path]:
        """Every stored object (digest → file); temp files of interrupted writes excluded."""
        out: dict[str, Path] = {}
        objects = self.root / "objects"
        if objects.is_dir():
            for p in objects.glob("??/*.gz"):
                out[p.name[:-3]] = p
        return out

    def remove(self, digest: str) -> int:
        """Delete one object; returns the bytes freed (0 when it was not there)."""
        p = self.path_for(digest)
        try:
            size = p.stat().st_size
            p.unlink()
        except FileNotFoundError:
            return 0
        return size


# -- retention and garbage collection ----------------------------------------------------------

_REF_COLUMNS = ("sha256", "snapshot_id")  # catalog columns that name a snapshot object


def _rows(db, sql: str, params=()) -> list[tuple]:
    return list(db.execute(sql, list(params)).fetchall())


def referenced_digests(db, keep_suspicious: int, store: "SnapshotStore | None" = None) -> set[str]:
    """Digests some catalog row still needs: any ``sha256`` / ``snapshot_id`` column of any
    table (versions, HTTP cache, fetch log, tag caches - new tables count automatically),
    except that suspicious fetch-log rows only count for the newest ``keep_suspicious`` per source."""
    refs: set[str] = set()
    for table in db.table_names():
        cols = [c for c in db[table].columns_dict if c in _REF_COLUMNS or c.endswith("_sha256")]
        for col in cols:
            where = ""
            if table == "fetch_log" and "status" in db[table].columns_dict:
                where = " and status != 'suspicious'"
            refs.update(r[0] for r in _rows(db, f'select distinct "{col}" from "{table}" where "{col}" is not null{where}'))
    if "fetch_log" in db.table_names():
        refs.update(_kept_suspicious(db, keep_suspicious))
    return refs | (_bundle_parts(db, refs, store) if store is not None else set())


def _bundle_parts(db, refs: set[str], store: "SnapshotStore") -> set[str]:
    """Objects a stored version's bundle manifest names (its page and includes): a version's
    ``snapshot_id`` is a manifest (see :func:`docwatch.pipeline.store_bundle`), and ``reparse``
    needs every part it lists."""
    from docwatch.pipeline import bundle_parts

    if "versions" not in db.table_names():
        return set()
    ids = {r[0] for r in _rows(db, "select distinct snapshot_id from versions where snapshot_id is not null")}
    return bundle_parts(ids & refs, store)


def _kept_suspicious(db, keep: int, source: str | None = None) -> set[str]:
    """The newest ``keep`` distinct suspicious bodies of each source (or of ``source``)."""
    where, params = ["status = 'suspicious'", "sha256 is not null"], []
    if source is not None:
        where.append("source = ?")
        params.append(source)
    kept: dict[str, list[str]] = {}
    for src, digest in _rows(db, f"select source, sha256 from fetch_log where {' and '.join(where)} "
                                 "order by id desc", params):
        mine = kept.setdefault(src, [])
        if digest not in mine and len(mine) < keep:
            mine.append(digest)
    return {d for ds in kept.values() for d in ds}


def prune_suspicious(db, store: SnapshotStore, source: str, keep: int) -> list[str]:
    """Delete ``source``'s suspicious bodies beyond the newest ``keep`` (unless some other row
    still refers to them). Call after recording a suspicious fetch. Returns the digests removed."""
    if "fetch_log" not in db.table_names():
        return []
    old = {r[0] for r in _rows(db, "select distinct sha256 from fetch_log where status = 'suspicious' "
                                   "and source = ? and sha256 is not null", [source])}
    drop = old - _kept_suspicious(db, keep, source)
    if not drop:
        return []
    drop -= referenced_digests(db, keep)
    removed = [d for d in sorted(drop) if store.remove(d)]
    if removed:
        log.info("%s: removed %d old suspicious bodies (keeping the newest %d)", source, len(removed), keep)
    return removed


@dataclass
class GcReport:
    """What ``docwatch gc`` found and did."""

    objects: int = 0  # objects in the store before
    referenced: int = 0  # of them, still referenced
    removed: list[str] = field(default_factory=list)  # digests removed (or, dry run, to remove)
    young: int = 0  # unreferenced but newer than min_age: left for a running cycle to record
    bytes_freed: int = 0
    temp_files: int = 0  # leftovers of interrupted writes removed
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "removed": len(self.removed)}

    def __str__(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (f"{self.objects} objects, {self.referenced} referenced; {verb} {len(self.removed)} "
                f"({self.bytes_freed / 1e6:.1f} MB), {self.young} too recent to judge, "
                f"{self.temp_files} temp files")


def collect_garbage(db, store: SnapshotStore, *, keep_suspicious: int, min_age_seconds: float = 3600.0,
                    dry_run: bool = False) -> GcReport:
    """Remove objects no catalog row refers to. Objects younger than ``min_age_seconds`` are
    kept: a cycle stores the bytes before it records the fetch, so a fresh object may be
    about to be referenced."""
    report = GcReport(dry_run=dry_run)
    refs = referenced_digests(db, keep_suspicious, store)
    now = time.time()
    objects = store.digests()
    report.objects = len(objects)
    for digest, path in sorted(objects.items()):
        if digest in refs:
            report.referenced += 1
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if now - st.st_mtime < min_age_seconds:
            report.young += 1
            continue
        report.removed.append(digest)
        report.bytes_freed += st.st_size
        if not dry_run:
            store.remove(digest)
    objects_dir = store.root / "objects"
    if objects_dir.is_dir():
        for tmp in objects_dir.glob("??/.tmp-*"):
            try:
                if now - tmp.stat().st_mtime >= min_age_seconds:
                    report.temp_files += 1
                    if not dry_run:
                        tmp.unlink()
            except FileNotFoundError:
                pass
    return report


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- recorded snapshots (offline replay) -------------------------------------------------------

@dataclass
class Recorded:
    """One recorded fetch: what was fetched, when, and which object holds the bytes."""

    source: str
    url: str
    observed_at: str
    content_type: str
    sha256: str
    object: str  # path relative to the manifest's directory
    form: str = "markdown"  # markdown | html | text
    page_url: str | None = None  # the Learn page the source watches (url may be its raw markdown)
    note: str | None = None


def load_manifest(snap_dir: str | Path) -> list[Recorded]:
    """Recorded snapshots of ``snap_dir`` in observed_at order (ties keep manifest order).

    A missing or malformed manifest is bad input (:class:`UsageError`) naming what is wrong."""
    path = Path(snap_dir) / MANIFEST
    if not path.is_file():
        raise UsageError(f"no recorded snapshots: {path} not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    entries = raw.get("snapshots", raw) if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        raise UsageError(f"{path}: expected a list of snapshots")
    known = {f.name for f in fields(Recorded)}
    required = {f.name for f in fields(Recorded) if f.default is MISSING}
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise UsageError(f"{path}: snapshot #{i} is not an object")
        problems = [f"missing {', '.join(sorted(required - e.keys()))}" if required - e.keys() else "",
                    f"unknown {', '.join(sorted(e.keys() - known))}" if e.keys() - known else ""]
        if any(problems):
            raise UsageError(f"{path}: snapshot #{i}: " + "; ".join(p for p in problems if p))
        out.append(Recorded(**e))
    return sorted(out, key=lambda r: _instant(r.observed_at, path))


def _instant(value: str, path: Path) -> datetime:
    """observed_at as an aware datetime, so "2025-01-15" and "…T08:00:00Z" sort together."""
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        raise UsageError(f"{path}: observed_at {value!r} is not an ISO date or time") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def read_recorded(snap_dir: str | Path, rec: Recorded) -> bytes:
    """Bytes of a recorded snapshot, verified against its sha256."""
    return _read_verified(Path(snap_dir) / rec.object, rec.sha256, "recorded snapshot")


def _read_verified(path: Path, digest: str, what: str) -> bytes:
    """Gunzip ``path`` and check the bytes against ``digest``, else :class:`CorruptSnapshot`."""
    try:
        data = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise CorruptSnapshot(f"{what} {digest[:12]} is missing ({path})") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CorruptSnapshot(f"{what} {digest[:12]} cannot be read ({path}): {exc}") from None
    if sha256(data) != digest:
        raise CorruptSnapshot(f"{what} {digest[:12]} is corrupt: content does not match its hash ({path})")
    return data


def record(snap_dir: str | Path, rec_fields: dict, data: bytes) -> Recorded:
    """Add ``data`` to the recorded store of ``snap_dir`` and its manifest (used to build it)."""
    snap_dir = Path(snap_dir)
    store = SnapshotStore(snap_dir / RECORDED_DIR)
    digest = store.put(data)
    rec = Recorded(sha256=digest, object=str(store.path_for(digest).relative_to(snap_dir)), **rec_fields)
    path = snap_dir / MANIFEST
    entries = json.loads(path.read_text())["snapshots"] if path.is_file() else []
    entries = [e for e in entries if not (e["source"] == rec.source and e["sha256"] == digest
                                          and e["observed_at"] == rec.observed_at)]
    entries.append(asdict(rec))
    entries.sort(key=lambda e: e["observed_at"])
    path.write_text(json.dumps({"snapshots": entries}, indent=2) + "\n")
    return rec
