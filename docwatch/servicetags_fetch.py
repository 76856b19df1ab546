"""Fetch the weekly Service Tags files: discover the current link, fetch politely, ingest.

Each ``[[servicetags]]`` entry names a direct ``json_url`` or the download-center
``page_url``; the page links the current ``ServiceTags_<Cloud>_<YYYYMMDD>.json`` (a new URL
every week), found by :func:`discover_json_url`. Fetching goes through the same
:class:`docwatch.fetch.Fetcher` as pages (allowed hosts on every redirect hop, conditional
GET, retries with backoff, size cap) and the raw bytes go to the :class:`SnapshotStore`.
The JSON file is fetched by a sibling Fetcher whose size cap is the entry's ``max_bytes``
and which reads ``application/json`` / ``application/octet-stream`` bodies (the download host
serves the file as octet-stream; the page fetcher accepts text only).

A failed fetch, a page without a link, a file that does not parse, a file for the wrong
cloud or with far fewer tags/prefixes is an anomaly: the current prefixes stay, nothing is
"removed".
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import date
from html import unescape
from urllib.parse import urljoin

from docwatch import fetch as F
from docwatch.catalog import Catalog
from docwatch.catalog_schema import now_iso
from docwatch.catalog_tags import ingest_tag_file, record_tag_anomaly
from docwatch.errors import UsageError
from docwatch.servicetags import CLOUD_FILE_NAMES, TagFileError, cloud_of, parse_tag_file
from docwatch.snapshots import CorruptSnapshot, SnapshotStore

log = logging.getLogger(__name__)

_LINK = re.compile(r"[^\s\"'<>()\[\]{},]*ServiceTags_([A-Za-z]+)_(\d{8})\.json", re.I)
_CONFIRM = re.compile(r"""href\s*=\s*["']([^"']*confirmation\.aspx\?id=\d+[^"']*)["']""", re.I)
JSON_TYPES = ("application/json", "application/octet-stream", "binary/octet-stream", "text/json")


@dataclass
class TagOutcome:
    """What one ``[[servicetags]]`` entry did in a cycle (same shape as a page's outcome)."""

    source: str
    status: str  # first | changed | unchanged | duplicate | anomaly | failed
    events: int = 0
    rules: int | None = None  # prefixes in the file
    error: str | None = None
    form: str = "json"
    url: str | None = None

    @property
    def fetched(self) -> bool:
        return self.status not in ("failed", "skipped")


def discover_json_url(html: str, base_url: str, cloud: str) -> str | None:
    """The newest ``ServiceTags_<Cloud>_<YYYYMMDD>.json`` link of ``cloud`` on a download page
    (in ``href``s, script JSON with ``\\/`` or ``\\u002F`` escapes, or plain text), absolute."""
    text = unescape(html.replace("\\/", "/").replace("\\u002F", "/").replace("\\u002f", "/"))
    best: tuple[str, bool, bool, str] | None = None
    for m in _LINK.finditer(text):
        if cloud_of(m.group(1)) != cloud:
            continue
        try:
            day = date(int(m.group(2)[:4]), int(m.group(2)[4:6]), int(m.group(2)[6:])).isoformat()
        except ValueError:
            continue
        link = m.group(0)
        # newest first; for one date a full URL beats a path, a path beats a bare file name in text
        rank = (day, "://" in link, "/" in link, urljoin(base_url, link))
        if best is None or rank[:3] > best[:3]:
            best = rank
    return best[3] if best else None


def confirmation_url(html: str, base_url: str) -> str | None:
    """Older download-center pages link the file from a ``confirmation.aspx`` page."""
    m = _CONFIRM.search(html)
    return urljoin(base_url, unescape(m.group(1))) if m else None


async def _json_as_text(response) -> None:
    """httpx response hook: the JSON file is served as octet-stream; let the Fetcher read it."""
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in JSON_TYPES:
        response.headers["content-type"] = "text/plain; charset=utf-8"


class _Getter:
    """Conditional GET + snapshot, with validators per URL in ``tag_fetch_cache``."""

    def __init__(self, catalog: Catalog, store: SnapshotStore):
        self.catalog, self.store = catalog, store

    async def get(self, fetcher: F.Fetcher, url: str) -> tuple[bytes, str]:
        """(body, sha256) or raises :class:`UsageError`-free ``_Failed`` with the reason."""
        row = self.catalog._one("SELECT etag, last_modified, sha256 FROM tag_fetch_cache WHERE url = ?", (url,))
        usable = bool(row and row["sha256"] and self.store.has(row["sha256"]))
        res = await fetcher.fetch(url, etag=row["etag"] if usable else None,
                                  last_modified=row["last_modified"] if usable else None)
        if res.status == "not-modified" and usable:
            try:
                return self.store.get(row["sha256"]), row["sha256"]
            except CorruptSnapshot as exc:
                log.warning("%s: cached snapshot unusable (%s); fetching again", url, exc)
                res = await fetcher.fetch(url)
        if res.status != "ok" or res.body is None:
            raise _Failed(f"{url}: {res.error or 'HTTP 304 to an unconditional request'}")
        digest = self.store.put(res.body)
        with self.catalog._write():
            self.catalog.db.execute(
                "INSERT OR REPLACE INTO tag_fetch_cache (url, etag, last_modified, sha256, updated_at) VALUES (?, ?, ?, ?, ?)",
                (url, res.etag, res.last_modified, digest, now_iso()))
        return res.body, digest


class _Failed(Exception):
    pass


async def fetch_entry(entry, catalog: Catalog, fetcher: F.Fetcher, json_fetcher: F.Fetcher,
                      store: SnapshotStore) -> TagOutcome:
    """Discover (when needed), fetch and ingest one entry; every failure is an anomaly."""
    getter = _Getter(catalog, store)
    source, at = entry.source, now_iso()
    url = entry.json_url
    try:
        if entry.page_url:
            page, _ = await getter.get(fetcher, entry.page_url)
            html, _diags = F.decode_body(page, None)
            url = discover_json_url(html, entry.page_url, entry.cloud)
            if url is None and (confirm := confirmation_url(html, entry.page_url)):
                html, _diags = F.decode_body((await getter.get(fetcher, confirm))[0], None)
                url = discover_json_url(html, confirm, entry.cloud)
            if url is None:
                raise _Failed(f"{entry.page_url}: no ServiceTags_{CLOUD_FILE_NAMES[entry.cloud]}_*.json link on the page")
        body, digest = await getter.get(json_fetcher, url)
    except _Failed as exc:
        return _anomaly(catalog, entry, str(exc), at, url or entry.page_url, status="failed")
    try:
        tf = parse_tag_file(body, name=url)
    except TagFileError as exc:
        return _anomaly(catalog, entry, f"{url}: {exc}", at, url, snapshot_id=digest)
    try:
        res = ingest_tag_file(catalog, tf, observed_at=at, snapshot_id=digest, url=url, expected_cloud=entry.cloud,
                              min_ratio=entry.min_ratio, source=source)
    except UsageError as exc:  # an older changeNumber than the last file: a stale mirror, not removals
        return _anomaly(catalog, entry, str(exc), at, url, snapshot_id=digest)
    return TagOutcome(source, res.status, len(res.events), res.prefixes, res.reason, url=url)


def _anomaly(catalog: Catalog, entry, reason: str, at: str, url: str | None, *, status: str = "anomaly",
             snapshot_id: str | None = None) -> TagOutcome:
    log.warning("%s: %s", entry.source, reason)
    res = record_tag_anomaly(catalog, entry.cloud, reason, observed_at=at, snapshot_id=snapshot_id, url=url,
                             source=entry.source)
    return TagOutcome(entry.source, status, len(res.events), error=reason, url=url)


async def run_servicetags(cfg, catalog: Catalog, fetcher: F.Fetcher, store: SnapshotStore) -> list[TagOutcome]:
    """One pass over ``cfg.servicetags``: an outcome per entry, in config order.

    ``fetcher`` (the cycle's) fetches the download pages; the JSON files go through a sibling
    Fetcher with the same settings except ``max_bytes`` (per entry) and JSON content types."""
    out: list[TagOutcome] = []
    for entry in cfg.servicetags:
        json_cfg = replace(cfg.fetch, max_bytes=max(entry.max_bytes, 1))
        async with F.Fetcher(json_cfg) as json_fetcher:
            json_fetcher.client.event_hooks = {"request": [], "response": [_json_as_text]}
            if getattr(fetcher, "deadline", None) is not None and hasattr(json_fetcher, "set_deadline"):
                json_fetcher.set_deadline(fetcher.deadline)
            try:
                out.append(await fetch_entry(entry, catalog, fetcher, json_fetcher, store))
            except Exception as exc:  # a bug here must not take the page cycle down
                log.exception("%s: service-tag processing failed", entry.source)
                out.append(TagOutcome(entry.source, "failed", error=f"processing failed: {type(exc).__name__}: {exc}"))
    return out
