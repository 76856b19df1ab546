"""Coverage: every host-, URL-, IP-, CIDR- or tag-like token seen on a page, and what became of it.

An allow-list that is silently incomplete is worse than none, so docwatch says what it saw but
could not turn into a rule. Tokens are read from the page's content only (table cells, list items,
paragraphs, alerts, code blocks; never page chrome, which the parsers leave out), deduplicated per
page (case-folded, scheme, trailing ``/`` and ``:port`` ignored), and each ends in one of:

* **in rules** – a rule's endpoint, tag, source/destination, a URL rule's host, or an end of an
  ``ip_range`` rule;
* **set aside** – classified as not a rule: a ``not-a-rule`` diagnostic names it (reserved
  ranges, proxy-bypass lists, example domains… from normalize), or it stands where text rules
  deliberately read nothing: a command/script code block, an example/sample/output context, a
  negated sentence ("don't access pypi.org");
* **unparsed** – neither: an ``unparsed`` info diagnostic with its line and section.

Tags count as tokens when they are known Azure tag names written as tags (CamelCase/dotted, in
code, or a whole table cell), so "Azure Storage" in a sentence is not a token.

Other components call :func:`coverage_counts` (``docwatch rules``, ``status``, the cycle log).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from docwatch.model import Rule
from docwatch.memo import memo
from docwatch.normalize import NO_RULE_NEEDED
from docwatch.normalize_values import endpoint_kind
from docwatch.tagnames import canonical_tag
from docwatch.textrules import (  # the same word classes text rules read by, so the two agree
    _CAMEL,
    _EXAMPLE,
    _EXAMPLE_CONTEXT,
    _EXAMPLE_HEADING,
    _EXAMPLE_PARTY,
    _FILE_EXT,
    _HOSTISH as _DOTTED,
    _NEG,
    _TAG_TOKEN,
    MAX_PARAGRAPH,
    _tagish,
    passing_mention,
    readers_network,
    sentences,
)
from parsers.model import Diagnostic, Document

_HOSTISH = re.compile(
    r"(?<![\w@/.<>{}*-])(?:[a-z][a-z0-9+.-]*://)?(?:\*\.)?(?:[A-Za-z0-9_*-]+|<[^<>\s]{1,40}>|\{[^{}\s]{1,40}\})"
    r"(?:[.-](?:[A-Za-z0-9_*-]+|<[^<>\s]{1,40}>|\{[^{}\s]{1,40}\}))*\.(?:[A-Za-z0-9_*-]+|<[^<>\s]{1,40}>)"
    r"(?::\d{1,5})?(?:/[^\s<>\"'`)\],|]*)?", re.I)
# the same pattern without ``re.I`` (only the scheme's letters have a case), for ASCII words: every
# character comparison under ``re.I`` folds case first, and this runs on every dotted word of a page
_HOSTISH_ASCII = re.compile(_HOSTISH.pattern.replace("[a-z][a-z0-9+.-]*://", "[A-Za-z][A-Za-z0-9+.-]*://", 1))
_TRAIL = ".,;:)\"'`"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_PORT = re.compile(r":\d{1,5}$")


@dataclass
class Token:
    value: str  # as written
    key: str  # normalized identity (see module docstring)
    kind: str  # endpoint kind or "tag"
    line: int | None
    section: list[str]
    aside: str | None = None  # why the page context sets it aside, if it does


@dataclass
class Coverage:
    """Counts of distinct host/URL/IP/CIDR/tag-like tokens on one page."""

    seen: int = 0
    in_rules: int = 0
    set_aside: int = 0
    unparsed: int = 0

    @property
    def ratio(self) -> float:
        """Share of tokens accounted for (in a rule or set aside); 1.0 for a page with none."""
        return 1.0 if not self.seen else (self.in_rules + self.set_aside) / self.seen

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 4)}

    def summary(self) -> str:
        return (f"coverage: {self.seen} tokens seen, {self.in_rules} in rules, {self.set_aside} set aside, "
                f"{self.unparsed} unparsed ({self.ratio:.0%})")


@memo
def _key(value: str) -> str:
    v = _SCHEME.sub("", value.strip().strip(_TRAIL).lower())
    host, _, path = v.partition("/")
    host = _PORT.sub("", host)
    path = path.rstrip("/")
    return f"{host}/{path}" if path else host


def _host_tokens(text: str) -> Iterator[tuple[str, str]]:
    if "." not in text or not _DOTTED.search(text):
        return
    # no token holds whitespace, so scanning each dotted word finds the same tokens, skipping the
    # plain words (most of the text) the pattern would otherwise be tried at, character by character
    for m in (m for word in text.split() if "." in word
              for m in (_HOSTISH_ASCII if word.isascii() else _HOSTISH).finditer(word)):
        tok = m.group(0).rstrip(_TRAIL)
        if _FILE_EXT.search(tok.rstrip("/")) or tok[:1].isupper() and "://" not in tok:
            continue  # a file name; "Outlook.com", "ASP.NET", "AzureCloud.Region" are names or tags
        kind = endpoint_kind(tok) or endpoint_kind(_PORT.sub("", tok))
        if kind:
            yield tok, kind


_WHOLE_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,58}(?:\.[A-Za-z0-9<>{}_]+)?$", re.M)


def _tag_tokens(text: str, code: list[str], *, whole_cells: bool = False) -> Iterator[str]:
    """Known tags in code spans, in CamelCase/dotted words, and (``whole_cells``: one table item
    per line of ``text``) items that are a tag name on their own ("Storage"; "Microsoft Container
    Registry" in a purpose cell is a service's name, not a tag)."""
    for c in code:
        tag = canonical_tag(c) if " " not in c else None
        if tag:
            yield tag
    if whole_cells:
        for m in _WHOLE_TAG.finditer(text):
            tag = canonical_tag(m.group(0))
            if tag:
                yield tag
    if not _tagish(text):
        return
    for m in _TAG_TOKEN.finditer(text):
        word = m.group(0)
        if "." not in word and word[1:].islower():
            continue  # "Azure", "Storage": a capital then lower-case only, which _CAMEL never matches
        if _CAMEL.match(word):
            tag = canonical_tag(word)
            if tag:
                yield tag


def _unmarked(item: str, footnotes: list[str]) -> str:
    """An item without the footnote mark glued to its end ("login.microsoftonline.us1", "host*")."""
    for f in footnotes:
        if f and item.endswith(f) and len(item) > len(f) and not (f.isdigit() and item[-len(f) - 1].isdigit()):
            return item[: -len(f)]
    if item.endswith("*") and item[-2:-1].isalpha():
        return item[:-1]
    return item


_EXAMPLE_COLUMN = re.compile(r"\b(examples?|e\.g\.|sample)\b", re.I)
_PLACEHOLDER_IP = re.compile(r"(?:[0-9x]{1,3}\.){3}[0-9x]{1,3}(?:/[0-9xy]{1,3})?", re.I)


def _placeholder(tok: str) -> str | None:
    """``x.x.x.x/y``, ``10.x.x.x``: a pattern to fill in, not an address."""
    return "an address pattern to fill in, not an address" if (
        "x" in tok.lower() and _PLACEHOLDER_IP.fullmatch(tok)) else None


def page_tokens(doc: Document) -> list[Token]:
    """Every host/URL/IP/CIDR/tag-like token of the page's content, in page order (not deduplicated).

    A table is scanned as one text (an item per line: no token spans a line), since its tokens
    share the table's line and section."""
    out: list[Token] = []
    for t in doc.tables:
        examples = {i for i, h in enumerate(t.columns) if _EXAMPLE_COLUMN.search(h or "")}
        for shown in (False, True) if examples else (False,):
            cells = [cell for row in t.rows for i, cell in enumerate(row) if (i in examples) == shown]
            text = "\n".join(_unmarked(item, cell.footnotes) for cell in cells for item in (cell.items or [cell.text]))
            code = [c for cell in cells for c in cell.code]
            aside = "in an example column" if shown else None
            for tok, kind in _host_tokens(text):
                out.append(Token(tok, _key(tok), kind, t.line, list(t.headings), aside or _placeholder(tok)))
            for tag in _tag_tokens(text, code, whole_cells=True):
                out.append(Token(tag, _key(tag), "tag", t.line, list(t.headings), aside))
    for b in doc.blocks:
        if not (_DOTTED.search(b.text) or _tagish(b.text)):
            continue  # no dotted name and no tag-like word: no token
        context_aside = "example or sample context" if (
            _EXAMPLE_CONTEXT.search(b.lead_in or "") or (b.headings and _EXAMPLE_HEADING.search(b.headings[-1]))
        ) else None
        if b.kind == "code":
            aside = context_aside or "in a command/script/config code block, not an allowlist"
            for tok, kind in _host_tokens(b.text):
                out.append(Token(tok, _key(tok), kind, b.line, list(b.headings), aside))
            continue
        if b.kind == "list_item" and b.lead_in and _NEG.search(b.lead_in):
            context_aside = context_aside or "in a list under a negated lead-in"
        flattened = len(b.text) > MAX_PARAGRAPH  # a text dump: nothing was read from it, nothing set aside
        said = sentences(b.text)
        for n, s in enumerate(said):
            aside = None if flattened else context_aside or ("in a negated sentence" if _NEG.search(s) else None) or (
                "the next sentence says it needs no rule" if n + 1 < len(said) and NO_RULE_NEEDED.search(said[n + 1]) else None)
            example = _EXAMPLE.search(s) is not None and not flattened
            for tok, kind in _host_tokens(s):
                why = aside or ("an example in the sentence" if example and (
                    _EXAMPLE_PARTY.search(tok) or kind in ("ip", "cidr")) else None) or (
                    "example domain (fictitious company name)" if _EXAMPLE_PARTY.search(tok) else None) or _placeholder(tok) or (
                    passing_mention(s, kind, tok) if b.kind != "list_item" or not readers_network(kind, tok) else None) or (
                    "a reserved range or one not to overlap" if kind in ("ip", "cidr", "ip_range") and _RESERVED_WORDS.search(s)
                    else None)
                out.append(Token(tok, _key(tok), kind, b.line, list(b.headings), why))
            for tag in _tag_tokens(s, [c for c in b.code if c in s]):
                out.append(Token(tag, _key(tag), "tag", b.line, list(b.headings), aside))
    return out


_RESERVED_WORDS = re.compile(r"\breserved\b|\boverlap", re.I)  # ("The range `10.0.1.0 - 10.0.16.255` is reserved by the service")


def _rule_keys(rules: list[Rule]) -> set[str]:
    keys: set[str] = set()
    for r in rules:
        for v in (r.endpoint, r.service_tag):
            if v:
                keys.add(_key(v))
                keys.add(v.strip().lower())
        for side in (r.source, r.destination):
            for v in (side or "").split(" / "):
                if v.strip():
                    keys.add(_key(v))
        if r.endpoint_kind == "ip_range" and r.endpoint:
            keys.update(p.strip() for p in r.endpoint.split("-"))
        if r.endpoint_kind == "url" and r.endpoint:
            keys.add(_key(r.endpoint).split("/", 1)[0])
    return keys


def _aside_keys(diagnostics: list[Diagnostic] | None) -> set[str]:
    return {_key(d.token) for d in diagnostics or [] if d.code == "not-a-rule" and d.token} | {
        d.token.strip().lower() for d in diagnostics or [] if d.code == "not-a-rule" and d.token}


def _classify(doc: Document, rules: list[Rule], diagnostics: list[Diagnostic] | None) -> tuple[Coverage, list[Token]]:
    in_rules, aside_keys = _rule_keys(rules), _aside_keys(diagnostics if diagnostics is not None else doc.diagnostics)
    first: dict[str, Token] = {}
    state: dict[str, str] = {}
    for tok in page_tokens(doc):
        k = tok.key
        if k in in_rules or k.split("/", 1)[0] in in_rules and tok.kind == "url":
            state[k] = "rule"
        elif state.get(k) != "rule":
            if k in aside_keys or tok.value.lower() in aside_keys or tok.aside:
                state[k] = "aside"
            elif k not in state:
                state[k] = "unparsed"
        first.setdefault(k, tok)
    cov = Coverage(seen=len(state))
    unparsed: list[Token] = []
    for k, st in state.items():
        if st == "rule":
            cov.in_rules += 1
        elif st == "aside":
            cov.set_aside += 1
        else:
            cov.unparsed += 1
            unparsed.append(first[k])
    return cov, unparsed


def coverage_counts(doc: Document, rules: list[Rule], diagnostics: list[Diagnostic] | None = None) -> Coverage:
    """Tokens seen / in rules / set aside / unparsed for one parsed page and its normalized rules.
    ``diagnostics`` defaults to the document's own (where ``extract`` puts normalize's notes)."""
    return _classify(doc, rules, diagnostics)[0]


def coverage_diagnostics(doc: Document, rules: list[Rule], diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """``unparsed`` diagnostics for tokens that ended in no rule and were not set aside."""
    _, unparsed = _classify(doc, rules, [*doc.diagnostics, *diagnostics])
    return [Diagnostic("unparsed", f"{t.value} ({t.kind}) is on the page but in no rule", t.line, "info",
                       token=t.value, section=list(t.section)) for t in unparsed]
