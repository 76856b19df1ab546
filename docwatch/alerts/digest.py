"""One digest per delivery: change events grouped by page (source) and cloud, truncated.

Every channel renders the same :class:`Digest`, so Slack, Teams, e-mail and webhooks agree
on what was shown and what was cut. Groups come most severe first; a cut ends with the exact
``docwatch changes`` command that lists the rest, and the page link. Values read as English
(``none``, ``yes``, ``TCP``), also in summaries an older writer stored with Python reprs.
Doc text inside events is untrusted; renderers escape it for their own markup.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from docwatch.alerts.config import SEVERITY_RANK
from docwatch.model import ChangeEvent

CLOUD_LABELS = {"public": "Azure public cloud", "usgov": "Azure Government", "china": "Azure China (21Vianet)",
                None: "all clouds"}
_JSON_FIELDS = ("old", "new", "section")
_EVENT_FIELDS = tuple(ChangeEvent.__dataclass_fields__)


@dataclass
class StoredEvent:
    """A change event with its row id in ``change_events`` (None for samples)."""

    id: int | None
    event: ChangeEvent

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.event.to_dict()}


def event_from_row(row: dict[str, Any]) -> StoredEvent:
    """A ``changes`` view row → StoredEvent (old/new/section are JSON text)."""
    values: dict[str, Any] = {}
    for name in _EVENT_FIELDS:
        if name not in row:
            continue
        value = row[name]
        if name in _JSON_FIELDS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass  # plain text stored by an older writer: keep as is
        values[name] = value
    values["section"] = values.get("section") or []
    values["severity"] = values.get("severity") or "low"  # NULL in an older row: the default
    values["summary"] = values.get("summary") or ""
    return StoredEvent(row.get("id"), ChangeEvent(**values))


_PROTOCOLS = {"tcp": "TCP", "udp": "UDP"}


def fmt_value(value: Any, limit: int = 120) -> str:
    """A stored value as a reader says it: none, yes/no, TCP, ``443, 1886``, ``key: value``."""
    if value is None:
        text = "none"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(fmt_value(v, limit) for v in value) or "none"
    elif isinstance(value, dict):
        text = "; ".join(f"{k}: {fmt_value(v, limit)}" for k, v in value.items()) or "none"
    else:
        text = _PROTOCOLS.get(str(value), str(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# A Python literal inside prose: None/True/False, a quoted string not part of a word ("page's"
# is not one), or a list of such strings, as older summaries were written with !r.
_PY_LITERAL = re.compile(r"\[(?:\s*(?:'[^'\n]*'|\d+)\s*,?)*\]|(?<!\w)'[^'\s][^'\n]{0,80}?'(?!\w)|\b(?:None|True|False)\b")


def plain_values(text: str) -> str:
    """Python reprs in a summary (``from 'tcp' to None``) rewritten as plain words."""
    def repl(m: re.Match) -> str:
        try:
            return fmt_value(ast.literal_eval(m.group()))
        except (ValueError, SyntaxError):
            return m.group()

    return _PY_LITERAL.sub(repl, text)


def describe(event: ChangeEvent, limit: int = 300) -> str:
    """One plain line for an event: its summary, or one built from its fields."""
    text = plain_values(" ".join((event.summary or "").split()))
    if not text:
        party = event.party or event.rule_key or "?"
        if event.kind == "modified" and event.field:
            text = f"{event.field} of {party} changed: {fmt_value(event.old)} → {fmt_value(event.new)}"
        elif event.kind == "anomaly":
            text = f"anomaly: {fmt_value(event.new or event.old)}"
        else:
            text = f"{party} {event.kind}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def changes_command(source: str | None = None, cloud: str | None = None, since: str | None = None) -> str:
    """The ``docwatch changes`` command that lists a cut part of a digest."""
    cmd = "docwatch changes"
    if source:
        cmd += f" --source {source}"
    if cloud:
        cmd += f" --cloud {cloud}"
    if since:
        cmd += f" --since {since}"
    return cmd


def _earliest(events: Iterable[StoredEvent]) -> str | None:
    return min((e.event.detected_at for e in events if e.event.detected_at), default=None)


@dataclass
class Group:
    source: str
    cloud: str | None
    items: list[StoredEvent] = field(default_factory=list)  # shown
    total: int = 0
    page_url: str | None = None
    commit_url: str | None = None
    since: str | None = None  # earliest detected_at of the group's events
    top_severity: str = "low"

    @property
    def hidden(self) -> int:
        return self.total - len(self.items)

    @property
    def cloud_label(self) -> str:
        return CLOUD_LABELS.get(self.cloud, self.cloud or "all clouds")

    @property
    def rest_command(self) -> str:
        return changes_command(self.source, self.cloud, self.since)

    def more_line(self, hidden: int | None = None) -> str | None:
        """"… and N more changes; all of them: `docwatch changes …`; page: URL" when lines were
        cut (``hidden`` overrides the count when a renderer cut more for size)."""
        n = self.hidden if hidden is None else hidden
        if n <= 0:
            return None
        url = safe_url(self.page_url)
        return f"{more_in_group(n)}; all of them: {self.rest_command}" + (f"; page: {url}" if url else "")


@dataclass
class Digest:
    channel: str
    events: list[StoredEvent]
    groups: list[Group]  # shown groups, each with its shown items

    @property
    def total(self) -> int:
        return len(self.events)

    @property
    def shown(self) -> int:
        return sum(len(g.items) for g in self.groups)

    @property
    def hidden(self) -> int:
        return self.total - self.shown

    @property
    def hidden_groups(self) -> int:
        return len({(e.event.source, e.event.cloud) for e in self.events}) - len(self.groups)

    def severity_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.events:
            counts[e.event.severity] = counts.get(e.event.severity, 0) + 1
        return counts

    @property
    def sources(self) -> list[str]:
        return sorted({e.event.source for e in self.events})

    @property
    def title(self) -> str:
        n = self.total
        counts = self.severity_counts()
        head = f"docwatch: {n} network rule change{'s' if n != 1 else ''}"
        if counts.get("high"):
            head += f" ({counts['high']} high)"
        return head

    def left_out(self) -> list[StoredEvent]:
        shown = {(g.source, g.cloud) for g in self.groups}
        return [e for e in self.events if (e.event.source, e.event.cloud) not in shown]

    def more_line(self) -> str | None:
        """"… and N more changes in M more page/cloud groups; all of them: `docwatch changes …`"
        for groups left out entirely (each shown group says what of its own was cut)."""
        rest = self.left_out()
        if not rest:
            return None
        n, sources = self.hidden_groups, {e.event.source for e in rest}
        cmd = changes_command(next(iter(sources)) if len(sources) == 1 else None, None, _earliest(rest))
        return (f"… and {len(rest)} more change{'s' if len(rest) != 1 else ''} in {n} more "
                f"page/cloud group{'s' if n != 1 else ''}; all of them: {cmd}")


def more_in_group(n: int) -> str:
    return f"… and {n} more change{'s' if n != 1 else ''}"


def severity_key(e: StoredEvent) -> tuple:
    return (-SEVERITY_RANK.get(e.event.severity, 1), e.id if e.id is not None else 0)


def build_digest(channel: str, events: Iterable[StoredEvent], *, max_items: int = 25, max_groups: int = 10) -> Digest:
    """Group by (source, cloud); groups with the most severe event first (then by page and
    cloud), most severe first within a group; show at most ``max_items`` lines, shared
    round-robin so every shown group gets some."""
    events = list(events)
    by_key: dict[tuple, list[StoredEvent]] = {}
    for e in events:
        by_key.setdefault((e.event.source, e.event.cloud), []).append(e)
    top = {k: max(SEVERITY_RANK.get(m.event.severity, 1) for m in v) for k, v in by_key.items()}
    keys = sorted(by_key, key=lambda k: (-top[k], k[0], k[1] is None, k[1] or ""))
    groups: list[Group] = []
    for key in keys[:max_groups]:
        members = sorted(by_key[key], key=severity_key)
        first = next((m.event for m in reversed(members) if m.event.page_url), None)
        commit = next((m.event for m in reversed(members) if m.event.commit_url), None)
        groups.append(Group(key[0], key[1], [], len(members), first.page_url if first else None,
                            commit.commit_url if commit else None, _earliest(members), members[0].event.severity))
    budget = max(1, max_items)
    pools = {id(g): sorted(by_key[(g.source, g.cloud)], key=severity_key) for g in groups}
    while budget > 0:
        progressed = False
        for g in groups:
            pool = pools[id(g)]
            if budget > 0 and len(g.items) < len(pool):
                g.items.append(pool[len(g.items)])
                budget -= 1
                progressed = True
        if not progressed:
            break
    return Digest(channel, events, [g for g in groups if g.items])


def sample_events() -> list[StoredEvent]:
    """A small, realistic digest for ``docwatch alerts test``."""
    base = dict(detected_at=None, page_url="https://learn.microsoft.com/azure/azure-monitor/fundamentals/azure-monitor-network-access")
    return [
        StoredEvent(None, ChangeEvent(source="azure-monitor", kind="modified", rule_key="public|-|outbound|tcp|global.handler.control.monitor.azure.com",
                                      field="ports", old=["443"], new=["443", "1886"], severity="high", impact="ports-added",
                                      cloud="public", direction="outbound", party="global.handler.control.monitor.azure.com",
                                      summary="(test) port 1886 added for global.handler.control.monitor.azure.com outbound", **base)),
        StoredEvent(None, ChangeEvent(source="azure-monitor", kind="added", rule_key="usgov|-|outbound|tcp|*.ods.opinsights.azure.us",
                                      severity="medium", impact="endpoint-added", cloud="usgov", direction="outbound",
                                      party="*.ods.opinsights.azure.us", new={"ports": ["443"]},
                                      summary="(test) endpoint *.ods.opinsights.azure.us added (outbound, 443)", **base)),
    ]


def safe_url(url: str | None) -> str | None:
    """Only absolute http(s) URLs without whitespace or control characters become links."""
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    if not url.lower().startswith(("https://", "http://")) or any(ord(c) < 33 or c in '"<>\\^`{|}' for c in url):
        return None
    return url
