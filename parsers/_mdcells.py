"""Turn markdown-it inline tokens into :class:`~parsers.model.Cell` values.

Kept apart from the block-level walker; the cell conventions themselves live in
:class:`parsers.cells.CellAccumulator`, shared with the HTML parser.
"""
from __future__ import annotations

import html
from typing import Any, Iterable

from parsers.cells import CellAccumulator
from parsers.model import Cell, clean_text


def feed(acc: CellAccumulator, tokens: Iterable[Any]) -> None:
    """Feed markdown-it inline child tokens into an accumulator."""
    for t in tokens:
        ty = t.type
        if ty == "text":
            acc.text(t.content)
        elif ty == "code_inline":
            acc.text(t.content)
            if t.content.strip():
                acc.code.append(t.content.strip())
        elif ty in ("softbreak", "hardbreak"):
            acc.brk()
        elif ty == "strong_open":
            acc.bold_open()
        elif ty == "strong_close":
            acc.bold_close()
        elif ty == "link_open":
            acc.link_open(str(t.attrs.get("href", "")))
        elif ty == "link_close":
            acc.link_close()
        elif ty == "html_inline":
            acc.html_tag(t.content)
        elif ty == "image":
            continue  # alt text is not visible page text
        elif ty == "entity":  # not produced by markdown-it-py >= 3, kept for safety
            acc.text(html.unescape(t.content))


def cell_from_tokens(tokens: Iterable[Any] | None, *, split: bool = True,
                     memo: dict[str, str] | None = None) -> Cell:
    """One cell from inline tokens; ``memo`` (raw → cleaned text, per document) spares
    cleaning the many plain-text cells a page repeats (``TCP``, ``443``, ``Yes``)."""
    if not isinstance(tokens, (list, tuple)):
        tokens = list(tokens or ())
    # most cells are plain text: skip the accumulator (same result as Cell.from_items:
    # one cleaned item, no side lists)
    for t in tokens:
        if t.type != "text":
            break
    else:
        raw = "".join([t.content for t in tokens])
        text = memo.get(raw) if memo is not None else None
        if text is None:
            text = clean_text(raw)
            if memo is not None:
                memo[raw] = text
        return Cell(text=text, items=[text] if text else [], code=[], links=[], bold=[], footnotes=[])
    for t in tokens:
        if t.type not in _SIMPLE:
            break
    else:
        return _simple_cell(tokens, split)
    acc = CellAccumulator(split=split)
    feed(acc, tokens)
    return acc.cell()


# token types of the usual non-plain cell and paragraph (``**Port**: `443`, TCP``)
_SIMPLE = frozenset(("text", "code_inline", "strong_open", "strong_close", "softbreak", "hardbreak"))


def _simple_cell(tokens: list[Any], split: bool) -> Cell:
    """What :class:`CellAccumulator` makes of text, code spans, bold and line breaks, without an
    accumulator (a third of the cells and most paragraphs hold nothing else): the same text,
    items, code and bold, in the same order."""
    cur: list[str] = []
    code: list[str] = []
    bold: list[str] = []
    items: list[str] = []
    depth = 0
    buf: list[str] = []
    for t in tokens:
        ty = t.type
        if ty == "text" or ty == "code_inline":
            s = t.content
        elif ty == "strong_open":
            if depth == 0:
                buf = []
            depth += 1
            continue
        elif ty == "strong_close":
            if depth:
                depth -= 1
                if depth == 0:
                    b = clean_text("".join(buf))
                    if b:
                        bold.append(b)
            continue
        elif split:  # a line break ends an item
            items.append("".join(cur))
            cur = []
            continue
        else:  # a line break inside one item is a space
            s = " "
        if s:
            cur.append(s)
            if depth:
                buf.append(s)
            if ty == "code_inline" and s.strip():
                code.append(s.strip())
    if depth:  # bold left open ends with the cell
        b = clean_text("".join(buf))
        if b:
            bold.append(b)
    items.append("".join(cur))
    if not split:
        items = [" ".join(items)]
    return Cell.from_items(items, code=code, links=[], bold=bold, footnotes=[])
