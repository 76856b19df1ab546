"""Load one local file into a parsed :class:`~parsers.model.Document`.

Used by ``parse``, ``rules`` and ``ingest``: the file may be markdown (with DocFX
``[!INCLUDE]`` files beside it) or rendered HTML; the format comes from the content,
not the extension (the seeds are ``.txt``). Problems the user can fix (missing path,
a directory, unreadable or binary file) are a :class:`UsageError`; odd content is
never an error, the parsers report it as diagnostics.

Local includes stay inside the document's root (:func:`document_root`): a page cannot pull
``../../../etc/passwd`` or a private file beside the clone into the catalog. An include
that resolves outside is not read and gets an ``include-outside-root`` diagnostic.
"""
from __future__ import annotations

import logging
from pathlib import Path

from docwatch.errors import UsageError
from parsers import parse_document
from parsers.model import Diagnostic, Document

log = logging.getLogger(__name__)

# A directory holding one of these is a content repository's root (as in a clone).
ROOT_MARKERS = (".git", ".openpublishing.publish.config.json", "docfx.json")
CONTENT_DIR = "articles"  # DocFX content repositories keep pages under <root>/articles/

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


def document_root(path: str | Path) -> Path:
    """The directory a local page's includes must stay in: the nearest ancestor holding a
    repository marker (:data:`ROOT_MARKERS`), else the directory above the page's nearest
    ``articles/`` folder (a DocFX checkout without its ``.git``), else the page's own directory."""
    start = Path(path).resolve().parent
    for d in (start, *start.parents):
        if any((d / m).exists() for m in ROOT_MARKERS):
            return d
    for d in (start, *start.parents):
        if d.name == CONTENT_DIR:
            return d.parent
    return start


class IncludeLoader:
    """Include loader for one local page: reads files inside :func:`document_root` only.

    Refusals are kept in :attr:`diagnostics` (callers add them to the document)."""

    def __init__(self, path: str | Path):
        self.root = document_root(path)
        self.diagnostics: list[Diagnostic] = []

    def __call__(self, resolved: str) -> str | None:
        p = Path(resolved)
        try:
            real = p.resolve()
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(self.root):
            if real.exists():  # a missing file outside is just a missing include
                msg = f"include {resolved} is outside the document root {self.root}; not read"
                log.warning(msg)
                self.diagnostics.append(Diagnostic(code="include-outside-root", message=msg))
            return None
        return _fs_loader(str(real))


def include_loader(path: str | Path) -> IncludeLoader:
    """The include loader ``parse``, ``rules`` and ``ingest`` use for a local page."""
    return IncludeLoader(path)


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
    """Read, detect and parse a local file; includes resolve relative to it on the filesystem,
    inside its root."""
    text, diags = read_text_file(path)
    loader = include_loader(path)
    doc = parse_document(text, path=str(path), loader=loader)
    if diags:
        doc.diagnostics[:0] = diags
    doc.diagnostics.extend(loader.diagnostics)
    log.debug("parsed %s: %d tables, %d diagnostics", path, len(doc.tables), len(doc.diagnostics))
    return doc
