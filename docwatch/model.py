"""Typed records passed between stages: normalized rules and change events.

A :class:`Rule` is one remote party (host pattern or service tag) x protocol x direction
x cloud x tab variant, with its ports (see ../shared/DESIGN.md, "Normalized rule").
Its :attr:`Rule.key` is the identity used for versioning and diffing; it deliberately
leaves out everything cosmetic (heading text, row/column order, purpose wording).
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import Any

# Fields that are facts about the network rule; a change in any of them is a change.
FACT_FIELDS = (
    "endpoint", "endpoint_kind", "service_tag", "source", "destination", "ports",
    "protocol", "direction", "cloud", "tab", "required", "when", "purpose",
    "deadline", "deadline_text",
)
# Fields that only say where the fact was read; they never make a change on their own.
PROVENANCE_FIELDS = ("section", "table", "row", "origin")
ORIGINS = ("table", "list", "code", "prose")


@dataclass
class Rule:
    endpoint: str | None = None
    endpoint_kind: str | None = None  # fqdn | wildcard | url | ip | cidr | ip_range | template | role
    service_tag: str | None = None
    source: str | None = None
    destination: str | None = None
    ports: list[str] = _field(default_factory=list)
    protocol: str | None = None  # tcp | udp | any | None
    direction: str | None = None  # outbound | inbound | both | None
    cloud: str | None = None  # public | usgov | china | None
    tab: str | None = None
    required: bool | None = None
    when: str | None = None
    purpose: str | None = None
    deadline: str | None = None  # ISO date the page attaches to this requirement
    deadline_text: str | None = None  # the sentence that states it
    section: list[str] = _field(default_factory=list)
    table: int | None = None
    row: int | None = None
    origin: str = "table"  # table | list | code | prose: what shape on the page stated it

    @property
    def party(self) -> str:
        """The remote party: the endpoint when there is one, else the service tag."""
        return (self.endpoint or self.service_tag or "").strip()

    @property
    def key(self) -> str:
        """Stable identity: cloud | tab | direction | protocol | party (case-folded)."""
        parts = (self.cloud, self.tab, self.direction, self.protocol, self.party.lower())
        return "|".join(p if p else "-" for p in parts)

    @property
    def identity(self) -> str:
        """Identity across versions: direction | party (case-folded). Cloud, tab and protocol
        are facts of the rule, so a restatement that makes them explicit keeps the identity."""
        return f"{self.direction or '-'}|{self.party.lower() or '-'}"

    def facts(self) -> dict[str, Any]:
        return {k: list(self.ports) if k == "ports" else getattr(self, k) for k in FACT_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["ports"], d["section"] = list(self.ports), list(self.section)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Rule":
        known = {k: d[k] for k in (*FACT_FIELDS, *PROVENANCE_FIELDS) if k in d}
        if known.get("origin") is None:
            known.pop("origin", None)
        return cls(**known)


@dataclass
class ChangeEvent:
    """One change between two versions of a source's rules (or one anomaly)."""

    source: str
    kind: str  # added | removed | modified | anomaly
    rule_key: str | None = None
    field: str | None = None  # for "modified": which fact field changed
    old: Any = None
    new: Any = None
    severity: str = "low"  # high | medium | low | info
    impact: str | None = None  # short class, e.g. "endpoint-removed", "ports-added"
    cloud: str | None = None
    tab: str | None = None
    direction: str | None = None
    party: str | None = None  # endpoint or service tag
    section: list[str] = _field(default_factory=list)
    summary: str = ""  # one human sentence, e.g. "port 1886 added for AzureMonitor outbound ..."
    detected_at: str | None = None  # ISO timestamp
    doc_date: str | None = None
    doc_commit: str | None = None
    page_url: str | None = None
    commit_url: str | None = None
    version_id: int | None = None
    effective_after: str | None = None  # service tags: the date new prefixes may be in use (file date + 7 days)
    used_by: list[str] | None = None  # service tags: the watched sources whose rules use the tag
    id: int | None = None  # the change_events row id, once stored

    def to_dict(self) -> dict[str, Any]:
        # a shallow dict (``asdict`` deep-copies every value: a quarter of ingest time)
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["section"] = list(self.section)
        return d
