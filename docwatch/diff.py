"""Keyed comparison of two rule sets → :class:`~docwatch.model.ChangeEvent` list, and the
false-alarm guard that decides whether a new document version looks collapsed.

Rules are matched by :attr:`Rule.key` (cloud | tab | direction | protocol | party). Matched
rules whose *normalised* facts differ yield one ``modified`` event per changed field (ports
split into ``ports-added`` / ``ports-removed``); DeepDiff is used only for those matched
pairs, never on whole catalogs. An unmatched old rule and an unmatched new rule that name
the same party in the same cloud/tab (one each) are a protocol/direction change, reported
as ``modified`` rather than a removal plus an addition.

Severity: endpoint/tag removed, port added/removed, protocol/direction change → high;
endpoint/tag added, required/source/destination/service-tag change → medium; purpose,
``when`` and endpoint-kind rewording → low; anomalies → high.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from deepdiff import DeepDiff

from docwatch.guard import GuardSettings, assess, is_hard_anomaly  # noqa: F401 - re-exported for callers
from docwatch.model import FACT_FIELDS, ChangeEvent, Rule
from parsers.model import Document, clean_text

FIELD_SEVERITY = {
    "ports": "high", "protocol": "high", "direction": "high",
    "required": "medium", "service_tag": "medium", "source": "medium", "destination": "medium",
    "endpoint": "low", "endpoint_kind": "low", "purpose": "low", "when": "low",
    "cloud": "high", "tab": "medium",
}
CLOUD_NAMES = {"public": "public cloud", "usgov": "US Government cloud", "china": "China cloud"}
_CASEFOLD = {"endpoint", "service_tag", "protocol", "direction", "cloud", "endpoint_kind"}
_PORT_RX = re.compile(r"^(\d+)")


# -- normalised facts ------------------------------------------------------------------

def _port_sort(p: str) -> tuple:
    m = _PORT_RX.match(p)
    return (0, int(m.group(1)), p) if m else (1, 0, p)


def _raw(rule: Rule) -> tuple:
    return tuple(getattr(rule, k) for k in FACT_FIELDS)


def norm_facts(rule: Rule) -> dict[str, Any]:
    """Facts in comparison form: whitespace collapsed, case-insensitive identifiers folded,
    ports de-duplicated and sorted numerically, empty strings as ``None``."""
    out: dict[str, Any] = {}
    for k in FACT_FIELDS:
        v = getattr(rule, k)
        if k == "ports":
            v = sorted({clean_text(str(p)).replace(" ", "") for p in (v or []) if clean_text(str(p))}, key=_port_sort)
        elif isinstance(v, str):
            v = clean_text(v) or None
            if v is not None and k in _CASEFOLD:
                v = v.lower()
        out[k] = v
    return out


def facts_equal(a: Rule, b: Rule) -> bool:
    """Same normalised facts (cheap exact comparison first: most rules do not change)."""
    return _raw(a) == _raw(b) or norm_facts(a) == norm_facts(b)


# -- events ------------------------------------------------------------------------------

def _fmt_list(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items)


def _where(rule: Rule, source: str) -> str:
    bits = [source]
    if rule.tab:
        bits.append(rule.tab)
    if rule.cloud:
        bits.append(CLOUD_NAMES.get(rule.cloud, rule.cloud))
    return "(" + ", ".join(bits) + ")"


def _who(rule: Rule) -> str:
    who = rule.party or "?"
    if rule.direction:
        who += f" {rule.direction}"
    if rule.protocol and rule.protocol != "any":
        who += f" {rule.protocol.upper()}"
    return who


def _event(source: str, kind: str, rule: Rule, **kw: Any) -> ChangeEvent:
    return ChangeEvent(
        source=source, kind=kind, rule_key=rule.key, cloud=rule.cloud, tab=rule.tab,
        direction=rule.direction, party=rule.party or None, section=list(rule.section or []), **kw,
    )


def _added(rule: Rule, source: str) -> ChangeEvent:
    what = "endpoint" if rule.endpoint else "service tag"
    ports = f" ports {_fmt_list(rule.ports)}" if rule.ports else ""
    return _event(source, "added", rule, new=rule.facts(), severity="medium",
                  impact="endpoint-added" if rule.endpoint else "tag-added",
                  summary=f"{what} {_who(rule)}{ports} added {_where(rule, source)}")


def _removed(rule: Rule, source: str) -> ChangeEvent:
    what = "endpoint" if rule.endpoint else "service tag"
    return _event(source, "removed", rule, old=rule.facts(), severity="high",
                  impact="endpoint-removed" if rule.endpoint else "tag-removed",
                  summary=f"{what} {_who(rule)} removed {_where(rule, source)}")


def _modified(old: Rule, new: Rule, source: str, fields: Iterable[str]) -> list[ChangeEvent]:
    events: list[ChangeEvent] = []
    of, nf = norm_facts(old), norm_facts(new)
    where = _where(new, source)
    for fld in (f for f in FACT_FIELDS if f in set(fields)):
        if fld == "ports":
            added = [p for p in nf["ports"] if p not in of["ports"]]
            removed = [p for p in of["ports"] if p not in nf["ports"]]
            for impact, ports, verb in (("ports-added", added, "added"), ("ports-removed", removed, "removed")):
                if ports:
                    noun = "port" if len(ports) == 1 else "ports"
                    events.append(_event(
                        source, "modified", new, field="ports", old=list(old.ports), new=list(new.ports),
                        severity="high", impact=impact,
                        summary=f"{noun} {_fmt_list(ports)} {verb} for {_who(new)} {where}"))
            continue
        ov, nv = getattr(old, fld), getattr(new, fld)
        events.append(_event(
            source, "modified", new, field=fld, old=ov, new=nv, severity=FIELD_SEVERITY.get(fld, "low"),
            impact=f"{fld.replace('_', '-')}-changed",
            summary=f"{fld.replace('_', ' ')} changed from {ov!r} to {nv!r} for {_who(new)} {where}"))
    return events


def changed_fields(old: Rule, new: Rule) -> list[str]:
    """Fact fields that differ between two matched rules (DeepDiff on the normalised facts)."""
    dd = DeepDiff(norm_facts(old), norm_facts(new), ignore_order=False, verbose_level=0)
    return sorted(str(k) for k in dd.affected_root_keys)


def _index(rules: Iterable[Rule]) -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for r in rules:
        out[r.key] = r  # normalize already merged by key; the last one wins defensively
    return out


def diff_rules(old: list[Rule], new: list[Rule], *, source: str) -> list[ChangeEvent]:
    """Events turning ``old`` into ``new``: removed, added, modified (one per changed field)."""
    o, n = _index(old), _index(new)
    events: list[ChangeEvent] = []
    for key in sorted(o.keys() & n.keys()):
        a, b = o[key], n[key]
        if not facts_equal(a, b):
            events.extend(_modified(a, b, source, changed_fields(a, b)))
    gone = {k: o[k] for k in o.keys() - n.keys()}
    fresh = {k: n[k] for k in n.keys() - o.keys()}
    # Same party, cloud and tab on both sides, one each: a protocol/direction change.
    def group(d: dict[str, Rule]) -> dict[tuple, list[str]]:
        g: dict[tuple, list[str]] = {}
        for k, r in d.items():
            g.setdefault((r.cloud, r.tab, r.party.lower()), []).append(k)
        return g
    gg, fg = group(gone), group(fresh)
    for ident in sorted(gg.keys() & fg.keys(), key=str):
        if len(gg[ident]) == 1 and len(fg[ident]) == 1:
            a, b = gone.pop(gg[ident][0]), fresh.pop(fg[ident][0])
            events.extend(_modified(a, b, source, changed_fields(a, b)))
    events.extend(_removed(gone[k], source) for k in sorted(gone))
    events.extend(_added(fresh[k], source) for k in sorted(fresh))
    return events


def commit_url(source_url: str | None, commit: str | None) -> str | None:
    """``https://github.com/<owner>/<repo>/commit/<sha>`` when the source URL names the repo."""
    if not source_url or not commit:
        return None
    m = re.match(r"https?://github\.com/([^/]+)/([^/]+)/", source_url)
    if not m:
        return None
    return f"https://github.com/{m.group(1)}/{m.group(2)}/commit/{commit}"
