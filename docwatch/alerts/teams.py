"""Microsoft Teams Workflows webhook: a message with one Adaptive Card (1.4) attachment.

Untrusted change text goes into ``RichTextBlock``/``TextRun`` elements, which Adaptive
Cards never interpret as markdown; the few ``TextBlock`` strings that can hold doc-derived
names (page/source) are markdown-escaped so ``[x](http://evil)`` cannot become a link.
Links are ``Action.OpenUrl`` buttons with http(s) URLs only.
"""
from __future__ import annotations

import re

from docwatch.alerts.config import TeamsChannel
from docwatch.alerts.digest import Digest, describe, safe_url
from docwatch.alerts.transport import dumps, post

CARD_VERSION = "1.4"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SEV_COLOR = {"high": "Attention", "medium": "Warning", "low": "Accent", "info": "Default"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>~|])")


def escape(text: str) -> str:
    """Backslash-escape markdown punctuation for TextBlock text (links, emphasis, lists)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _run(text: str, **style) -> dict:
    return {"type": "TextRun", "text": text, **style}


def render_card(digest: Digest) -> dict:
    body: list[dict] = [{"type": "TextBlock", "text": escape(digest.title), "size": "Large", "weight": "Bolder", "wrap": True}]
    for g in digest.groups:
        items: list[dict] = [{"type": "TextBlock", "text": f"{escape(g.source)} · {escape(g.cloud_label)}",
                              "weight": "Bolder", "wrap": True}]
        for item in g.items:
            e = item.event
            items.append({"type": "RichTextBlock", "inlines": [
                _run(f"{e.severity.upper()} ", weight="Bolder", color=SEV_COLOR.get(e.severity, "Default")),
                _run(describe(e)),
            ]})
        if g.hidden:
            items.append({"type": "TextBlock", "text": escape(g.more_line()),
                          "isSubtle": True, "wrap": True})
        actions = [{"type": "Action.OpenUrl", "title": title, "url": url}
                   for title, url in (("Open page", safe_url(g.page_url)), ("Doc commit", safe_url(g.commit_url))) if url]
        if actions:
            items.append({"type": "ActionSet", "actions": actions})
        body.append({"type": "Container", "separator": True, "spacing": "Medium", "items": items})
    more = digest.more_line()
    if more:
        body.append({"type": "TextBlock", "text": escape(more), "isSubtle": True, "wrap": True})
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": CARD_VERSION, "msteams": {"width": "Full"}, "body": body}


def render(digest: Digest) -> dict:
    return {"type": "message", "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": render_card(digest)}]}


def send(channel: TeamsChannel, digest: Digest, meta, client=None) -> None:
    post(client, channel.resolve_url(), dumps(render(digest)), headers={}, timeout=channel.timeout)
