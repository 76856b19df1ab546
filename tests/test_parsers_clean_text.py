"""The clean-text guarantee of parsers/model.py: what a parser fills is already clean, so the
readers downstream (normalize, text rules, coverage) never clean it again."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import load_kept
from parsers.model import Document, clean_text

HERE = Path(__file__).resolve().parent


def _texts(doc: Document):
    """(field, text) of every text the guarantee covers."""
    for t in doc.tables:
        yield from (("Table.headings", h) for h in t.headings)
        yield from (("Table.columns", c) for c in t.columns)
        yield from (("Tab.label", tab.label) for tab in t.tabs)
        if t.lead_in is not None:
            yield "Table.lead_in", t.lead_in
        for row in t.rows:
            for c in row:
                yield "Cell.text", c.text
                yield from (("Cell.items", i) for i in c.items)
                yield from (("Cell.bold", b) for b in c.bold)
                yield from (("Cell.footnotes", f) for f in c.footnotes)
                yield from (("link text", link["text"]) for link in c.links)
    for b in doc.blocks:
        if b.kind != "code":
            yield "Block.text", b.text
        yield from (("Block.headings", h) for h in b.headings)
        yield from (("Block.bold", x) for x in b.bold)
        if b.lead_in is not None:
            yield "Block.lead_in", b.lead_in


def _assert_clean(path: Path) -> int:
    doc = load_kept(path)
    unclean = [(name, text) for name, text in _texts(doc) if clean_text(text) != text]
    assert not unclean, f"{path}: {unclean[:5]}"
    return len(doc.tables) + len(doc.blocks)


def test_synthetic_pages_give_clean_text() -> None:
    pages = sorted([*HERE.glob("synthetic_*.md"), *HERE.glob("synthetic_*.html")])
    assert pages and sum(_assert_clean(p) for p in pages) > 0


@pytest.mark.corpus
def test_corpus_pages_give_clean_text(corpus_dir: Path) -> None:
    pages = sorted([*corpus_dir.glob("markdown/**/*.md"), *corpus_dir.glob("rendered/*/*.html"),
                    *corpus_dir.glob("html/*.html")])
    assert pages and sum(_assert_clean(p) for p in pages) > 0
