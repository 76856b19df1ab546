"""Helpers for the catalog tests: the real parse → normalize pipeline on local files."""
from __future__ import annotations

import hashlib
from pathlib import Path

from docwatch.documents import load_local
from docwatch.normalize import normalize

HERE = Path(__file__).resolve().parent


def load(path: Path):
    """(doc, rules, content_hash) through the real pipeline (``load_local`` + ``normalize``)."""
    doc = load_local(path)
    return doc, normalize(doc), hashlib.sha256(Path(path).read_bytes()).hexdigest()


def ingest_file(cat, source: str, path: Path, at: str, **kw):
    doc, rules, h = load(path)
    return cat.ingest(source, doc, rules, observed_at=at, content_hash=h, **kw)


def count(cat, table: str) -> int:
    return cat.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

