"""Tell rendered HTML from markdown by content, not by file name (the seeds are ``.txt``).

HTML: a doctype, ``<html>``, ``<head>`` or ``<body>`` near the start (saved pages often carry a
capture header or a stray space first), or a document that *starts* with a tag and is
mostly block markup. Everything else is markdown: DocFX pages mix in ``<br>``, ``<sup>``,
``<a id>`` and even whole HTML tables, and a text dump of a rendered page is still text.
"""
from __future__ import annotations

import re

_HEAD = 16384  # chars looked at
_DOC_START = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.I)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>")
_BLOCK_CLOSE = re.compile(r"</(?:p|div|table|h[1-6]|ul|ol|section|main|article)\s*>", re.I)
_MD_SIGNS = re.compile(r"^(?:---\s*$|#{1,6}\s|\s*\|.*\|\s*$|\s*[-*+]\s|\s*>\s?\[!)", re.M)


def detect_format(text: str) -> str:
    """``"html"`` or ``"markdown"``, from the content alone."""
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", "replace")
    head = text[:_HEAD].lstrip("\ufeff \t\r\n")
    if _DOC_START.search(head):
        # a markdown page that merely mentions <html> in prose or a code block is not HTML:
        # require the markup to start a line
        for m in _DOC_START.finditer(head):
            line_start = head.rfind("\n", 0, m.start()) + 1
            if not head[line_start:m.start()].strip():
                return "html"
    if head.startswith("<") and _BLOCK_CLOSE.search(head):
        markup = sum(len(m.group(0)) for m in _TAG.finditer(head))
        visible = len(_TAG.sub("", head).strip())
        if markup >= visible * 0.3 and len(_MD_SIGNS.findall(head)) < 3:
            return "html"
    return "markdown"
