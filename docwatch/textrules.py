"""Rules stated outside tables: fenced code blocks, bullet lists, NOTE/TIP boxes and sentences."""
from __future__ import annotations

from docwatch.model import Rule
from parsers.model import Document


def text_rules(doc: Document) -> list[Rule]:
    """Unmerged rules from the document's non-table blocks (``origin`` code/list/prose)."""
    return []
