"""The cell accumulator both parsers feed: visible text + side lists → :class:`~parsers.model.Cell`.

Shared so markdown and HTML cells follow one set of conventions (parsers/model.py): items
split on ``<br>``/``<li>``/line breaks, code, links, bold, footnotes. Raw HTML inside a
cell is interpreted the way a browser shows it: tags are markup (``<region>`` is an
unknown element, not text), ``<br>`` and ``</br>`` both break, ``<li>`` starts an item,
``<sup>`` marks a footnote, stray ``<b>`` bolds until the cell ends.
"""
from __future__ import annotations

import html
import re
from typing import Any

from parsers.model import Cell, clean_text

_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][A-Za-z0-9:-]*)([^>]*)>", re.S)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_BREAK_TAGS = {"br", "li", "ul", "ol", "p", "div", "tr", "table", "dl", "dt", "dd", "hr"}
_BOLD_TAGS = {"b", "strong"}


class CellAccumulator:
    """Accumulates the visible text of one cell plus its side lists."""

    def __init__(self, split: bool = True) -> None:
        self.split = split
        self.items: list[str] = []
        self.cur: list[str] = []
        self.code: list[str] = []
        self.links: list[dict[str, str]] = []
        self.bold: list[str] = []
        self.footnotes: list[str] = []
        self._bold_depth = 0
        self._bold_buf: list[str] = []
        self._sup_depth = 0
        self._sup_buf: list[str] = []
        self._link: list[Any] | None = None  # [href, text parts]
        self._html_code: list[str] | None = None

    # -- text ------------------------------------------------------------
    def text(self, s: str) -> None:
        if not s:
            return
        self.cur.append(s)
        if self._bold_depth:
            self._bold_buf.append(s)
        if self._sup_depth:
            self._sup_buf.append(s)
        if self._link is not None:
            self._link[1].append(s)
        if self._html_code is not None:
            self._html_code.append(s)

    def brk(self) -> None:
        if self.split:
            self.items.append("".join(self.cur))
            self.cur = []
        else:
            self.text(" ")

    # -- markup ----------------------------------------------------------
    def bold_open(self) -> None:
        if self._bold_depth == 0:
            self._bold_buf = []
        self._bold_depth += 1

    def bold_close(self) -> None:
        if self._bold_depth == 0:
            return
        self._bold_depth -= 1
        if self._bold_depth == 0:
            t = clean_text("".join(self._bold_buf))
            if t:
                self.bold.append(t)

    def sup_open(self) -> None:
        if self._sup_depth == 0:
            self._sup_buf = []
        self._sup_depth += 1

    def sup_close(self) -> None:
        if self._sup_depth == 0:
            return
        self._sup_depth -= 1
        if self._sup_depth == 0:
            t = clean_text("".join(self._sup_buf))
            if t:
                self.footnotes.append(t)

    def link_open(self, href: str) -> None:
        self.link_close()
        self._link = [href, []]

    def link_close(self) -> None:
        if self._link is not None:
            href, parts = self._link
            self._link = None
            self.links.append({"text": clean_text("".join(parts)), "href": href})

    def html_tag(self, raw: str) -> None:
        """Interpret one raw inline HTML tag (or several, e.g. ``<ul><li>``)."""
        if raw.startswith("<!--"):
            return
        for m in _TAG.finditer(raw):
            closing, name, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
            if name in _BREAK_TAGS:
                self.brk()
            elif name in _BOLD_TAGS:
                self.bold_close() if closing else self.bold_open()
            elif name == "sup":
                self.sup_close() if closing else self.sup_open()
            elif name == "code":
                if closing:
                    if self._html_code is not None:
                        t = "".join(self._html_code)
                        self._html_code = None
                        if t.strip():
                            self.code.append(t.strip())
                else:
                    self._html_code = []
            elif name == "a":
                if closing:
                    self.link_close()
                else:
                    h = _HREF.search(attrs)
                    if h:
                        self.link_open(html.unescape(next(g for g in h.groups() if g is not None)))

    def finish(self) -> None:
        self.link_close()
        while self._bold_depth:
            self.bold_close()
        while self._sup_depth:
            self.sup_close()
        if self._html_code is not None:
            t = "".join(self._html_code).strip()
            self._html_code = None
            if t:
                self.code.append(t)
        self.items.append("".join(self.cur))
        self.cur = []

    def cell(self) -> Cell:
        self.finish()
        if not self.split:
            self.items = [" ".join(self.items)]
        return Cell.from_items(self.items, code=self.code, links=self.links,
                               bold=self.bold, footnotes=self.footnotes)


def merge_surplus(last: Cell, extra: list[Cell]) -> Cell:
    """Append surplus cells of a ragged row to the last cell (model convention)."""
    items = list(last.items)
    kw: dict[str, list[Any]] = {"code": list(last.code), "links": list(last.links),
                                "bold": list(last.bold), "footnotes": list(last.footnotes)}
    for c in extra:
        items += c.items
        for k in kw:
            kw[k] += getattr(c, k)
    return Cell.from_items(items, **kw)
