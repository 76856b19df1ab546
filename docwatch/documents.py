"""Load one local file into a parsed :class:`~parsers.model.Document`.

Used by ``parse``, ``rules`` and ``ingest``: the file may be markdown (with DocFX
``[!INCLUDE]`` files beside it) or rendered HTML; the format comes from the content,
not the extension (the seeds are ``.txt``). Problems the user can fix (missing path,
a directory, unreadable or binary file) are a :class:`UsageError`; odd content is
never an error, the parsers report it as diagnostics.
"""
from __future__ import annotations

import logging
from pathlib import Path

from docwatch.errors import UsageError
from parsers import parse_document
from parsers.model import Diagnostic, Document

log = logging.getLogger(__name__)

# A text page has no NUL bytes; a few control bytes are tolerated, many mean "binary".
_SNIFF = 8192
_CONTROL_OK = set(b"\t\n\r\f\b\x1b")


def looks_binary(data: bytes) -> bool:
    head = data[:_SNIFF]
    if not head:
        return False
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in _CONTROL_OK)
    return control / len(head) > 0.05


def decode_text(data: bytes) -> tuple[str, list[Diagnostic]]:
    """UTF-8 (BOM tolerated); undecodable bytes become U+FFFD with a diagnostic, never a crash."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", errors="replace")
        diag = Diagnostic(
            code="decode-error",
            message=f"file is not valid UTF-8 (first bad byte at offset {exc.start}); undecodable bytes replaced",
        )
        return text, [diag]


def read_text_file(path: str | Path) -> tuple[str, list[Diagnostic]]:
    """Read a local text file or raise a :class:`UsageError` that says what is wrong."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such file")
    if p.is_dir():
        raise UsageError(f"{p}: is a directory, expected a markdown or HTML file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"{p}: cannot read file ({exc.strerror or exc})") from exc
    if looks_binary(data):
        raise UsageError(f"{p}: looks like a binary file, expected a markdown or HTML text file")
    return decode_text(data)


def _fs_loader(resolved: str) -> str | None:
    """Include loader: the parser resolves the path; a missing/unreadable file is ``None``."""
    p = Path(resolved)
    try:
        if not p.is_file():
            return None
        data = p.read_bytes()
    except OSError:
        return None
    if looks_binary(data):
        return None
    return decode_text(data)[0]


def load_local(path: str | Path) -> Document:
    """Read, detect and parse a local file; includes resolve relative to it on the filesystem."""
    text, diags = read_text_file(path)
    doc = parse_document(text, path=str(path), loader=_fs_loader)
    if diags:
        doc.diagnostics[:0] = diags
    log.debug("parsed %s: %d tables, %d diagnostics", path, len(doc.tables), len(doc.diagnostics))
    return doc
