"""DocFX-flavoured markdown (MicrosoftDocs repos) → :class:`~parsers.model.Document`.

Two stages, both linear in the input size:

1. **Line pass** (:class:`_Lines`): strip front matter (tolerating a few junk lines
   before it), inline ``[!INCLUDE]`` files (each output line remembers its file and
   line), turn tab headings and the closing ``---`` into *tab events* at line
   positions, blank out ``:::`` directives, and repair tables markdown-it would drop
   or mangle: a missing blank line before a table (folded into a blockquote, list
   item or paragraph), a pipe-less line glued after a table, a header/delimiter
   column-count mismatch, an over-indented delimiter row.
2. **Token pass** (:class:`_Walker`): markdown-it-py parses the repaired text; a flat
   walk over the block tokens tracks headings, tabs (from the events), containers
   (for the lead-in) and extracts tables and code-host lists.

Lead-in rule (shared with the HTML parser for parity): the cleaned text of the
nearest preceding *sibling* block of the table/list inside the same container
(page, list item, blockquote, tab panel), skipping alerts (``> [!NOTE]`` …) and
paragraphs with no visible text; it is that block's text only if it is a paragraph
(a bold line is a paragraph), otherwise ``None``. A tab panel starts a new container,
so the first block of a panel has no lead-in from outside the panel.

Headings are tracked in document order (as the HTML parser sees them): tab titles are
tabs, not headings, and a heading inside a tab panel stays on the path after the panel.
Tab groups nest only when a tab heading has a deeper level than the open group's;
``:::`` directive lines are dropped (their content kept); whole-line includes are
expanded inside the container (list item, blockquote) of the include line.

The parser never raises: unexpected errors become an ``internal-error`` diagnostic
and the tables found so far are returned.
"""
from __future__ import annotations

import importlib
import json
import logging
import posixpath
import re
from string import ascii_letters, digits
from dataclasses import dataclass, field
from types import FunctionType, SimpleNamespace
from typing import Any, Callable

from markdown_it import MarkdownIt

from parsers._mdcells import cell_from_tokens
from parsers.cells import merge_surplus
from parsers.model import (Block, Cell, Diagnostic, Document, Tab, Table, clean_text, code_lang, enter_heading,
                           introduces_following, iso_date)

log = logging.getLogger(__name__)

Loader = Callable[[str], "str | None"]

MAX_INCLUDE_DEPTH = 8
_JUNK_LINES = 10  # junk lines tolerated before the front matter (scraper banners)

_PREFIX = re.compile(r"[ \t>]*")
_QUOTES = re.compile(r"[ \t]*>")
_FENCE = re.compile(r"[ \t>]*(`{3,}|~{3,})")
# A tab heading or closing ``---`` becomes this comment line: like the tab panel boundary it is in
# the rendered page, it ends the list or paragraph before it (a blank line would merge two lists).
_TAB_BOUNDARY = "<!-- tab -->"
_TAB_HEADING = re.compile(r"[ \t]{0,3}(#{1,6})[ \t]+\[(.*)\]\(#tab/([^)\s]+)\)[ \t]*#*[ \t]*$")
_INCLUDE = re.compile(r"\[!INCLUDE[ \t]*\[([^\]]*)\][ \t]*\(([^)]*)\)[ \t]*\]", re.I)
_DIRECTIVE = re.compile(r"[ \t>]*:::")
_FM_KEY = re.compile(r"[A-Za-z_][\w.\-]*[ \t]*:")
_ALERT = re.compile(r"\s*\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]", re.I)


def _track_fence(text: str, fence: str | None) -> tuple[str | None, bool]:
    """Code-fence state after line ``text``: (the open fence's marker or ``None``, whether
    ``text`` is itself a fence line). Includes, tabs and table repairs never apply inside code."""
    fm = _FENCE.match(text)
    if not fm:
        return fence, False
    mark = fm.group(1)
    if fence is None:
        return mark[0] * 3, True
    return (None if mark.startswith(fence) else fence), True


def _fast_table_rule() -> Callable[..., bool]:
    """markdown-it's own table rule, its ``escapedSplit`` (a Python loop over every character of
    every row) answered by ``str.split`` for a row with no backslash: with no escape the loop
    splits on every pipe, so the tokens are the same."""
    rule = importlib.import_module("markdown_it.rules_block.table")  # the module (the package exports the function)

    def split(string: str) -> list[str]:
        return string.split("|") if "\\" not in string else rule.escapedSplit(string)

    fn = rule.table
    return FunctionType(fn.__code__, {**vars(rule), "escapedSplit": split}, fn.__name__, fn.__defaults__, fn.__closure__)


def _fast_normalize_link() -> Callable[[str], str]:
    """markdown-it's ``normalizeLink`` with ``mdurl.encode`` (a Python loop over every character)
    skipped for a URL made only of the characters it leaves as they are (letters, digits and its
    default safe set; no ``%``): such a URL encodes to itself."""
    module = importlib.import_module("markdown_it.common.normalize_url")
    mdurl = module.mdurl  # markdown-it's own dependency, as it calls it (not one of ours)
    safe = frozenset(ascii_letters + digits + mdurl.ENCODE_DEFAULT_CHARS)

    def encode(string: str, exclude: str = mdurl.ENCODE_DEFAULT_CHARS, *, keep_escaped: bool = True) -> str:
        if exclude == mdurl.ENCODE_DEFAULT_CHARS and safe.issuperset(string):
            return string
        return mdurl.encode(string, exclude, keep_escaped=keep_escaped)

    shim = SimpleNamespace(parse=mdurl.parse, format=mdurl.format, encode=encode)
    fn = module.normalizeLink
    return FunctionType(fn.__code__, {**vars(module), "mdurl": shim}, fn.__name__, fn.__defaults__, fn.__closure__)


_PLAIN_DESTINATION = re.compile(r"[^\x00-\x20\x7f\\()]*")


def _fast_link_helpers() -> Any:
    """markdown-it's link helpers, ``parseLinkDestination`` (a Python loop over every character)
    answered at C speed for the usual destination: not in ``<…>`` and holding no backslash or
    parenthesis, it ends at the first space, control character or ``)``, as the loop finds."""
    from markdown_it import helpers
    from markdown_it.common.utils import unescapeAll

    stock = helpers.parseLinkDestination

    def parse_link_destination(string: str, pos: int, maximum: int) -> Any:
        if pos >= maximum or string[pos] == "<":
            return stock(string, pos, maximum)
        end = _PLAIN_DESTINATION.match(string, pos, maximum).end()
        if end < maximum and string[end] not in " )" and string[end] > " " and string[end] != "\x7f":
            return stock(string, pos, maximum)  # a backslash or parenthesis: the loop's own rules
        result = stock(string, pos, pos)  # the empty result (start == pos)
        if end > pos:
            result.str, result.pos, result.ok = unescapeAll(string[pos:end]), end, True
        return result

    return SimpleNamespace(**{**{k: getattr(helpers, k) for k in helpers.__all__},
                              "parseLinkDestination": parse_link_destination})


# Characters at which one of the commonmark preset's inline rules can fire (newline, escape, backticks,
# emphasis, link, image, autolink, html_inline, entity; "~" for strikethrough, were it enabled). At
# any other character, a terminator or not, every rule declines and the tokenizer adds it to the
# pending text.
_INLINE_SPECIAL = re.compile(r"[\n!&*<\[\\\]_`~]")


def _fast_inline_parse(md: MarkdownIt) -> Callable[..., Any]:
    """``md.inline.parse`` answered without the rule loop for text holding none of the characters
    an inline rule starts at (most table cells: ``TCP``, ``443``, ``login.microsoftonline.com``):
    the stock tokenizer makes of such text one ``text`` token holding all of it, and its
    post-processing rules (delimiters, fragment joins) leave that one token as it is."""
    stock = md.inline.parse
    rules = {r.name for r in md.inline.ruler.__rules__ if r.enabled}
    post = {r.name for r in md.inline.ruler2.__rules__ if r.enabled}
    if (not rules <= {"text", "newline", "escape", "backticks", "emphasis", "link", "image", "autolink", "html_inline",
                      "entity", "strikethrough"}
            or not post <= {"balance_pairs", "emphasis", "strikethrough", "fragments_join"}):
        raise ValueError(f"inline rules not covered: {sorted(rules | post)}")
    special = _INLINE_SPECIAL.search
    token = importlib.import_module("markdown_it.token").Token

    def parse(src: str, md_: Any, env: Any, tokens: list[Any]) -> list[Any]:
        if special(src) is None and md_ is md:
            if src:
                tokens.append(token("text", "", 0, content=src))
            return tokens
        return stock(src, md_, env, tokens)

    return parse


def _shim(build: Callable[[], Any]) -> Any:
    """``build()``, or ``None`` (markdown-it's stock code) when it leans on internals this
    markdown-it / mdurl version lays out otherwise."""
    try:
        return build()
    except Exception:  # pragma: no cover - another markdown-it / mdurl layout
        log.debug("markdown-it shim %s not applied", build.__name__, exc_info=True)
        return None


_TABLE_RULE = _shim(_fast_table_rule)
_NORMALIZE_LINK = _shim(_fast_normalize_link)
_LINK_HELPERS = _shim(_fast_link_helpers)


def _new_md() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    if _TABLE_RULE is not None:
        alt = next(r.alt for r in md.block.ruler.__rules__ if r.name == "table")
        md.block.ruler.at("table", _TABLE_RULE, {"alt": list(alt)})
    if _NORMALIZE_LINK is not None:
        md.normalizeLink = _NORMALIZE_LINK  # type: ignore[method-assign]
    if _LINK_HELPERS is not None:
        md.helpers = _LINK_HELPERS
    fast_inline = _shim(lambda: _fast_inline_parse(md))
    if fast_inline is not None:
        md.inline.parse = fast_inline  # type: ignore[method-assign]  (this instance's parser only)
    return md


# Built once (``parse``/``parseInline`` keep no state on the instance between calls):
# inline parses run per tab heading and per surplus cell.
_MD = _new_md()
# block structure only (no inline pass): enough to see which lines a renderer makes tables of
_MD_BLOCKS = _new_md().disable(["inline", "text_join"])


# ---------------------------------------------------------------------------
# front matter
# ---------------------------------------------------------------------------

def _scalar(v: str) -> Any:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    if v.startswith("[") and v.endswith("]"):
        return [_scalar(x) for x in v[1:-1].split(",") if x.strip()]
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


def _parse_front_matter(lines: list[str]) -> dict[str, Any]:
    """Minimal YAML subset used by DocFX front matter: ``key: value`` and ``- item`` lists."""
    meta: dict[str, Any] = {}
    key: str | None = None
    for raw in lines:
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw[:1] in " \t-" and key is not None:
            s = raw.strip()
            if s.startswith("- "):
                cur = meta.get(key)
                if not isinstance(cur, list):
                    cur = [] if cur in (None, "") else [cur]
                cur.append(_scalar(s[2:]))
                meta[key] = cur
            elif isinstance(meta.get(key), str):
                meta[key] = (meta[key] + " " + s).strip()
            continue
        k, sep, v = raw.partition(":")
        if not sep:
            continue
        key = k.strip()
        v = v.strip()
        if " #" in v and not v.startswith(("'", '"')):
            v = v.split(" #", 1)[0].strip()
        meta[key] = _scalar(v) if v else ""
    return meta


def _split_front_matter(lines: list[str], *, tolerate_junk: bool) -> tuple[dict[str, Any], int, int]:
    """Return (meta, index of first body line, number of junk lines skipped)."""
    starts = range(min(_JUNK_LINES, len(lines))) if tolerate_junk else range(min(1, len(lines)))
    for start in starts:
        if lines[start].strip() != "---":
            if not lines[start].strip() and start == 0:
                continue
            if not tolerate_junk:
                break
            continue
        body: list[str] = []
        for j in range(start + 1, min(len(lines), start + 400)):
            s = lines[j].rstrip()
            if s in ("---", "..."):
                keys = [b for b in body if b.strip() and not b.lstrip().startswith("#")
                        and b[:1] not in " \t-"]
                if keys and all(_FM_KEY.match(b) for b in keys):
                    return _parse_front_matter(body), j + 1, start
                break
            body.append(lines[j])
        break
    return {}, 0, 0


# ---------------------------------------------------------------------------
# line pass
# ---------------------------------------------------------------------------

@dataclass
class _Line:
    text: str
    src: str | None  # include path, None for the page itself
    no: int  # 1-based line number in src
    depth: int = 0  # include nesting depth (0: the page itself)


@dataclass
class _TabEvent:
    index: int  # line index in the repaired text before which the event applies
    kind: str  # "open" | "switch" | "close"
    tab: Tab | None
    level: int


def _split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _split_row(s: str) -> list[str]:
    """Split a table row on unescaped pipes (markdown-it's escapedSplit semantics)."""
    s = s.strip()
    if "\\" not in s:  # no escapes: a plain split (same result, C speed)
        out = s.split("|")
        if s.startswith("|"):
            out = out[1:]
        if len(out) > 1 and s.endswith("|"):
            out = out[:-1]
        return out
    out: list[str] = []
    cur: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            cur.append(s[i:i + 2])
            i += 2
            continue
        if c == "|":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    if s.startswith("|"):
        out = out[1:]
    if len(out) > 1 and s.endswith("|") and not s.endswith("\\|"):
        out = out[:-1]
    return out


def _is_delimiter(s: str) -> bool:
    s = s.strip()
    if "-" not in s or "|" not in s:
        return False
    parts = _split_row(s)
    if not parts:
        return False
    for p in parts:
        p = p.strip()
        if not p:
            return False
        core = p[1:] if p.startswith(":") else p
        core = core[:-1] if core.endswith(":") else core
        if not core or core.strip("-"):
            return False
    return True


def _content(text: str) -> tuple[str, str]:
    """Split a line into its container prefix (spaces, tabs, ``>``) and the rest."""
    m = _PREFIX.match(text)
    return text[:m.end()], text[m.end():]


def _quote_prefix(text: str) -> str:
    """The ``>`` markers of a line, as a blank line that stays in the same blockquotes."""
    m = _QUOTES.match(text)
    pref = ""
    pos = 0
    while m:
        pref += ">"
        pos = m.end()
        m = _QUOTES.match(text, pos)
    return pref


class _Lines:
    """The line pass: includes, front matter, tabs, directives, table repairs."""

    def __init__(self, text: str, path: str | None, loader: Loader | None, diags: list[Diagnostic]):
        self.path = path
        self.loader = loader
        self.diags = diags
        self.meta: dict[str, Any] = {}
        raw = _split_lines(text.lstrip("\ufeff"))
        self.meta, body, junk = _split_front_matter(raw, tolerate_junk=True)
        if junk:
            diags.append(Diagnostic("junk-before-front-matter",
                                    f"{junk} line(s) before the front matter ignored", 1, "info"))
        first = [_Line(raw[i], None, i + 1) for i in range(body, len(raw))]
        self.lines: list[_Line] = self._expand(first, path, 0, (path or "",))
        self.events: list[_TabEvent] = []
        self.lines = self._tabs_and_directives(self.lines)
        self.unrepaired = list(self.lines)
        self.origins_rendered: set[tuple[str | None, int | None]] | None = None
        self.repaired = False
        self.lines = self._repair_tables(self.lines)

    # -- includes ------------------------------------------------------------
    def _expand(self, lines: list[_Line], cur_path: str | None, depth: int,
                stack: tuple[str, ...]) -> list[_Line]:
        out: list[_Line] = []
        fence: str | None = None
        for ln in lines:
            t = ln.text
            fence, _ = _track_fence(t, fence)
            if fence is not None or "[!" not in t or "include" not in t.lower():
                out.append(ln)
                continue
            m = _INCLUDE.search(t)
            if not m or t[m.end():].strip():
                out.append(ln)
                continue
            prefix = t[:m.start()]
            if prefix.strip(" \t>") and not re.fullmatch(r"[ \t>]*(?:[*+-]|\d{1,9}[.)])[ \t]+", prefix):
                out.append(ln)  # an inline include inside text: leave it as text
                continue
            out.extend(self._include(m.group(2), prefix, ln, cur_path, depth, stack))
        return out

    def _include(self, rel: str, prefix: str, ln: _Line, cur_path: str | None, depth: int,
                 stack: tuple[str, ...]) -> list[_Line]:
        rel = rel.strip().strip("<>").split("#", 1)[0].strip()
        where = f"{ln.src or self.path or '<page>'}:{ln.no}"
        blank = [_Line(_quote_prefix(prefix), ln.src, ln.no, ln.depth)]  # stays at the include line's depth
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(cur_path or ""), rel)) if rel else ""
        if not rel:
            self.diags.append(Diagnostic("missing-include", f"empty include path at {where}", ln.no))
            return blank
        if resolved in stack:
            self.diags.append(Diagnostic("include-cycle", f"include cycle: {resolved} at {where}", ln.no))
            return blank
        if depth >= MAX_INCLUDE_DEPTH:
            self.diags.append(Diagnostic("include-depth",
                                         f"include depth > {MAX_INCLUDE_DEPTH}: {resolved} at {where}", ln.no))
            return blank
        text: str | None = None
        if self.loader is not None:
            try:
                text = self.loader(resolved)
            except Exception as exc:  # a loader failure is a missing include, not a crash
                log.debug("loader failed for %s: %s", resolved, exc)
                text = None
        if text is None:
            self.diags.append(Diagnostic("missing-include", f"include not found: {resolved} at {where}", ln.no))
            return blank
        raw = _split_lines(str(text).lstrip("\ufeff"))
        _, body, _ = _split_front_matter(raw, tolerate_junk=False)
        inner = [_Line(raw[i], resolved, i + 1, depth + 1) for i in range(body, len(raw))]
        inner = self._expand(inner, resolved, depth + 1, stack + (resolved,))
        # keep the included block inside the container the include line was in
        cont = re.sub(r"(?:[*+-]|\d{1,9}[.)])[ \t]+$", lambda m: " " * len(m.group(0)), prefix)
        out: list[_Line] = []
        for k, il in enumerate(inner):
            p = prefix if k == 0 else cont
            if not il.text.strip():
                p = _quote_prefix(p) if k else p.rstrip() if p.strip(" \t>") else _quote_prefix(p)
            out.append(_Line(p + il.text, il.src, il.no, il.depth))
        return out or blank

    # -- tabs and directives ---------------------------------------------------
    def _tabs_and_directives(self, lines: list[_Line]) -> list[_Line]:
        out: list[_Line] = []
        fence: str | None = None
        levels: list[int] = []  # heading level of each open tab group, outermost first
        opened_at: list[tuple[int, str | None]] = []  # include depth and file that opened each group
        skip_until: str | None = None
        skipped = 0
        for ln in lines:
            t = ln.text
            if skip_until is not None:  # inside a multi-line :::image (long description)
                skipped += 1
                if skip_until in t or skipped > 200:
                    skip_until = None
                continue
            while opened_at and ln.depth < opened_at[-1][0]:
                # DocFX renders an include on its own: a tab group it opens ends with it
                levels.pop()
                _, where = opened_at.pop()
                self.events.append(_TabEvent(len(out), "close", None, 0))
                self.diags.append(Diagnostic("include-unclosed-tab", f"tab group opened in {where} not closed "
                                             "by a '---' line: closed at the end of the include", ln.no, "info"))
            fence, is_fence = _track_fence(t, fence)
            if is_fence or fence is not None:
                out.append(ln)
                continue
            if "#tab/" in t:
                m = _TAB_HEADING.match(t)
                if m:
                    level = len(m.group(1))
                    tab = Tab(_inline_text(m.group(2)), m.group(3))
                    kind = "open"
                    while levels and levels[-1] > level:
                        levels.pop()
                        opened_at.pop()
                        self.events.append(_TabEvent(len(out), "close", None, level))
                    if levels and levels[-1] == level:
                        kind = "switch"
                    else:
                        levels.append(level)
                        opened_at.append((ln.depth, ln.src))
                    self.events.append(_TabEvent(len(out), kind, tab, level))
                    out.append(_Line(_quote_prefix(t) + _TAB_BOUNDARY, ln.src, ln.no))
                    continue
            if levels and t.rstrip() == "---":
                levels.pop()
                opened_at.pop()
                self.events.append(_TabEvent(len(out), "close", None, 0))
                out.append(_Line(_quote_prefix(t) + _TAB_BOUNDARY, ln.src, ln.no))
                continue
            if _DIRECTIVE.match(t):
                # dropped, not blanked: the text around a moniker/zone/row line stays
                # one block, as a renderer that shows the directive as text would have it
                body = t.strip(" \t>")
                if body.startswith(":::image") and ('type="complex"' in body or "type='complex'" in body):
                    if ":::image-end:::" not in body:
                        skip_until, skipped = ":::image-end:::", 0
                elif body.startswith(":::image") and not body.rstrip().endswith(":::"):
                    skip_until, skipped = ":::", 0
                continue
            out.append(ln)
        if levels:
            self.diags.append(Diagnostic("unclosed-tab",
                                         f"{len(levels)} tab group(s) not closed by a '---' line",
                                         lines[-1].no if lines else None))
        return out

    # -- table repairs -----------------------------------------------------------
    def _repair_tables(self, lines: list[_Line]) -> list[_Line]:
        """The table repair pass: each table start (a row with pipes over a delimiter row, in the
        same blockquotes) gets a blank line before it, a usable delimiter row and a clean end, so
        markdown-it reads it as a table; tab events move down by the lines inserted above them."""
        out: list[_Line] = []
        fence: str | None = None
        n = len(lines)
        i = 0
        event_shift: list[int] = [0] * (n + 1)  # inserted lines before original index
        inserted = 0
        while i < n:
            event_shift[i] = inserted
            ln = lines[i]
            fence, _ = _track_fence(ln.text, fence)
            if fence is not None or not _starts_table(lines, i):
                out.append(ln)
                i += 1
                continue
            if self._blank_before(out, ln):
                inserted += 1
                event_shift[i] = inserted
            out.append(ln)
            pre, body = _content(ln.text)
            out.append(self._delimiter_row(ln, lines[i + 1], pre, body))
            i, inserted = self._table_rows(lines, i + 2, pre, out, event_shift, inserted)
        event_shift[n] = inserted
        for ev in self.events:
            ev.index = ev.index + event_shift[min(ev.index, n)]
        return out

    def _blank_before(self, out: list[_Line], header: _Line) -> bool:
        """A table glued under a paragraph, list item or quote line: insert the blank line
        CommonMark needs before it (inside the same blockquotes). True when one was inserted."""
        prev = out[-1].text if out else ""
        if not _content(prev)[1].strip() or _FENCE.match(prev):
            return False
        out.append(_Line(_quote_prefix(header.text), header.src, header.no))
        self.repaired = True
        return True

    def _delimiter_row(self, header: _Line, delim: _Line, pre: str, body: str) -> _Line:
        """The delimiter row as markdown-it needs it: one cell per header cell (a mismatch is a
        ``table-header-mismatch`` diagnostic), not indented into a code block."""
        npre, nbody = _content(delim.text)
        ncells = len(_split_row(body))
        if ncells != len(_split_row(nbody)):
            self.diags.append(Diagnostic(
                "table-header-mismatch",
                f"header has {ncells} cells, delimiter row {len(_split_row(nbody))}: table recovered "
                f"({header.src or self.path or '<page>'}:{header.no})", header.no))
            self.repaired = True
            return _Line(pre + "|" + "---|" * ncells, delim.src, delim.no)
        if len(npre.replace(">", "").expandtabs(4)) - len(pre.replace(">", "").expandtabs(4)) >= 4:
            self.repaired = True
            return _Line(pre + nbody.strip(), delim.src, delim.no)
        return delim

    def _table_rows(self, lines: list[_Line], j: int, pre: str, out: list[_Line], event_shift: list[int],
                    inserted: int) -> tuple[int, int]:
        """Copy the body rows from ``j``; a pipe-less line glued after the last row (or one that
        leaves the table's blockquotes) gets a blank line first, so it is not read as a row.
        Returns the index after the table and the updated count of inserted lines."""
        while j < len(lines):
            event_shift[j] = inserted
            rt = lines[j].text
            rpre, rbody = _content(rt)
            if not rbody.strip() or _FENCE.match(rt):
                break
            if "|" not in rbody or _quote_prefix(rpre) != _quote_prefix(pre):
                out.append(_Line(_quote_prefix(pre), lines[j].src, lines[j].no))
                self.repaired = True
                return j, inserted + 1
            out.append(lines[j])
            j += 1
        return j, inserted


def _starts_table(lines: list[_Line], i: int) -> bool:
    """Line ``i`` holds pipes and the next line is a delimiter row in the same blockquotes."""
    t = lines[i].text
    if "|" not in t or i + 1 >= len(lines):
        return False
    pre, body = _content(t)
    npre, nbody = _content(lines[i + 1].text)
    return "|" in body and _is_delimiter(nbody) and _quote_prefix(pre) == _quote_prefix(npre)


def _inline_text(s: str) -> str:
    try:
        toks = _MD.parseInline(s)
        return cell_from_tokens(toks[0].children if toks else [], split=False).text
    except Exception:
        return clean_text(s)


# ---------------------------------------------------------------------------
# token pass
# ---------------------------------------------------------------------------

@dataclass
class _Frame:
    kind: str  # "root" | "list_item" | "blockquote" | "alert" | "bullet_list" | "ordered_list" | "tab"
    last: str | None = None  # lead-in candidate (text of the previous sibling paragraph) or None
    items: list[Any] = field(default_factory=list)  # bullet list: token index of each item
    seen: bool = False  # a paragraph was seen in this container (alert marker must come first)
    alert: str | None = None  # NOTE/TIP/… of this container or the nearest enclosing alert
    lead: str | None = None  # list / list item: the lead-in of the list
    depth: int = 0  # list nesting depth
    intro: str | None = None  # alert: its paragraph introducing what follows (see introduces_following)


class _Walker:
    def __init__(self, lines: _Lines, diags: list[Diagnostic], doc: Document):
        self.L = lines
        self.diags = diags
        self.doc = doc
        self.headings: list[tuple[int, str]] = []
        self.tab_stack: list[tuple[Tab, int]] = []  # open tabs (tab, heading level), outermost first
        self.group_leads: list[str | None] = []  # per open tab group: the paragraph before it
        self.label: str = ""  # last heading or bold line text (list column)
        self.frames: list[_Frame] = [_Frame("root")]
        self.src_lines = [ln.text for ln in lines.lines]
        self.memo: dict[str, str] = {}  # cleaned text of plain cells, per document

    # -- helpers ---------------------------------------------------------------
    def origin(self, idx: int | None) -> tuple[str | None, int | None]:
        if idx is None or not self.L.lines:
            return None, None
        ln = self.L.lines[min(max(idx, 0), len(self.L.lines) - 1)]
        return ln.src, ln.no

    def apply_events(self, upto: int) -> None:
        evs = self.L.events
        while self.ev < len(evs) and evs[self.ev].index <= upto:
            e = evs[self.ev]
            self.ev += 1
            if e.kind == "open":
                self.tab_stack.append((e.tab, e.level))
                self.group_leads.append(self.frames[-1].last)
            elif e.kind == "switch" and self.tab_stack:
                self.tab_stack[-1] = (e.tab, e.level)
            elif e.kind == "close" and self.tab_stack:
                self.tab_stack.pop()
                if self.group_leads:
                    self.group_leads.pop()
            # a tab panel boundary: nothing before it is a sibling of what follows, except that
            # the paragraph before the tab group introduces every panel
            for f in self.frames:
                f.last = None
            if e.kind in ("open", "switch") and self.group_leads:
                self.frames[-1].last = self.group_leads[-1]

    def tabs(self) -> list[Tab]:
        return [t for t, _ in self.tab_stack]

    def sibling(self, text: str | None) -> None:
        self.frames[-1].last = text

    # -- walk --------------------------------------------------------------------
    def run(self, tokens: list[Any]) -> None:
        self.ev = 0
        i, n = 0, len(tokens)
        while i < n:
            t = tokens[i]
            if t.map is not None and t.level == 0:
                self.apply_events(t.map[0])
            ty = t.type
            if ty == "heading_open":
                inline = tokens[i + 1] if i + 1 < n else None
                text = cell_from_tokens(inline.children if inline else [], split=False).text
                level = int(t.tag[1]) if t.tag[1:].isdigit() else 6
                enter_heading(self.doc, self.headings, level, text)
                self.label = text
                self.sibling(None)
                i += 3
                continue
            if ty == "paragraph_open":
                inline = tokens[i + 1] if i + 1 < n else None
                children = list(inline.children or []) if inline else []
                f = self.frames[-1]
                if f.kind == "blockquote" and not f.seen:
                    m = _ALERT.match(inline.content if inline else "")
                    if m:
                        f.kind = "alert"
                        f.alert = m.group(1).upper()
                        children = _strip_alert_marker(children)
                f.seen = True
                cell = cell_from_tokens(children, split=False)
                text = cell.text
                if text and f.kind == "alert" and f.intro is None and introduces_following(text):
                    f.intro = text
                if text:
                    self._block(_PARA_KIND.get(f.kind, "paragraph"), text, t, cell,
                                f.lead if f.kind == "list_item" else f.last)
                    self.sibling(text)
                    if _is_bold_line(children):
                        self.label = text
                i += 3
                continue
            if ty in ("blockquote_open", "list_item_open", "bullet_list_open", "ordered_list_open"):
                kind = ty[:-5]
                outer = self.frames[-1]
                fr = _Frame(kind, alert=outer.alert, lead=outer.lead, depth=outer.depth)
                if kind == "blockquote":  # a quoted block continues what introduced it ("**Example:** … are:")
                    fr.last = outer.last
                if ty in ("bullet_list_open", "ordered_list_open"):
                    fr.lead, fr.depth = outer.last, outer.depth + 1
                if ty == "list_item_open" and self.frames[-1].kind == "bullet_list":
                    self.frames[-1].items.append(i)
                self.frames.append(fr)
                i += 1
                continue
            if ty in ("blockquote_close", "list_item_close", "bullet_list_close", "ordered_list_close"):
                fr = self.frames.pop() if len(self.frames) > 1 else self.frames[0]
                if ty == "bullet_list_close":
                    self._maybe_list(tokens, fr, t)
                if fr.kind == "alert":
                    if fr.intro:  # "the following URLs on https://:443": the lead-in of what follows
                        self.sibling(fr.intro)
                    # other alerts are skipped: the previous sibling stays the candidate
                elif ty in ("blockquote_close", "bullet_list_close", "ordered_list_close"):
                    self.sibling(None)
                i += 1
                continue
            if ty == "table_open":
                j = i
                while j < n and tokens[j].type != "table_close":
                    j += 1
                self._table(tokens[i:j + 1])
                self.sibling(None)
                i = j + 1
                continue
            if t.nesting == 0 and t.map is not None and ty not in ("inline",):
                if ty in ("fence", "code_block") and t.content.strip():
                    self._block("code", t.content.rstrip("\n"), t, None, self.frames[-1].last,
                                lang=code_lang(t.info))
                if not (ty == "html_block" and t.content.strip() == _TAB_BOUNDARY):
                    self.sibling(None)  # code block, fence, html block, hr (a tab boundary is handled by its event)
            i += 1
        self.apply_events(len(self.L.lines) + 1)

    def _block(self, kind: str, text: str, tok: Any, cell: Cell | None, lead_in: str | None,
               lang: str | None = None) -> None:
        src, line = self.origin(tok.map[0] if tok.map else None)
        f = self.frames[-1]
        self.doc.blocks.append(Block(
            kind=kind, text=text, headings=[h for _, h in self.headings], tabs=self.tabs(),
            lead_in=lead_in, line=line, source=src, alert=f.alert, lang=lang,
            code=list(cell.code) if cell else [], links=list(cell.links) if cell else [],
            bold=list(cell.bold) if cell else [], depth=f.depth if kind == "list_item" else 0,
        ))

    # -- tables ------------------------------------------------------------------
    def _table(self, toks: list[Any]) -> None:
        start = toks[0].map[0] if toks[0].map else None
        src, line = self.origin(start)
        header: list[Cell] = []
        rows: list[list[Cell]] = []
        row: list[Cell] | None = None
        row_map: Any = None
        in_head = False
        for k, t in enumerate(toks):
            if t.type == "thead_open":
                in_head = True
            elif t.type == "thead_close":
                in_head = False
            elif t.type == "tr_open":
                row = []
                row_map = t.map
            elif t.type == "tr_close" and row is not None:
                if in_head:
                    header = row
                else:
                    rows.append(self._fix_row(row, row_map, len(header)))
                row = None
            elif t.type == "inline" and row is not None:
                row.append(cell_from_tokens(t.children, memo=self.memo))
        table = Table(
            headings=[h for _, h in self.headings],
            tabs=self.tabs(),
            lead_in=self.frames[-1].last,
            columns=[c.text for c in header],
            rows=rows,
            line=line,
            kind="table",
            source=src,
        )
        if self.L.origins_rendered is not None and (src, line) not in self.L.origins_rendered:
            self.diags.append(Diagnostic(
                "recovered-table",
                f"table at {src or self.L.path or '<page>'}:{line} is not rendered as a table by a "
                "CommonMark/GFM renderer (missing blank line, over-indented or mismatched delimiter row)",
                line, "info"))
        self.doc.tables.append(table)

    def _fix_row(self, row: list[Cell], row_map: Any, ncols: int) -> list[Cell]:
        if not row_map:
            return row
        raw = self.src_lines[row_map[0]] if row_map[0] < len(self.src_lines) else ""
        cells = _split_row(_content(raw)[1])
        if len(cells) == ncols or ncols == 0:
            return row
        src, no = self.origin(row_map[0])
        where = f"{src or self.L.path or '<page>'}:{no}"
        if len(cells) < ncols:
            self.diags.append(Diagnostic("ragged-row", f"row has {len(cells)} cells, header {ncols}: "
                                         f"padded ({where})", no))
            return row
        extra = [_cell_from_markdown(c) for c in cells[ncols:]]
        self.diags.append(Diagnostic("ragged-row", f"row has {len(cells)} cells, header {ncols}: surplus "
                                     f"appended to the last cell ({where})", no))
        if not any(c.items for c in extra):
            return row
        return row[:-1] + [merge_surplus(row[-1], extra)]

    # -- code-host lists ---------------------------------------------------------
    def _maybe_list(self, tokens: list[Any], fr: _Frame, close_tok: Any) -> None:
        starts: list[int] = fr.items
        if not starts:
            return
        cells: list[Cell] = []
        for s in starts:
            depth = 0
            k = s
            first_inline = None
            inl: list[Any] = []
            while k < len(tokens):
                tk = tokens[k]
                if tk.type == "list_item_open":
                    depth += 1
                elif tk.type == "list_item_close":
                    depth -= 1
                    if depth == 0:
                        break
                elif tk.type == "inline":
                    if first_inline is None:
                        first_inline = tk
                    if inl:
                        inl.append(_SOFT)
                    inl.extend(tk.children or [])
                k += 1
            if first_inline is None:
                return
            ch = [c for c in (first_inline.children or []) if not (c.type == "text" and not c.content.strip())]
            if not ch or ch[0].type != "code_inline":
                return
            cells.append(cell_from_tokens(inl, split=False))
        start = tokens[starts[0]].map[0] if tokens[starts[0]].map else None
        src, line = self.origin(start)
        self.doc.tables.append(Table(
            headings=[h for _, h in self.headings],
            tabs=self.tabs(),
            lead_in=self.frames[-1].last,
            columns=[self.label],
            rows=[[c] for c in cells],
            line=line,
            kind="list",
            source=src,
        ))


_PARA_KIND = {"list_item": "list_item", "alert": "alert"}


class _Soft:
    type = "softbreak"
    content = ""


_SOFT = _Soft()


def _strip_alert_marker(children: list[Any]) -> list[Any]:
    """Drop the ``[!NOTE]`` marker (and the line break after it) from an alert's first paragraph."""
    out = list(children)
    while out:
        c = out[0]
        if c.type == "text":
            m = _ALERT.match(c.content)
            if m:
                rest = c.content[m.end():]
                out = out[1:]
                if rest.strip():
                    out.insert(0, _Text(rest))
                continue
            if not c.content.strip():
                out = out[1:]
                continue
        if c.type in ("softbreak", "hardbreak"):
            out = out[1:]
            continue
        break
    return out


class _Text:
    type = "text"

    def __init__(self, content: str) -> None:
        self.content = content


def _is_bold_line(children: list[Any]) -> bool:
    ch = [c for c in children if not (c.type == "text" and not c.content.strip())]
    if len(ch) < 2:
        return False
    first, last = ch[0], ch[-1]
    if first.type == "strong_open" and last.type == "strong_close":
        depth = 0
        for k, c in enumerate(ch):
            if c.type == "strong_open":
                depth += 1
            elif c.type == "strong_close":
                depth -= 1
                if depth == 0 and k != len(ch) - 1:
                    return False
        return True
    return False


def _cell_from_markdown(s: str) -> Cell:
    try:
        toks = _MD.parseInline(s.strip())
        return cell_from_tokens(toks[0].children if toks else [])
    except Exception:
        return Cell.from_items([s])


def _jsonable(v: Any) -> Any:
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return str(v)


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------

def parse_markdown(text: str, *, path: str | None = None, loader: Loader | None = None) -> Document:
    """Parse one DocFX markdown page (includes resolved through ``loader``); never raises."""
    doc = Document(format="markdown")
    diags = doc.diagnostics
    try:
        if not isinstance(text, str):
            text = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)
        lines = _Lines(text, path, loader, diags)
        doc.meta = {k: _jsonable(v) for k, v in lines.meta.items()}
        if "ms.date" in doc.meta:
            iso = iso_date(doc.meta["ms.date"])
            if iso:
                doc.meta["doc_date"] = iso
        if lines.repaired:
            # what a plain CommonMark/GFM renderer makes of the unrepaired text: tables it
            # drops are flagged "recovered-table" (parity tests with rendered HTML skip them);
            # a block-level pass is enough for that (tables are blocks) and costs under half a full parse
            rendered = _MD_BLOCKS.parse("\n".join(ln.text for ln in lines.unrepaired))
            origins: set[tuple[str | None, int | None]] = set()
            for t in rendered:
                if t.type == "table_open" and t.map:
                    ln = lines.unrepaired[min(t.map[0], len(lines.unrepaired) - 1)]
                    origins.add((ln.src, ln.no))
            lines.origins_rendered = origins
        tokens = _MD.parse("\n".join(ln.text for ln in lines.lines))
        _Walker(lines, diags, doc).run(tokens)
        if doc.title and "title" not in doc.meta:
            doc.meta["title"] = doc.title
    except Exception as exc:  # the contract: parsers never raise on a document
        log.exception("markdown parser failed")
        diags.append(Diagnostic("internal-error", f"{type(exc).__name__}: {exc}", None, "error"))
    return doc
