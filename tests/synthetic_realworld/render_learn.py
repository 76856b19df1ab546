"""Render a fixture's Learn markdown to the HTML live learn.microsoft.com serves for it.

The tests render each fixture once per run (``tests/rules_support.page``), so the HTML form has
the same content as the markdown form and is never stored beside it; ``python -m
tests.synthetic_realworld.render_learn NAME`` prints one page's HTML. The markup is a live
article's: page chrome (header, left TOC, metadata bar, "In this article", feedback, aside, footer) around ``div.content`` blocks, ``h1`` in its own block, heading
ids, ``div.NOTE``/``div.TIP`` alerts with their title paragraph, ``div.tabGroup`` with a tab list and
one ``section[role=tabpanel]`` per tab (later ones hidden), ``pre > code.lang-*``, relative links
without ``.md`` and ``data-linktype``. Includes are rendered on their own, as DocFX does, so a tab
group opened in an include ends with it. It is test tooling, not part of docwatch.
"""
from __future__ import annotations

import html
import re
import sys
from pathlib import Path

from markdown_it import MarkdownIt

HERE = Path(__file__).resolve().parent
_TAB = re.compile(r"^(#{1,6})[ \t]+\[(.*)\]\(#tab/([^)\s]+)\)[ \t]*$")
_INCLUDE = re.compile(r"^[ \t]*\[!INCLUDE[ \t]*\[[^\]]*\][ \t]*\(([^)]*)\)[ \t]*\][ \t]*$", re.I)
_ALERT = re.compile(r"^>[ \t]*\[!(NOTE|TIP|IMPORTANT|CAUTION|WARNING)\][ \t]*$", re.I)
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_IMAGE = re.compile(r':::image\s[^:]*?source="([^"]*)"[^:]*:::')
_MD = MarkdownIt("commonmark", {"html": True, "langPrefix": "lang-"}).enable("table")


def slug(text: str) -> str:
    """Learn's heading id: lower case, punctuation dropped, each space a hyphen."""
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^a-z0-9 _-]", "", text).replace(" ", "-")


def front_matter(text: str) -> tuple[dict[str, str], str]:
    if not text.startswith("---\n"):
        return {}, text
    end = text.index("\n---\n", 4)
    meta = {}
    for line in text[4:end].splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            meta[k.strip()] = v.strip().strip("'\"")
    return meta, text[end + 5:]


def _markdown(text: str) -> str:
    tokens = _MD.parse(text)
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            tok.attrSet("id", slug(tokens[i + 1].content))
        for child in tok.children or []:
            if child.type == "link_open":
                href = str(child.attrGet("href") or "")
                if href.startswith(("http://", "https://")):
                    child.attrSet("data-linktype", "external")
                elif href.startswith("/"):
                    child.attrSet("data-linktype", "absolute-path")
                elif href.startswith("#"):
                    child.attrSet("data-linktype", "self-bookmark")
                else:
                    child.attrSet("href", re.sub(r"\.md(?=#|$)", "", href))
                    child.attrSet("data-linktype", "relative-path")
    return _MD.renderer.render(tokens, _MD.options, {})


def _plain(chunk: str) -> str:
    """Markdown with no tabs, alerts or includes; ``:::image:::`` becomes the ``img`` Learn serves."""
    return _markdown(_IMAGE.sub(r'<img src="\1" alt="" role="presentation" />', chunk))


class Renderer:
    """Block pass over markdown lines: tabs, alerts and includes; the rest goes to markdown-it."""

    def __init__(self) -> None:
        self.groups = 0

    def render(self, text: str, base: Path) -> str:
        lines = text.splitlines()
        out: list[str] = []
        buf: list[str] = []
        group: list[tuple[str, str, list[str]]] | None = None
        fence = None
        i = 0

        def target() -> list[str]:
            """Where rendered blocks go: the open tab panel, else the page."""
            return group[-1][2] if group is not None else out

        def flush() -> None:
            if buf:
                target().append(_plain("\n".join(buf)))
                buf.clear()

        def close() -> None:
            nonlocal group
            flush()
            if group is not None:
                out.append(self._tabs(group))
                group = None

        while i < len(lines):
            line = lines[i]
            m = _FENCE.match(line)
            if fence or m:
                if m and not fence:
                    fence = m.group(1)
                elif m and m.group(1).startswith(fence):
                    fence = None
                buf.append(line)
                i += 1
                continue
            tab = _TAB.match(line)
            if tab:
                flush()
                if group is None:
                    group = []
                group.append((tab.group(2), tab.group(3), []))
            elif group is not None and line.strip() == "---":
                close()
            elif _INCLUDE.match(line):
                flush()
                path = base / _INCLUDE.match(line).group(1)
                body = front_matter(path.read_text())[1]
                target().append(self.render(body, path.parent))
            elif _ALERT.match(line):
                flush()
                kind = _ALERT.match(line).group(1).upper()
                inner = []
                i += 1
                while i < len(lines) and lines[i].startswith(">"):
                    inner.append(re.sub(r"^>[ \t]?", "", lines[i]))
                    i += 1
                body = self.render("\n".join(inner), base)
                target().append(f'<div class="{kind}">\n<p>{kind.title()}</p>\n{body}</div>\n')
                continue
            else:
                buf.append(line)
            i += 1
        close()
        return "".join(out)

    def _tabs(self, group: list[tuple[str, str, list[str]]]) -> str:
        self.groups += 1
        n = self.groups
        items, panels = [], []
        for k, (label, tab_id, body) in enumerate(group):
            tid = tab_id.replace("/", "-")
            sel = 'tabindex="0" aria-selected="true"' if k == 0 else 'tabindex="-1"'
            items.append(f'<li role="presentation">\n<a href="#tabpanel_{n}_{tid}" role="tab" aria-controls="tabpanel_{n}_{tid}" '
                         f'data-tab="{tab_id}" {sel} data-linktype="self-bookmark">{html.escape(label)}</a>\n</li>\n')
            hidden = "" if k == 0 else ' aria-hidden="true" hidden="hidden"'
            panels.append(f'<section id="tabpanel_{n}_{tid}" role="tabpanel" data-tab="{tab_id}"{hidden}>\n{"".join(body)}</section>\n')
        return f'<div class="tabGroup" id="tabgroup_{n}">\n<ul role="tablist">\n{"".join(items)}</ul>\n{"".join(panels)}</div>\n'


CHROME_HEAD = """<!DOCTYPE html>
<html class="layout layout-holy-grail show-table-of-contents conceptual show-breadcrumb default-focus" lang="en-us" dir="ltr" data-target="docs">
<head>
<meta charset="utf-8" />
<title>{title} | Microsoft Learn</title>
<meta name="description" content="{description}" />
<link rel="canonical" href="https://learn.microsoft.com/en-us/{url}" />
<meta name="ms.date" content="{date}" />
<meta name="ms.service" content="{service}" />
<meta name="ms.topic" content="{topic}" />
<meta name="locale" content="en-us" />
<meta name="original_content_git_url" content="https://github.com/MicrosoftDocs/azure-docs/blob/live/articles/{url}.md" />
<meta name="updated_at" content="{date}" />
<link rel="stylesheet" href="https://learn.microsoft.com/static/third-party/site-ltr.css" />
</head>
<body lang="en-us" dir="ltr">
<div class="header-holder has-default-focus">
<a href="#main" class="outline-color-text visually-hidden-until-focused">Skip to main content</a>
<div hidden id="cookie-consent-holder" data-test-id="cookie-consent-container"></div>
<div id="unsupported-browser" hidden><p>This browser is no longer supported.</p>
<p>Upgrade to Microsoft Edge to take advantage of the latest features, security updates, and technical support.</p>
<a href="https://go.microsoft.com/fwlink/p/?LinkID=2092881">Download Microsoft Edge</a></div>
<header class="layout-body-header background-color-body-medium">
<nav id="site-header" aria-label="Global"><a href="https://learn.microsoft.com/en-us/">Learn</a>
<a href="https://learn.microsoft.com/en-us/docs/">Documentation</a> <a href="https://learn.microsoft.com/en-us/training/">Training</a>
<a href="https://techcommunity.microsoft.com/">Tech Community</a></nav>
<nav class="breadcrumbs" aria-label="Breadcrumb"><ol><li><a href="/en-us/azure/">Azure</a></li><li><a href="/en-us/azure/{area}/">{service_title}</a></li></ol></nav>
</header>
</div>
<section class="left-container">
<nav id="affixed-left-container" aria-label="Primary" data-bi-name="left-toc" role="navigation">
<ul id="ms--toc-content"><li><a href="overview">Overview</a></li><li><a href="quickstart">Quickstart</a></li>
<li><a href="https://azure.microsoft.com/pricing/">Pricing</a></li></ul>
</nav>
</section>
<main id="main" role="main" class="layout-body-main" data-bi-name="content" lang="en-us" dir="ltr">
<div class="content"><h1 id="{h1id}">{h1}</h1></div>
<div id="article-metadata" data-bi-name="article-metadata" class="page-metadata-container">
<ul class="metadata page-metadata"><li><local-time format="twoDigitNumeric" datetime="{date}">{date}</local-time></li></ul>
<div id="user-feedback" hidden><button id="user-feedback-button" type="button"><span>Feedback</span></button></div>
</div>
<div data-id="ai-summary" class="display-none-print"><button id="ms--ai-summary" type="button"><span class="ai-summary-cta-text">Summarize this article for me</span></button></div>
<nav id="center-doc-outline" class="doc-outline" data-bi-name="intopic toc" aria-label="In this article"><h2 id="ms--in-this-article" class="title is-6 margin-block-xs">In this article</h2></nav>
<div class="content">
"""

CHROME_TAIL = """</div>
<div class="feedback-verbatim"><h2 id="ms--feedback" class="title is-3">Feedback</h2><p>Was this page helpful?</p>
<a href="https://aka.ms/ContentUserFeedback">Provide product feedback</a></div>
</main>
<aside id="ms--additional-resources" class="layout-body-aside" data-bi-name="aside">
<h2 id="ms--additional-resources-heading" class="title is-6">Additional resources</h2>
<ul><li><a href="https://learn.microsoft.com/en-us/training/paths/az-104-manage-virtual-networks/">Training: Configure and manage virtual networks</a></li>
<li><a href="https://techcommunity.microsoft.com/t5/azure/ct-p/Azure">Azure community</a></li></ul>
</aside>
<footer id="footer" data-bi-name="footer" class="footer-layout">
<a data-mscc-ic="false" href="https://learn.microsoft.com/en-us/locale?target=https%3A%2F%2Flearn.microsoft.com">English (United States)</a>
<ul class="links"><li><a href="https://learn.microsoft.com/en-us/previous-versions/">Previous Versions</a></li>
<li><a href="https://techcommunity.microsoft.com/t5/microsoft-learn-blog/bg-p/MicrosoftLearnBlog">Blog</a></li>
<li><a href="https://go.microsoft.com/fwlink/?LinkId=521839">Privacy</a></li>
<li><a href="https://www.microsoft.com/legal/terms-of-use">Terms of Use</a></li>
<li><a href="https://www.microsoft.com/legal/intellectualproperty/Trademarks/">Trademarks</a></li>
<li>&copy; Microsoft 2026</li></ul>
</footer>
</body>
</html>
"""


def _iso(date: str) -> str:
    m = re.match(r"(\d\d)/(\d\d)/(\d{4})", date)
    return f"{m.group(3)}-{m.group(1)}-{m.group(2)}T00:00:00Z" if m else date


def render_page(md_path: Path) -> str:
    meta, body = front_matter(md_path.read_text())
    lines = body.lstrip("\n").splitlines()
    h1 = ""
    if lines and lines[0].startswith("# "):
        h1, lines = lines[0][2:].strip(), lines[1:]
    area = meta.get("ms.service", "azure").replace("azure-", "")
    head = CHROME_HEAD.format(
        title=html.escape(meta.get("title", h1)), description=html.escape(meta.get("description", "")),
        url=meta.get("url", f"azure/{area}/{md_path.stem}"), date=_iso(meta.get("ms.date", "")),
        service=meta.get("ms.service", ""), topic=meta.get("ms.topic", "concept-article"), area=area,
        service_title=html.escape(meta.get("service_title", area.title())), h1id=slug(h1), h1=html.escape(h1))
    return head + Renderer().render("\n".join(lines), md_path.parent) + CHROME_TAIL


def main(names: list[str]) -> None:
    for name in names:
        sys.stdout.write(render_page(HERE / f"{name}.md"))


if __name__ == "__main__":
    main(sys.argv[1:])
