"""Pure parsers for Microsoft Learn pages: text in, :class:`~parsers.model.Document` out.

No network, no database, no globals. ``parse_document`` picks markdown or HTML
from the content itself (the seeds are ``.txt`` files).
"""
from parsers.model import Cell, Diagnostic, Document, Tab, Table

__all__ = ["Cell", "Diagnostic", "Document", "Tab", "Table"]
