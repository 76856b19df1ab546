"""Slack incoming webhook: one Block Kit message per digest.

Layout: a header, then per page/cloud group a section (change lines) and a context block
(links to the page and commit). Doc text is untrusted: ``&``, ``<``, ``>`` are escaped so
``<!channel>`` or ``<http://evil|x>`` cannot become mentions or links, ``@channel``-style
words are broken with a zero-width space, and change text sits inside code spans so
``*bold*``/``_x_`` stay literal.
"""
from __future__ import annotations

import re

from docwatch.alerts.config import SlackChannel
from docwatch.alerts.digest import Digest, Group, describe, more_in_group, safe_url
from docwatch.alerts.transport import dumps, post

SEV_EMOJI = {"high": ":red_circle:", "medium": ":large_orange_circle:", "low": ":large_blue_circle:", "info": ":white_circle:"}
_MENTION = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
SECTION_LIMIT = 3000
HEADER_LIMIT = 150


def escape(text: str) -> str:
    """Slack mrkdwn control characters and broadcast mentions made inert."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub(lambda m: "@\u200b" + m.group(1), text)


def code(text: str) -> str:
    """Untrusted text as an inline code span (no formatting inside; backticks replaced)."""
    text = " ".join(escape(text).replace("`", "ˋ").split())
    return f"`{text}`" if text else ""


def link(url: str | None, label: str) -> str | None:
    url = safe_url(url)
    return f"<{url.replace('&', '&amp;')}|{escape(label)}>" if url else None


def more_text(g: Group, hidden: int) -> str:
    """The cut: how many, the command listing them all, and the page link."""
    page = link(g.page_url, "page")
    return f"_{more_in_group(hidden)}_; all of them: {code(g.rest_command)}" + (f"; {page}" if page else "")


def render(digest: Digest) -> dict:
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": digest.title[:HEADER_LIMIT], "emoji": True}}]
    for g in digest.groups:
        lines, shown = [f"*{escape(g.source)}* · {escape(g.cloud_label)}"], 0
        for item in g.items:
            e = item.event
            line = f"{SEV_EMOJI.get(e.severity, ':white_circle:')} *{escape(e.severity)}* {code(describe(e))}"
            if sum(len(x) + 1 for x in lines) + len(line) > SECTION_LIMIT - 80:
                break
            lines.append(line)
            shown += 1
        hidden = g.total - shown
        if hidden:
            lines.append(more_text(g, hidden))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines), "verbatim": True}})
        links = [x for x in (link(g.page_url, "Open page"), link(g.commit_url, "Doc commit")) if x]
        elements = [{"type": "mrkdwn", "text": f"{escape(g.source)} · {g.total} change{'s' if g.total != 1 else ''}", "verbatim": True}]
        elements += [{"type": "mrkdwn", "text": x, "verbatim": True} for x in links]
        blocks.append({"type": "context", "elements": elements})
    more = digest.more_line()
    if more:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(more), "verbatim": True}]})
    return {"text": escape(digest.title), "blocks": blocks}


def send(channel: SlackChannel, digest: Digest, meta, client=None) -> None:
    post(client, channel.resolve_url(), dumps(render(digest)), headers={}, timeout=channel.timeout)
