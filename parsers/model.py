"""The parser model shared by the markdown and the HTML parser.

Both parsers must produce *the same* tables for the same page version (parity),
so the normalisation rules for text live here, in one place, and both call them.

Conventions (both parsers follow them):

* ``Cell.items`` – the cell split on ``<br>``, ``</br>``, ``<br/>``, ``<li>`` boundaries and
  line breaks; each item is plain text (markup removed, link text kept, escapes undone),
  whitespace collapsed by :func:`clean_text`, empty items dropped.
* ``Cell.text`` – ``" ".join(items)``.
* ``Cell.code`` – texts of code spans (inline code) in the cell, in order.
* ``Cell.links`` – ``{"text", "href"}`` for each link, in order.
* ``Cell.bold`` – texts of bold segments (``**x**``, ``__x__``, ``<b>``, ``<strong>``), cleaned.
* ``Cell.footnotes`` – texts of ``<sup>`` marks (e.g. ``"1"``), in order.
* ``Table.headings`` – cleaned texts of the h1..h6 headings enclosing the table, outermost
  first (tab titles are tabs, not headings; page chrome is excluded).
* ``Table.tabs`` – every enclosing tab, outermost first, as ``Tab(label, id)``; ``id`` is the
  id after ``#tab/`` (``"gov"``, ``"stv2"``; a dependent tab keeps its full ``"a/b"`` id).
* ``Table.lead_in`` – cleaned text of the paragraph (or bold line) directly above the table,
  within the same section, or ``None``.
* ``Table.columns`` – cleaned header texts; ``Table.rows`` – rows of cells, each row padded
  or truncated to ``len(columns)`` (a ragged row is a diagnostic, never dropped data:
  surplus cells are appended to the last cell's items).
* ``Document.meta`` – every front-matter key / ``<meta name>`` as found, plus normalised keys
  both parsers fill when they can: ``doc_date`` (ISO ``YYYY-MM-DD`` from ``ms.date``),
  ``doc_commit`` (commit sha from ``git_commit_id``/``gitcommit``), ``source_url``
  (``original_content_git_url``), ``updated_at``.
* ``Table.kind`` – ``"table"`` or ``"list"`` (a bulleted list of code-formatted hosts/tags
  captured as a one-column table whose column is the heading text).
* ``Document.blocks`` – the page's non-table content in document order, so requirements
  stated in code blocks, lists, alerts and sentences can be read (``docwatch.textrules``):
  one :class:`Block` per paragraph (``kind`` ``"paragraph"``, ``"list_item"`` for a
  paragraph inside a list item, ``"alert"`` for one inside a NOTE/TIP box) and per code
  block (``"code"``, text as written, lines kept). ``alert`` names the enclosing box
  (``NOTE``, ``TIP``…) for any block inside one; ``lead_in`` is the paragraph above a code
  block or above the list a list item belongs to (same sibling rule as ``Table.lead_in``),
  or the previous sibling paragraph of a paragraph. Page chrome and alert titles are not
  blocks; headings are not blocks (they are every block's ``headings``).

Clean text (what a parser guarantees, so readers downstream never clean it again): every
text a parser fills is already :func:`clean_text`-clean (``clean_text(x) == x``: single
spaces, no edge or zero-width space) – ``Cell.text``, ``Cell.items``, ``Cell.bold``,
``Cell.footnotes``, link texts, ``Table.headings``, ``Table.columns``, ``Table.lead_in``,
``Tab.label``, ``Block.text`` of every block but code, ``Block.headings``, ``Block.lead_in``
and ``Block.bold``. Only code keeps its spacing as written: ``Cell.code`` / ``Block.code``
(inline code spans, stripped) and the text of a ``"code"`` block. :meth:`Cell.from_items`
cleans, so cells built from any text keep the guarantee; ``tests/test_parsers_clean_text.py``
checks it on every corpus and synthetic page.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"), None)
_ZW_CHARS = frozenset("\u200b\u200c\u200d\ufeff")


def clean_text(text: str) -> str:
    """Collapse whitespace (incl. NBSP), drop zero-width characters, strip.

    ``str.split()`` splits on exactly the characters regex ``\\s`` matches (NBSP included) and
    is several times faster; this runs for every cell of every page. ASCII text (``isascii`` is
    a flag lookup) holds no zero-width character: only other text is searched for one."""
    if not text.isascii() and not _ZW_CHARS.isdisjoint(text):
        text = text.translate(_ZERO_WIDTH)
    return " ".join(text.split())


_DATE_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_DATE_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def iso_date(v: Any) -> str | None:
    """``ms.date`` (``MM/DD/YYYY`` or ``YYYY-MM-DD``, anything after ignored) → ``YYYY-MM-DD``,
    or ``None`` if it is neither (``Document.meta["doc_date"]``, filled by both parsers)."""
    s = str(v).strip()
    m = _DATE_US.match(s)
    if m:
        mo, d, y = (int(x) for x in m.groups())
    else:
        m = _DATE_ISO.match(s)
        if not m:
            return None
        y, mo, d = (int(x) for x in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}"


@dataclass
class Cell:
    text: str = ""
    items: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)
    bold: list[str] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)

    @classmethod
    def from_items(cls, items: list[str], **kw: Any) -> "Cell":
        items = [c for c in (clean_text(i) for i in items) if c]
        return cls(text=" ".join(items), items=items, **kw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tab:
    label: str
    id: str

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "id": self.id}


@dataclass
class Table:
    headings: list[str] = field(default_factory=list)
    tabs: list[Tab] = field(default_factory=list)
    lead_in: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    line: int | None = None  # 1-based source line (markdown) or element position (HTML)
    kind: str = "table"
    source: str | None = None  # include file the table came from, when not the page itself

    def to_dict(self) -> dict[str, Any]:
        return {
            "headings": list(self.headings),
            "tabs": [t.to_dict() for t in self.tabs],
            "lead_in": self.lead_in,
            "columns": list(self.columns),
            "rows": [[c.to_dict() for c in row] for row in self.rows],
            "line": self.line,
            "kind": self.kind,
            "source": self.source,
        }


@dataclass
class Block:
    """One non-table block of the page with its provenance (see the module docstring)."""

    kind: str  # "paragraph" | "list_item" | "alert" | "code"
    text: str
    headings: list[str] = field(default_factory=list)
    tabs: list[Tab] = field(default_factory=list)
    lead_in: str | None = None
    line: int | None = None
    source: str | None = None  # include file the block came from, when not the page itself
    alert: str | None = None  # NOTE | TIP | IMPORTANT | WARNING | CAUTION when inside such a box
    lang: str | None = None  # code block language ("azurecli", "json"), when given
    code: list[str] = field(default_factory=list)  # inline code spans
    links: list[dict[str, str]] = field(default_factory=list)
    bold: list[str] = field(default_factory=list)
    depth: int = 0  # list nesting depth of a list item (1 = top-level list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tabs"] = [t.to_dict() for t in self.tabs]
        return d


def code_lang(info: str | None) -> str | None:
    """A code block's language from a fence info string or a ``lang-x``/``language-x`` class."""
    for word in (info or "").split():
        for pre in ("language-", "lang-"):
            if word.startswith(pre):
                word = word[len(pre):]
                break
        if word:
            return word.lower()
    return None


@dataclass
class Diagnostic:
    code: str  # short machine-readable kind, e.g. "ragged-row", "unclosed-tab", "missing-include"
    message: str
    line: int | None = None
    level: str = "warning"  # "info" | "warning" | "error"
    token: str | None = None  # the host/IP/tag-like text it is about (``unparsed``, ``not-a-rule``)
    section: list[str] | None = None  # heading path where it was seen

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Document:
    format: str  # "markdown" | "html" | "text"
    meta: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    title: str | None = None
    blocks: list[Block] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "title": self.title,
            "meta": dict(self.meta),
            "tables": [t.to_dict() for t in self.tables],
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "blocks": [b.to_dict() for b in self.blocks],
        }


_INTRO = re.compile(r"\b(?:the following|these|below)\b", re.I)
_INTRO_PORT = re.compile(r"\bports?\s+\d{1,5}|://[^\s`]*:\d{1,5}\b|\b(?:https?|tcp|udp)\s*[:/]?\s*\d{1,5}\b", re.I)


def introduces_following(text: str) -> bool:
    """A NOTE/IMPORTANT box sentence that states the port of what follows ("Azure Arc agents
    require the following outbound URLs on ``https://:443``"): both parsers let such an alert be
    the lead-in of the next table or list, which other alerts never are."""
    return _INTRO.search(text) is not None and _INTRO_PORT.search(text) is not None


def enter_heading(doc: Document, headings: list[tuple[int, str]], level: int, text: str) -> None:
    """A heading closes every open heading at its level or deeper (``headings`` is the path of
    ``(level, title)`` above the current point); the first non-empty h1 is the page title.
    Shared by both parsers so their heading paths agree."""
    while headings and headings[-1][0] >= level:
        headings.pop()
    headings.append((level, text))
    if level == 1 and doc.title is None and text:
        doc.title = text
