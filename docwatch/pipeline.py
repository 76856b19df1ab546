"""The one ingest path: scrape, replay, ``ingest``, ``backfill`` and the tests all come here.

``extract`` is pure (text → document + rules). ``ingest`` is catalog reads → guard decision →
diff → catalog writes, for one :class:`Observation` (one observed version of a source).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from docwatch.model import Rule
from parsers.model import Diagnostic, Document


@dataclass
class Observation:
    """One observed version of a source, parsed, with its provenance."""

    source: str
    doc: Document | None
    rules: list[Rule] = field(default_factory=list)
    observed_at: str | None = None
    content_hash: str | None = None
    snapshot_id: str | None = None
    page_url: str | None = None
    form: str | None = None  # markdown | html | text
    doc_commit: str | None = None  # overrides the document's own commit meta (backfill, --commit)
    commit_url: str | None = None


def extract(text: str, *, path: str | None = None, loader: Callable[[str], str | None] | None = None,
            meta: dict[str, Any] | None = None, diagnostics: list[Diagnostic] | None = None) -> tuple[Document, list[Rule]]:
    """Pure: parse (markdown/HTML detected) + normalize. ``meta`` fills keys the text lacks
    (doc_commit, source_url, doc_date from the Learn page head); normalize failures become
    diagnostics, which the guard turns into an anomaly rather than removals."""
    from docwatch.normalize import normalize_checked
    from parsers import parse_document

    doc = parse_document(text, path=path, loader=loader)
    for k, v in (meta or {}).items():
        if v and not doc.meta.get(k):
            doc.meta[k] = v
    if diagnostics:
        doc.diagnostics[:0] = diagnostics
    rules, extra = normalize_checked(doc)
    doc.diagnostics.extend(extra)
    return doc, rules


def ingest(catalog, obs: Observation, *, guard=None):
    """Store ``obs`` as a version of its source and return the catalog's ``IngestResult``."""
    if obs.doc is not None and obs.doc_commit:
        obs.doc.meta["doc_commit"] = obs.doc_commit
    return catalog.ingest(obs.source, obs.doc, obs.rules, observed_at=obs.observed_at, snapshot_id=obs.snapshot_id,
                          content_hash=obs.content_hash, page_url=obs.page_url, guard=guard)
