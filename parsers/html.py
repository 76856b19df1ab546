"""Rendered Microsoft Learn HTML → :class:`~parsers.model.Document`.

Parsed with lxml's libxml2 HTML parser directly (a few ms per page; BeautifulSoup is
only the fallback for input libxml2 rejects, via ``lxml.html.soupparser``), then one
walk over the article in document order that mirrors the markdown parser's token walk
so both produce the same tables for the same page version (parity):

* **Article roots**: the top-level ``div.content`` blocks (Learn splits the article into
  several); without them ``<main>``, then ``<body>``. Page chrome is skipped wherever it
  appears: ``nav``/``header``/``footer``/``aside``, the ``notification`` banner
  ("Access to this page requires authorization…"), anything whose id starts ``ms--``.
* **Tabs**: ``div.tabGroup`` → every ``section[role=tabpanel]`` (hidden ones too), its
  label taken from the tablist anchor with the same ``data-tab``; groups nest.
* **Cells**: the same accumulator as the markdown side
  (:class:`parsers.cells.CellAccumulator`), so items/code/links/bold/footnotes follow
  parsers/model.py identically; a cell's items split on ``<br>``, ``<li>`` (and other
  block tags) and line breaks.
* **Lead-in** (shared rule, see :mod:`parsers.markdown`): the text of the nearest
  preceding sibling block inside the same container (page, list item, blockquote, tab
  panel), skipping alerts (``div.NOTE`` …) and blocks with no visible text; it counts
  only when that block is a paragraph (a bold line is a paragraph). Headings, lists,
  code blocks, tables and tab-panel boundaries end it.
* **Code lists**: a ``<ul>`` whose every ``<li>`` begins with ``<code>`` becomes a
  one-column ``kind="list"`` table named after the nearest heading or bold line above.

Never raises: unexpected errors become an ``internal-error`` diagnostic and whatever was
found so far is returned.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from lxml import etree

from parsers.cells import CellAccumulator, merge_surplus
from parsers.model import (Block, Cell, Diagnostic, Document, Tab, Table, clean_text, code_lang, enter_heading,
                           introduces_following, iso_date)

log = logging.getLogger(__name__)

MAX_DEPTH = 200  # element nesting walked (libxml2 itself stops at 256); deeper content is reported
_JUNK_SCAN = 16384  # chars searched for <!DOCTYPE / <html when text precedes the markup

_END_BR = re.compile(r"</br\s*>", re.I)  # browsers show </br> as <br>; libxml2 drops it
# DocFX directives (``:::moniker range=…``, ``::: zone pivot=…``) a renderer leaked as text:
# never page content (the markdown parser drops those lines too)
_DIRECTIVE = re.compile(r"(?m)^((?:[ \t]*<[^<>\n]*>)*)[ \t]*:::[^<\n]*")
_START = re.compile(r"<!doctype\s+html|<html[\s>]", re.I)
_SHA = re.compile(r"/blob/([0-9a-f]{7,40})/", re.I)
_HEX_SHA = re.compile(r"[0-9a-f]{7,40}", re.I)

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_ALERTS = {"NOTE", "IMPORTANT", "TIP", "WARNING", "CAUTION"}
_ALERT_TITLES = {"note", "important", "tip", "warning", "caution"}
_CHROME_TAGS = {"nav", "header", "footer", "aside", "script", "style", "noscript", "template",
                "head", "title", "button", "svg", "iframe", "object", "select", "textarea"}
_INVISIBLE = {"script", "style", "noscript", "template", "head", "title", "svg", "object",
              "select", "textarea"}
# block-level elements: anything else met directly in a container is inline content
_BLOCKS = {"p", "div", "section", "article", "main", "table", "ul", "ol", "dl", "pre",
           "blockquote", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "nav", "header", "footer",
           "aside", "details", "figure", "form", "fieldset", "address", "summary", "dd", "dt",
           "body", "html", "center", "iframe", "video", "audio", "canvas", "hgroup", "menu"}
# tags that end an item inside a cell (the parsers.cells convention for raw HTML in cells)
_CELL_BREAKS = {"br", "li", "ul", "ol", "p", "div", "tr", "table", "dl", "dt", "dd", "hr",
                "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "section"}


def _tag(el: Any) -> str:
    t = el.tag
    if not isinstance(t, str):
        return ""  # comment / processing instruction / entity
    if "}" in t:
        t = t.rsplit("}", 1)[1]
    return t.lower()


def _classes(el: Any) -> set[str]:
    c = el.get("class")
    return set(c.split()) if c else set()


def _is_chrome(el: Any, tag: str) -> bool:
    if tag in _CHROME_TAGS:
        return True
    i = el.get("id")
    if i and i.startswith("ms--"):
        return True
    c = el.get("class")
    return bool(c) and "notification" in c.split()


# ---------------------------------------------------------------------------
# inline text
# ---------------------------------------------------------------------------

def _feed(acc: CellAccumulator, root: Any, *, lines: bool) -> None:
    """Feed the visible inline content of ``root`` (not its tail) into ``acc``, iteratively."""

    def text(s: str | None) -> None:
        if not s:
            return
        if lines and "\n" in s:
            parts = s.split("\n")
            for k, p in enumerate(parts):
                if k:
                    acc.brk()
                acc.text(p)
        else:
            acc.text(s)

    walker = etree.iterwalk(root, events=("start", "end"))
    for ev, el in walker:
        tag = _tag(el)
        if ev == "start":
            if el is not root and (not tag or tag in _INVISIBLE):
                walker.skip_subtree()
                continue
            if tag in _CELL_BREAKS and el is not root:
                acc.brk()
            elif tag in ("b", "strong"):
                acc.bold_open()
            elif tag == "sup":
                acc.sup_open()
            elif tag == "code":
                acc.html_tag("<code>")
            elif tag == "a":
                href = el.get("href")
                if href is not None:
                    acc.link_open(href)
            elif tag == "img":
                pass  # alt text is not visible page text (markdown side agrees)
            if tag and tag not in _INVISIBLE:
                text(el.text)
        else:
            if el is root:
                if tag in _INLINE_CLOSE:  # a run's own <strong>/<code>/<a>: close it, keep no tail
                    _close_inline(acc, el, tag)
                break
            if tag in _CELL_BREAKS:
                acc.brk()
            elif tag in ("b", "strong"):
                acc.bold_close()
            elif tag == "sup":
                acc.sup_close()
            elif tag == "code":
                acc.html_tag("</code>")
            elif tag == "a":
                if el.get("href") is not None:
                    acc.link_close()
            text(el.tail)


_INLINE_CLOSE = {"b", "strong", "sup", "code", "a"}


def _close_inline(acc: CellAccumulator, el: Any, tag: str) -> None:
    if tag in ("b", "strong"):
        acc.bold_close()
    elif tag == "sup":
        acc.sup_close()
    elif tag == "code":
        acc.html_tag("</code>")
    elif tag == "a" and el.get("href") is not None:
        acc.link_close()


def _cell(el: Any) -> Cell:
    acc = CellAccumulator(split=True)
    _feed(acc, el, lines=True)
    return acc.cell()


def _inline_text(el: Any) -> str:
    acc = CellAccumulator(split=False)
    _feed(acc, el, lines=False)
    return acc.cell().text


def _significant(el: Any) -> list[Any]:
    """Child nodes of ``el`` that carry content: elements and non-blank text (as str)."""
    out: list[Any] = []
    if el.text and el.text.strip():
        out.append(el.text)
    for ch in el:
        if isinstance(ch.tag, str):
            out.append(ch)
        if ch.tail and ch.tail.strip():
            out.append(ch.tail)
    return out


def _is_bold_only(nodes: list[Any]) -> bool:
    """A bold line: the whole (visible) content is one ``<strong>``/``<b>`` element."""
    return len(nodes) == 1 and not isinstance(nodes[0], str) and _tag(nodes[0]) in ("strong", "b")


def _starts_with_code(li: Any) -> bool:
    el = li
    for _ in range(4):  # li > p > code, li > code
        nodes = _significant(el)
        if not nodes or isinstance(nodes[0], str):
            return False
        first = nodes[0]
        t = _tag(first)
        if t == "code":
            return True
        if t != "p":
            return False
        el = first
    return False


# ---------------------------------------------------------------------------
# the walk
# ---------------------------------------------------------------------------

class _Frame:
    __slots__ = ("kind", "last", "alert", "lead", "depth", "intro")

    def __init__(self, kind: str, alert: str | None = None, lead: str | None = None, depth: int = 0) -> None:
        self.kind = kind
        self.last: str | None = None
        self.alert = alert  # NOTE/TIP/… of this container or the nearest enclosing alert
        self.lead = lead  # list item: the lead-in of its list
        self.depth = depth  # list nesting depth
        self.intro: str | None = None  # alert: its paragraph introducing what follows


_PARA_KIND = {"list_item": "list_item", "alert": "alert"}


class _Walker:
    def __init__(self, doc: Document, line_offset: int) -> None:
        self.doc = doc
        self.diags = doc.diagnostics
        self.headings: list[tuple[int, str]] = []
        self.tabs: list[Tab] = []
        self.frames: list[_Frame] = [_Frame("root")]
        self.label = ""
        self.line_offset = line_offset
        self.too_deep = False
        self.groups: list[list[Tab]] = []  # every tab group met, in document order

    # -- containers ----------------------------------------------------------
    def walk(self, el: Any, depth: int, skip: Any = None) -> None:
        """Walk the children of ``el`` (after ``skip``, when given) as blocks of the current frame."""
        if depth > MAX_DEPTH:
            if not self.too_deep:
                self.too_deep = True
                self.diags.append(Diagnostic("too-deep", f"elements nested deeper than {MAX_DEPTH} "
                                             "levels were not searched for tables", self._line(el)))
            return
        run: list[Any] = []  # a run of inline nodes = an implicit paragraph (tight list item)
        started = skip is None
        if started and el.text and el.text.strip():
            run.append(el.text)
        for ch in el:
            if not started:
                started = ch is skip
            else:
                tag = _tag(ch)
                if tag in _BLOCKS or tag == "li":
                    self._run(run, el)
                    run = []
                    self.block(ch, tag, depth + 1)
                elif tag and not _is_chrome(ch, tag):
                    run.append(ch)
            if started and ch.tail and (run or ch.tail.strip()):
                run.append(ch.tail)  # whitespace between two inline elements is a space
        self._run(run, el)

    def _run(self, run: list[Any], parent: Any = None) -> None:
        if not run:
            return
        acc = CellAccumulator(split=False)
        for n in run:
            if isinstance(n, str):
                acc.text(n)
            else:
                _feed(acc, n, lines=False)
                # the tail belongs to the run as a separate entry; _feed never reads it
        cell = acc.cell()
        if cell.text:
            el = next((n for n in run if not isinstance(n, str)), parent)
            self.paragraph(cell.text, run, cell, el)

    def paragraph(self, text: str, nodes: list[Any], cell: Cell | None = None, el: Any = None) -> None:
        f = self.frames[-1]
        kind = _PARA_KIND.get(f.kind, "paragraph")
        if f.kind == "alert" and f.intro is None and introduces_following(text):
            f.intro = text
        self._block(kind, text, el, cell, f.lead if kind == "list_item" else f.last)
        self.frames[-1].last = text
        if _is_bold_only([n for n in nodes if not (isinstance(n, str) and not n.strip())]):
            self.label = text

    def _block(self, kind: str, text: str, el: Any, cell: Cell | None, lead_in: str | None,
               lang: str | None = None) -> None:
        f = self.frames[-1]
        self.doc.blocks.append(Block(
            kind=kind, text=text, headings=[h for _, h in self.headings], tabs=list(self.tabs),
            lead_in=lead_in, line=self._line(el) if el is not None else None, alert=f.alert, lang=lang,
            code=list(cell.code) if cell else [], links=list(cell.links) if cell else [],
            bold=list(cell.bold) if cell else [], depth=f.depth if kind == "list_item" else 0,
        ))

    def code_block(self, el: Any) -> None:
        code = next((c for c in el if _tag(c) == "code"), None)
        text = "".join(el.itertext()).rstrip("\n")
        if text.strip():
            self._block("code", text, el, None, self.frames[-1].last,
                        lang=code_lang((code if code is not None else el).get("class")))

    def block(self, el: Any, tag: str, depth: int) -> None:
        if _is_chrome(el, tag):
            return
        if tag in _HEADINGS:
            self.heading(el, _HEADINGS[tag])
        elif tag == "p":
            acc = CellAccumulator(split=False)
            _feed(acc, el, lines=False)
            cell = acc.cell()
            if cell.text:
                self.paragraph(cell.text, _significant(el), cell, el)
        elif tag == "table":
            self.table(el)
            self.frames[-1].last = None
        elif tag == "ul" or tag == "ol":
            self.list_block(el, tag, depth)
        elif tag == "li":  # a stray li outside a list: its own container
            self.container(el, "list_item", depth)
        elif tag == "blockquote":  # a quoted block continues what introduced it ("**Example:** … are:")
            self.container(el, "blockquote", depth, last=self.frames[-1].last)
            self.frames[-1].last = None
        elif tag in ("pre", "hr", "iframe", "video", "audio", "canvas", "form", "figure", "dl"):
            if tag == "pre":
                self.code_block(el)
            self.frames[-1].last = None
        elif tag == "div" and _classes(el) & _ALERTS:
            self.alert(el, depth)
        elif tag == "div" and "tabGroup" in _classes(el):
            self.tab_group(el, depth)
        else:  # div, section, article, main, details …: transparent
            self.walk(el, depth)

    def container(self, el: Any, kind: str, depth: int, lead: str | None = None, level: int = 0,
                  last: str | None = None) -> None:
        outer = self.frames[-1]
        self.frames.append(_Frame(kind, outer.alert, lead if kind == "list_item" else outer.lead,
                                  level or outer.depth))
        self.frames[-1].last = last
        try:
            self.walk(el, depth)
        finally:
            self.frames.pop()

    def heading(self, el: Any, level: int) -> None:
        text = _inline_text(el)
        enter_heading(self.doc, self.headings, level, text)
        self.label = text
        self.frames[-1].last = None

    def alert(self, el: Any, depth: int) -> None:
        """``<div class="NOTE"><p>Note</p>…</div>``: its own container, skipped for the lead-in
        of what follows; the title paragraph is not content."""
        nodes = _significant(el)
        title = None
        if nodes and not isinstance(nodes[0], str) and _tag(nodes[0]) == "p" \
                and clean_text("".join(nodes[0].itertext())).lower() in _ALERT_TITLES:
            title = nodes[0]
        kind = next((c for c in el.get("class", "").split() if c in _ALERTS), None)
        self.frames.append(_Frame("alert", kind, self.frames[-1].lead, self.frames[-1].depth))
        self.frames[-1].last = self.frames[-2].last  # as a quoted block: it continues what introduced it
        try:
            self.walk(el, depth, skip=title)
        finally:
            intro = self.frames.pop().intro
        if intro:  # "the following URLs on https://:443": the lead-in of what follows
            self.frames[-1].last = intro

    def _reset_all(self) -> None:
        for f in self.frames:
            f.last = None

    def tab_group(self, el: Any, depth: int) -> None:
        labels: dict[str, str] = {}
        for a in el.iter("a"):
            dt = a.get("data-tab")
            if dt is not None and dt not in labels:
                labels[dt] = _inline_text(a)
        group: list[Tab] = []
        self.groups.append(group)
        group_lead = self.frames[-1].last  # the paragraph before the tab group introduces every panel
        for ch in el:
            tag = _tag(ch)
            if not tag:
                continue
            if tag == "ul" and ch.get("role") == "tablist":
                continue
            if ch.get("role") == "tabpanel" or (tag == "section" and ch.get("data-tab") is not None):
                tid = ch.get("data-tab")
                if tid is None:
                    pid = ch.get("id") or ""
                    m = re.match(r"tabpanel_[^_]+_(.+)", pid)
                    tid = m.group(1) if m else pid
                label = labels.get(tid)
                if label is None:
                    label = tid
                    self.diags.append(Diagnostic("tab-label-missing",
                                                 f"no tablist label for tab {tid!r}", self._line(ch), "info"))
                self._reset_all()
                group.append(Tab(label, tid))
                self.tabs.append(Tab(label, tid))
                try:
                    self.container(ch, "tab", depth + 1, last=group_lead)
                finally:
                    self.tabs.pop()
                self._reset_all()
            elif tag in _BLOCKS:
                self.block(ch, tag, depth + 1)
        self._reset_all()

    def list_block(self, el: Any, tag: str, depth: int) -> None:
        items = [ch for ch in el if _tag(ch) == "li"]
        lead, level = self.frames[-1].last, self.frames[-1].depth + 1
        for ch in el:
            t = _tag(ch)
            if t == "li":
                self.container(ch, "list_item", depth + 1, lead, level)
            elif t in _BLOCKS:
                self.block(ch, t, depth + 1)
        if tag == "ul" and items and all(_starts_with_code(li) for li in items):
            cells = []
            for li in items:
                acc = CellAccumulator(split=False)
                _feed(acc, li, lines=False)
                cells.append(acc.cell())
            self.doc.tables.append(Table(
                headings=[h for _, h in self.headings],
                tabs=list(self.tabs),
                lead_in=self.frames[-1].last,
                columns=[self.label],
                rows=[[c] for c in cells],
                line=self._line(el),
                kind="list",
            ))
        self.frames[-1].last = None

    # -- tables ----------------------------------------------------------------
    def _line(self, el: Any) -> int | None:
        n = getattr(el, "sourceline", None)
        return n + self.line_offset if isinstance(n, int) else None

    def table(self, el: Any) -> None:
        head_rows: list[Any] = []
        body_rows: list[Any] = []
        for ch in el:
            t = _tag(ch)
            if t == "thead":
                head_rows.extend(r for r in ch if _tag(r) == "tr")
            elif t in ("tbody", "tfoot"):
                body_rows.extend(r for r in ch if _tag(r) == "tr")
            elif t == "tr":
                body_rows.append(ch)
        header: list[Cell] = []
        if head_rows:
            header = self._row(head_rows[-1])
            if len(head_rows) > 1:
                self.diags.append(Diagnostic("multi-row-header", "table header has "
                                             f"{len(head_rows)} rows; the last one is used",
                                             self._line(el), "info"))
        elif body_rows:
            first = [c for c in body_rows[0] if _tag(c) in ("td", "th")]
            if first and all(_tag(c) == "th" for c in first):
                header = self._row(body_rows[0])
                body_rows = body_rows[1:]
        ncols = len(header)
        rows = [self._fit(self._row(r), ncols, r) for r in body_rows]
        self.doc.tables.append(Table(
            headings=[h for _, h in self.headings],
            tabs=list(self.tabs),
            lead_in=self.frames[-1].last,
            columns=[c.text for c in header],
            rows=rows,
            line=self._line(el),
            kind="table",
        ))

    def _row(self, tr: Any) -> list[Cell]:
        cells: list[Cell] = []
        for c in tr:
            if _tag(c) not in ("td", "th"):
                continue
            cells.append(_cell(c))
            try:
                span = int(c.get("colspan") or 1)
            except ValueError:
                span = 1
            cells.extend(Cell() for _ in range(min(max(span, 1), 1000) - 1))
        return cells

    def _fit(self, row: list[Cell], ncols: int, tr: Any) -> list[Cell]:
        if ncols == 0 or len(row) == ncols:
            return row
        if len(row) < ncols:
            self.diags.append(Diagnostic("ragged-row", f"row has {len(row)} cells, header {ncols}: padded",
                                         self._line(tr)))
            return row + [Cell() for _ in range(ncols - len(row))]
        self.diags.append(Diagnostic("ragged-row", f"row has {len(row)} cells, header {ncols}: surplus "
                                     "appended to the last cell", self._line(tr)))
        extra = row[ncols:]
        if not any(c.items for c in extra):
            return row[:ncols]
        return row[:ncols - 1] + [merge_surplus(row[ncols - 1], extra)]


# ---------------------------------------------------------------------------
# document level
# ---------------------------------------------------------------------------

def _strip_junk(text: str, diags: list[Diagnostic]) -> tuple[str, int]:
    """Drop text saved before ``<!DOCTYPE html>``/``<html>`` (capture headers); (text, lines dropped)."""
    m = _START.search(text, 0, _JUNK_SCAN)
    if not m or not text[:m.start()].strip():
        return text, 0
    junk = text[:m.start()]
    diags.append(Diagnostic("junk-before-html", f"{len(junk.strip())} characters before the HTML "
                            "document start ignored", 1, "info"))
    return text[m.start():], junk.count("\n")


def _parse_tree(text: str, diags: list[Diagnostic]) -> Any:
    data = text.encode("utf-8", "replace")
    parser = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True,
                              no_network=True, recover=True)
    try:
        root = etree.fromstring(data, parser)
        limits = {e.message for e in parser.error_log if e.type_name == "ERR_RESOURCE_LIMIT"}
        for msg in sorted(limits):
            diags.append(Diagnostic("html-limit", f"content beyond a parser limit was dropped: {msg}",
                                    None, "warning"))
        if root is not None:
            return root
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        log.debug("libxml2 rejected the document: %s", exc)
    if not text.strip():
        return None
    try:  # libxml2 gave up: BeautifulSoup is more forgiving
        from lxml.html import soupparser

        diags.append(Diagnostic("html-fallback", "libxml2 could not parse the document; "
                                "parsed with BeautifulSoup instead", None, "info"))
        return soupparser.fromstring(text)
    except Exception as exc:  # noqa: BLE001 - never raise on a document
        diags.append(Diagnostic("unparseable-html", f"{type(exc).__name__}: {exc}", None, "error"))
        return None


def _meta(root: Any, doc: Document) -> None:
    meta: dict[str, Any] = {}
    for m in root.iter("meta"):
        name = m.get("name")
        if not name:
            continue
        val = m.get("content")
        if val is None:
            continue
        if name in meta:
            cur = meta[name]
            meta[name] = (cur if isinstance(cur, list) else [cur]) + [val]
        else:
            meta[name] = val
    first = lambda k: (meta[k][0] if isinstance(meta.get(k), list) else meta.get(k))  # noqa: E731
    if first("ms.date"):
        iso = iso_date(first("ms.date"))
        if iso:
            meta["doc_date"] = iso
    commit = first("git_commit_id")
    if commit and _HEX_SHA.fullmatch(commit.strip()):
        meta["doc_commit"] = commit.strip().lower()
    elif first("gitcommit"):
        sm = _SHA.search(first("gitcommit"))
        if sm:
            meta["doc_commit"] = sm.group(1).lower()
    if first("original_content_git_url"):
        meta["source_url"] = first("original_content_git_url")
    if first("updated_at"):
        meta["updated_at"] = first("updated_at")
    doc.meta = meta


def _roots(root: Any) -> list[Any]:
    """The article: top-level ``div.content`` blocks, else ``<main>``, else ``<body>``."""
    main = next(root.iter("main"), None)
    scope = main if main is not None else root
    roots: list[Any] = []
    it = etree.iterwalk(scope, events=("start",))
    for _, el in it:
        tag = _tag(el)
        if not tag or (el is not scope and _is_chrome(el, tag)):
            it.skip_subtree()
            continue
        if tag == "div" and el is not scope and "content" in _classes(el):
            roots.append(el)
            it.skip_subtree()
    if roots:
        return roots
    if main is not None:
        return [main]
    body = next(root.iter("body"), None)
    return [body if body is not None else root]


def _parse(text: str) -> tuple[Document, _Walker | None]:
    doc = Document(format="html")
    diags = doc.diagnostics
    walker: _Walker | None = None
    try:
        if not isinstance(text, str):
            text = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)
        text = text.lstrip("\ufeff")
        body, offset = _strip_junk(text, diags)
        if "</" in body:
            body = _END_BR.sub("<br>", body)
        if ":::" in body:
            body = _DIRECTIVE.sub(r"\1", body)
        root = _parse_tree(body, diags)
        if root is None:
            if text.strip():
                diags.append(Diagnostic("empty-document", "no HTML content found", None, "warning"))
            return doc, None
        _meta(root, doc)
        walker = _Walker(doc, offset)
        for r in _roots(root):
            walker.walk(r, 0)
        if doc.title is None:
            t = next(root.iter("title"), None)
            if t is not None:
                doc.title = clean_text("".join(t.itertext())) or None
        if doc.title and "title" not in doc.meta:
            doc.meta["title"] = doc.title
    except Exception as exc:  # the contract: parsers never raise on a document
        log.exception("HTML parser failed")
        diags.append(Diagnostic("internal-error", f"{type(exc).__name__}: {exc}", None, "error"))
    return doc, walker


def parse_html(text: str) -> Document:
    """Parse one rendered Learn page (or any HTML); never raises."""
    return _parse(text)[0]
