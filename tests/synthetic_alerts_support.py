"""Helpers for the alerts tests: a real SQLite outbox, real receivers' validators.

``make_outbox`` creates a real (empty) catalog and ``add_events`` stores events through its
writer, so the alerts read them from the ``changes`` view as in production without depending
on ingest. The validators are what the local HTTP receivers
run on every request: a message that breaks Slack's, Teams' or our webhook's rules is
answered 400 and recorded, so the delivery under test fails visibly.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from dataclasses import replace
from pathlib import Path

import sqlite_utils
from werkzeug import Request, Response

from docwatch.catalog import Catalog
from docwatch.model import ChangeEvent

def make_outbox(path: Path) -> sqlite_utils.Database:
    Catalog(path).close()
    return sqlite_utils.Database(str(path))


def add_events(db: sqlite_utils.Database, events: list[ChangeEvent]) -> list[int]:
    """Store copies of ``events`` with the catalog's own writer (its own connection, as ingest
    does); their new row ids."""
    stored = [replace(ev) for ev in events]
    cat = Catalog(db.conn.execute("PRAGMA database_list").fetchone()[2])
    try:
        with cat.write():
            cat.add_events(stored)
    finally:
        cat.close()
    return [ev.id for ev in stored]


def event(n: int, **kw) -> ChangeEvent:
    base = dict(source="azure-monitor", kind="added", rule_key=f"public|-|outbound|tcp|host{n}.monitor.azure.com",
                severity="medium", cloud="public", direction="outbound", party=f"host{n}.monitor.azure.com",
                summary=f"endpoint host{n}.monitor.azure.com outbound TCP ports 443 added",
                detected_at=f"2024-05-01T10:{n % 60:02d}:00Z",
                page_url="https://learn.microsoft.com/azure/azure-monitor/fundamentals/azure-monitor-network-access")
    base.update(kw)
    return ChangeEvent(**base)


# ---------------------------------------------------------------- validators

_SLACK_LINK = re.compile(r"<(https?://[^|<>\s]+)\|[^<>]*>")


def slack_problems(payload) -> list[str]:
    """Block Kit rules we rely on, plus: every '<' in mrkdwn opens one of our links."""
    p: list[str] = []
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str) or not payload["text"]:
        return ["top-level 'text' fallback missing"]
    blocks = payload.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return ["'blocks' must be a list of 1..50 blocks"]
    texts: list[dict] = []
    for i, b in enumerate(blocks):
        t = b.get("type")
        if t == "header":
            if b["text"].get("type") != "plain_text" or not 0 < len(b["text"].get("text", "")) <= 150:
                p.append(f"block {i}: header needs plain_text of 1..150 chars")
        elif t == "section":
            txt = b.get("text", {})
            if txt.get("type") not in ("mrkdwn", "plain_text") or not 0 < len(txt.get("text", "")) <= 3000:
                p.append(f"block {i}: section text must be 1..3000 chars")
            texts.append(txt)
        elif t == "context":
            els = b.get("elements", [])
            if not 1 <= len(els) <= 10:
                p.append(f"block {i}: context needs 1..10 elements")
            for el in els:
                if el.get("type") not in ("mrkdwn", "plain_text") or not el.get("text"):
                    p.append(f"block {i}: bad context element {el}")
                texts.append(el)
        elif t != "divider":
            p.append(f"block {i}: unexpected type {t!r}")
    for txt in texts:
        if txt.get("type") != "mrkdwn":
            continue
        rest = _SLACK_LINK.sub("", txt["text"])
        if "<" in rest or ">" in rest:
            p.append(f"unescaped angle bracket in mrkdwn: {txt['text'][:200]!r}")
        if re.search(r"(?<!\u200b)@(channel|here|everyone)\b", txt["text"], re.I):
            p.append("broadcast mention in mrkdwn")
    return p


_AC_TYPES = {"TextBlock", "RichTextBlock", "Container", "ActionSet", "ColumnSet", "Column", "FactSet", "Image"}
_MD_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(")


def _ac_elements(items, p: list[str], path: str) -> None:
    if not isinstance(items, list):
        p.append(f"{path}: expected a list")
        return
    for i, el in enumerate(items):
        where, t = f"{path}[{i}]", el.get("type")
        if t not in _AC_TYPES:
            p.append(f"{where}: unknown element type {t!r}")
        elif t == "TextBlock":
            if not isinstance(el.get("text"), str) or not el["text"]:
                p.append(f"{where}: TextBlock needs text")
            elif _MD_LINK.search(el["text"]):
                p.append(f"{where}: markdown link in TextBlock: {el['text']!r}")
        elif t == "RichTextBlock":
            for run in el.get("inlines", []):
                if run.get("type") != "TextRun" or not isinstance(run.get("text"), str):
                    p.append(f"{where}: inlines must be TextRuns with text")
        elif t == "Container":
            _ac_elements(el.get("items"), p, where + ".items")
        elif t == "ActionSet":
            for a in el.get("actions", []):
                if a.get("type") != "Action.OpenUrl" or not a.get("title") or not str(a.get("url", "")).startswith(("https://", "http://")):
                    p.append(f"{where}: bad action {a}")


def teams_problems(payload) -> list[str]:
    """Workflows webhook message carrying an Adaptive Card (>= 1.4)."""
    p: list[str] = []
    if payload.get("type") != "message":
        return ["type must be 'message'"]
    atts = payload.get("attachments")
    if not isinstance(atts, list) or len(atts) != 1:
        return ["exactly one attachment expected"]
    att = atts[0]
    if att.get("contentType") != "application/vnd.microsoft.card.adaptive":
        p.append("wrong contentType")
    card = att.get("content") or {}
    if card.get("type") != "AdaptiveCard" or "$schema" not in card:
        p.append("content must be an AdaptiveCard with $schema")
    try:
        if tuple(int(x) for x in str(card.get("version")).split(".")) < (1, 4):
            p.append("version < 1.4")
    except ValueError:
        p.append("bad version")
    if not card.get("body"):
        p.append("empty body")
    _ac_elements(card.get("body", []), p, "body")
    return p


def webhook_problems(body: bytes, headers, secret: str) -> list[str]:
    p: list[str] = []
    sig = headers.get("X-Docwatch-Signature", "")
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig, want):
        p.append("bad signature")
    if not str(headers.get("X-Docwatch-Timestamp", "")).isdigit():
        p.append("missing timestamp header")
    try:
        data = json.loads(body)
    except ValueError:
        return p + ["body is not JSON"]
    if data.get("schema") != "docwatch.events/v1":
        p.append("wrong schema")
    if headers.get("Idempotency-Key") != data.get("idempotency_key") or not data.get("idempotency_key"):
        p.append("idempotency key header/body mismatch")
    if not isinstance(data.get("events"), list) or not all("id" in e and "source" in e for e in data["events"]):
        p.append("events must be ChangeEvent dicts with ids")
    return p


class Receiver:
    """Records what a real HTTP endpoint got; answers 400 when the validator objects and
    ``fail_first`` times 503 before accepting."""

    def __init__(self, kind: str, secret: str = "", fail_first: int = 0):
        self.kind, self.secret, self.fail_first = kind, secret, fail_first
        self.requests: list[dict] = []  # every request: headers, body, json, status
        self.problems: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        headers = dict(request.headers)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if self.kind == "slack":
            problems = slack_problems(payload)
        elif self.kind == "teams":
            problems = teams_problems(payload)
        else:
            problems = webhook_problems(body, request.headers, self.secret)
        with self.lock:
            status = 400 if problems else (503 if len(self.requests) < self.fail_first else 200)
            self.problems += problems
            self.requests.append({"headers": headers, "body": body, "json": payload, "status": status})
        return Response("ok" if status == 200 else "; ".join(problems) or "unavailable", status=status)

    @property
    def accepted(self) -> list[dict]:
        return [r for r in self.requests if r["status"] == 200]
