"""Coverage: every host-, URL-, IP-, CIDR- or tag-like token seen on a page, and what became of it."""
from __future__ import annotations

from docwatch.model import Rule
from parsers.model import Diagnostic, Document


def coverage_diagnostics(doc: Document, rules: list[Rule], diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """``unparsed`` diagnostics for tokens that ended in no rule and were not set aside."""
    return []
