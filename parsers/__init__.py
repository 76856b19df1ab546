"""Pure parsers for Microsoft Learn pages: text in, :class:`~parsers.model.Document` out.

No network, no database, no globals. ``parse_document`` picks markdown or HTML
from the content itself (the seeds are ``.txt``).
"""
from __future__ import annotations

import logging
from typing import Callable

from parsers.detect import detect_format
from parsers.model import Block, Cell, Diagnostic, Document, Tab, Table

__all__ = ["Block", "Cell", "Diagnostic", "Document", "Tab", "Table", "detect_format", "parse_document"]

log = logging.getLogger(__name__)


def parse_document(text: str, *, path: str | None = None,
                   loader: Callable[[str], str | None] | None = None) -> Document:
    """Detect the format of ``text`` and parse it; includes (markdown) resolve through ``loader``.

    Never raises: the parsers return diagnostics, and a failure here is one too.
    """
    try:
        fmt = detect_format(text)
        if fmt == "html":
            from parsers.html import parse_html

            return parse_html(text)
        from parsers.markdown import parse_markdown  # imported late: the heavier dependency

        return parse_markdown(text, path=path, loader=loader)
    except Exception as exc:  # noqa: BLE001 - the contract: never raise on a document
        log.exception("parse_document failed")
        return Document(format="text", diagnostics=[
            Diagnostic("internal-error", f"{type(exc).__name__}: {exc}", None, "error")])
