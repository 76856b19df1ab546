"""Helpers for the catalog tests: the real parse → normalize pipeline on local files."""
from __future__ import annotations

import hashlib
from pathlib import Path

from docwatch.normalize import normalize

HERE = Path(__file__).resolve().parent


def load(path: Path):
    """(doc, rules, content_hash) through the real pipeline (``load_local`` + ``normalize``)."""
    try:
        from parsers import parse_document  # noqa: F401  (load_local needs it)
        from docwatch.documents import load_local

        doc = load_local(path)
    except ImportError:  # parsers/__init__ not exporting parse_document yet: same parser, direct
        from docwatch.documents import _fs_loader
        from parsers.markdown import parse_markdown

        doc = parse_markdown(Path(path).read_text(encoding="utf-8"), path=str(path), loader=_fs_loader)
    return doc, normalize(doc), hashlib.sha256(Path(path).read_bytes()).hexdigest()


def ingest_file(cat, source: str, path: Path, at: str, **kw):
    doc, rules, h = load(path)
    return cat.ingest(source, doc, rules, observed_at=at, content_hash=h, **kw)


def count(cat, table: str) -> int:
    return cat.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def ensure_parse_document(monkeypatch) -> None:
    """Until parsers/__init__ exports ``parse_document`` (parsers-html owner), route it to the
    real markdown parser so ``load_local`` works; a no-op once it has landed."""
    import parsers

    if not hasattr(parsers, "parse_document"):
        from parsers.markdown import parse_markdown

        monkeypatch.setattr(parsers, "parse_document", parse_markdown, raising=False)
