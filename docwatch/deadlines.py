"""Effective dates a page attaches to a requirement ("After October 28, 2025, adding the
``AzureArcInfrastructure`` service tag … will be required", "Starting March 1, 2026 … TLS 1.2 is
enforced", "by DATE", "no longer … after DATE", "will be retired on DATE").

Pure: :func:`find_deadlines` reads the document's sentences (paragraphs, list items, alerts and
table cells) and returns one :class:`Deadline` per dated statement; :func:`apply_deadlines` sets
``Rule.deadline``/``deadline_text`` on the rules whose party the sentence names. A deadline that
names no party is still returned (``parties`` empty): it is kept at page level by the catalog.

A date counts only when a time word introduces it ("after", "starting", "beginning", "from",
"as of", "effective", "by", "on", "before", "no later than") *and* the sentence says something
changes or is required ("required", "must", "enforce", "retire", "deprecate", "no longer",
"will", "support", "use", "block", "migrate"). Dates are ``YYYY-MM-DD``; a month-only date
("by March 2026") is the first of that month, with ``precision`` "month".
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date as _date
from typing import Any

from docwatch.model import Rule
from docwatch.textrules import sentences, text_parties
from parsers.model import Document, clean_text

_MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"), 1)}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MON = r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|" \
       r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DATE = (
    rf"(?:{_MON}\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>(?:19|20)\d\d)"  # October 28, 2025
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MON.replace('mon>', 'mon2>')}\s*,?\s+(?P<y2>(?:19|20)\d\d)"  # 28 October 2025
    rf"|(?P<y3>(?:19|20)\d\d)-(?P<m3>\d\d)-(?P<d3>\d\d)"  # 2025-10-28
    rf"|{_MON.replace('mon>', 'mon4>')}\s+(?:of\s+)?(?P<y4>(?:19|20)\d\d))"  # March 2026
)
_CUE = re.compile(
    rf"\b(?P<cue>after|starting|beginning|from|as\s+of|effective|by|on|before|no\s+later\s+than|until)"
    rf"(?:\s+(?:on|with|from|in))?(?:\s+the)?(?:\s+end\s+of)?\s+[*_]*{_DATE}", re.I)
_CHANGE = re.compile(
    r"\b(required|requires?|must|mandatory|enforce[sd]?|enforcing|retire[sd]?|retirement|deprecat\w*|no longer|"
    r"will|won't|support\w*|use|uses|block\w*|migrat\w*|stop\w*|end\w*|replac\w*|chang\w*|need\w*|allow\w*)\b", re.I)
_YEAR = re.compile(r"\b(19|20)\d\d\b")


@dataclass
class Deadline:
    """A dated requirement stated on the page."""

    date: str  # ISO YYYY-MM-DD
    sentence: str
    parties: list[str] = field(default_factory=list)  # hosts/URLs/tags the sentence names
    section: list[str] = field(default_factory=list)
    line: int | None = None
    source: str | None = None  # include file, when not the page itself
    cue: str = ""  # "after", "starting", "by", …
    precision: str = "day"  # "day" | "month"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(m: re.Match) -> tuple[str, str] | None:
    g = m.groupdict()
    try:
        if g.get("y1"):
            y, mo, d, prec = int(g["y1"]), _month(g["mon"]), int(g["d1"]), "day"
        elif g.get("y2"):
            y, mo, d, prec = int(g["y2"]), _month(g["mon2"]), int(g["d2"]), "day"
        elif g.get("y3"):
            y, mo, d, prec = int(g["y3"]), int(g["m3"]), int(g["d3"]), "day"
        else:
            y, mo, d, prec = int(g["y4"]), _month(g["mon4"]), 1, "month"
    except (KeyError, TypeError, ValueError):
        return None
    try:
        return _date(y, mo, d).isoformat(), prec
    except ValueError:  # "February 30": not a date
        return None


def _month(name: str) -> int:
    n = name.lower().rstrip(".")
    return _MONTHS.get(n) or _MONTHS[n[:3]]


def deadlines_in(sentence: str) -> list[tuple[str, str, str]]:
    """``(iso date, precision, cue)`` for each dated change the sentence states."""
    s = clean_text(sentence)
    if not _YEAR.search(s) or not _CHANGE.search(s):
        return []
    out = []
    for m in _CUE.finditer(s):
        got = _iso(m)
        if got:
            out.append((got[0], got[1], re.sub(r"\s+", " ", m.group("cue").lower())))
    return out


def _has_year(text: str) -> bool:
    """``_YEAR`` found in ``text``; a year holds "19" or "20", found at C speed (most cells hold neither)."""
    return ("20" in text or "19" in text) and _YEAR.search(text) is not None


def _texts(doc: Document):
    """(text, code spans, headings, line, source) of every block and table cell that has a year."""
    for b in doc.blocks:
        if b.kind != "code" and _has_year(b.text):
            yield b.text, b.code, b.headings, b.line, b.source
    for t in doc.tables:
        for row in t.rows:
            for c in row:
                if _has_year(c.text):
                    yield c.text, c.code, t.headings, t.line, t.source


def find_deadlines(doc: Document) -> list[Deadline]:
    """Every dated requirement on the page, in document order (never raises on odd text)."""
    out: list[Deadline] = []
    seen: set[tuple[str, str]] = set()
    for text, code, headings, line, source in _texts(doc):
        for s in sentences(text):
            for iso, prec, cue in deadlines_in(s):
                if (iso, s) in seen:
                    continue
                seen.add((iso, s))
                parties = [v for _, v in text_parties(s, code)]
                out.append(Deadline(date=iso, sentence=s, parties=parties, section=list(headings), line=line,
                                    source=source, cue=cue, precision=prec))
    return out


def apply_deadlines(rules: list[Rule], deadlines: list[Deadline]) -> list[Rule]:
    """Set ``deadline``/``deadline_text`` on rules whose party (endpoint or tag, case-folded) a
    deadline names; the first deadline in page order wins. Returns ``rules`` (changed in place)."""
    by_party: dict[str, Deadline] = {}
    for d in deadlines:
        for p in d.parties:
            by_party.setdefault(p.lower().rstrip("/"), d)
    if not by_party:
        return rules
    for r in rules:
        if r.deadline:
            continue
        for p in (r.endpoint, r.service_tag):
            d = by_party.get((p or "").lower().rstrip("/"))
            if d:
                r.deadline, r.deadline_text = d.date, d.sentence
                break
    return rules
