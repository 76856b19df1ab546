"""Content-addressed snapshot store for raw fetched bytes, and the recorded-snapshot manifest.

Objects live at ``<root>/objects/<sha[:2]>/<sha>.gz``: the key is the sha256 of the raw
bytes, so identical content is stored once. Writes are atomic (temp file, fsync,
``os.replace``) so a crash never leaves half an object; reads re-hash and refuse a
corrupt object (:class:`CorruptSnapshot`) rather than trusting it.

Recorded snapshots (shipped in the repo for offline replay) are the same kind of store
rooted at ``snapshots/recorded`` plus ``snapshots/recorded.json`` listing, per snapshot:
source, url, observed_at, content_type, sha256 and object path (relative to the manifest).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from docwatch.errors import DocwatchError, UsageError

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
            return digest
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
