"""Logging set-up (plain lines or JSON lines, to stderr) and secret redaction.

Every logger, docwatch's and every library's (httpx, APScheduler, …), goes through the one
handler installed on the root logger, so ``--log-format json`` output is JSON throughout.
The handler scrubs registered secrets (:func:`register_secrets`) from every line: alert
channels register their webhook URLs, tokens and passwords before they send.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import threading
from typing import Iterable
from urllib.parse import unquote

MASK = "***"
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_PIECES = re.compile(r"[/:?&=#@;,\s]+")
_DNS_NAME = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


def secret_terms(secret: str | None) -> list[str]:
    """What to mask for one secret: the whole value (and its percent-decoded form) and, for
    URL-like values, each path/query/port fragment that could carry a token on its own
    (a receiver may echo just ``/T…/B…/xox…``, a malformed URL error just the port part).
    Host names and plain lowercase words such as ``services`` or ``workflows`` stay readable."""
    if not secret or len(secret) < 4:
        return []
    terms = {secret, unquote(secret)}
    for piece in _PIECES.split(secret):
        for p in {piece, unquote(piece)}:
            if len(p) < 6 or p.lower() in ("https", "http") or _DNS_NAME.match(p):
                continue
            if re.search(r"[0-9A-Z]", p) or len(p) >= 16:
                terms.add(p)
    return sorted((t for t in terms if len(t) >= 4), key=len, reverse=True)


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secrets so that every later log line is scrubbed of them."""
    new = [t for v in values for t in secret_terms(v)]
    if new:
        with _SECRETS_LOCK:
            _SECRETS.update(new)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every registered secret, every one of ``secrets`` and their fragments masked."""
    if not text:
        return text
    with _SECRETS_LOCK:
        terms = set(_SECRETS)
    for s in secrets:
        terms.update(secret_terms(s))
    for term in sorted(terms, key=len, reverse=True):
        if term in text:
            text = text.replace(term, MASK)
    return text


class RedactFilter(logging.Filter):
    """Scrubs registered secrets from a record's message (and traceback) before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            try:
                msg = record.getMessage()
            except Exception:  # a broken format string: let the formatter report it
                return True
            clean = scrub(msg)
            if clean != msg:
                record.msg, record.args = clean, ()
            if record.exc_info and not record.exc_text:
                record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            elif record.exc_text:
                record.exc_text = scrub(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info or record.exc_text:
            payload["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(debug: bool = False, fmt: str = "plain") -> None:
    """One handler on the root logger: docwatch at WARNING (DEBUG with ``debug``; the daemon
    raises it to INFO), libraries at WARNING (DEBUG with ``debug``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler._docwatch = True  # type: ignore[attr-defined]  - replaced, not stacked, on a second call
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "_docwatch", False)] + [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    ours = logging.getLogger("docwatch")
    ours.handlers[:] = [h for h in ours.handlers if not getattr(h, "_docwatch", False)]
    ours.setLevel(logging.DEBUG if debug else logging.WARNING)
    ours.propagate = True
