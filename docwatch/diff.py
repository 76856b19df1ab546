"""Two rule sets of one source → the complete :class:`Delta` to write, with its change events.

Pure. The catalog persists what this returns and decides nothing.

Identity
    A rule is its party and direction within the source (:attr:`Rule.identity`). Cloud, tab and
    protocol are facts of the rule: the page naming them more or less precisely is a new rule
    version on the same rule, not a removal plus an addition. Rules of one identity are paired
    old → new by how much of their scope agrees (cloud, then tab, then protocol); a rule whose
    direction changed is paired by party alone, one old and one new left over.

Events only for firewall facts
    Endpoint, ports, protocol, direction, cloud scope, required, ``when`` and deadline raise
    events; purpose, heading, column wording, source/destination text, endpoint kind, the covering
    tag and the tab label are kept in rule versions but stay silent. Refinements are silent too:

    * cloud ``None`` → the one cloud the page now names (and back, when the page named only it);
    * protocol ``None`` ↔ ``tcp`` where the notation implies TCP (a URL, or only ports 80/443):
      ``https:443``, ``HTTPS 443`` and ``443/TCP`` are the same fact;
    * a tab renamed or dropped while the rule stays (the old tab label no longer exists);
    * an added (or removed) rule whose ports another rule of the same identity already covers
      with a broader scope (cloud or tab unset): the same requirement restated per cloud.

Severity by firewall risk (see README, "Change severity")
    ``high``: something you must now allow — an added endpoint/tag or added ports on a required or
    unqualified rule, a protocol or direction change, a rule that now applies to a cloud it did not.
    ``medium``: an optional addition; something you may now close (a removal, ports removed).
    (A new or moved deadline is a ``deadline`` event of :mod:`docwatch.deadline_store`.) ``low``: required/optional flips, ``when`` wording, a protocol or direction
    stated where none was.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Iterable

from docwatch.model import FACT_FIELDS, ChangeEvent, Rule
from parsers.model import clean_text

CLOUD_NAMES = {"public": "public cloud", "usgov": "US Government cloud", "china": "China cloud"}
_CASEFOLD = {"endpoint", "service_tag", "protocol", "direction", "cloud", "endpoint_kind"}
_PORT_RX = re.compile(r"^(\d+)")
_WEB_PORTS = {"80", "443"}
# Facts kept in rule versions that never raise an event on their own.
# Deadlines raise their own ``deadline`` events (docwatch/deadline_store.py: one owner per fact).
SILENT_FIELDS = {"purpose", "source", "destination", "endpoint_kind", "service_tag", "deadline", "deadline_text",
                 "endpoint"}
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
# Facts an added/removed event records (the whole rule is in ``rule_versions``).
_EVENT_FACTS = ("endpoint", "service_tag", "ports", "protocol", "direction", "cloud", "tab", "required", "deadline")


# -- normalised facts ------------------------------------------------------------------

def _port_sort(p: str) -> tuple:
    m = _PORT_RX.match(p)
    return (0, int(m.group(1)), p) if m else (1, 0, p)


_raw = attrgetter(*FACT_FIELDS)  # the facts as a tuple, for the cheap equality test


def norm_facts(rule: Rule) -> dict[str, Any]:
    """Facts in comparison form: whitespace collapsed, case-insensitive identifiers folded,
    ports de-duplicated and sorted numerically, empty strings as ``None``."""
    out: dict[str, Any] = {}
    for k in FACT_FIELDS:
        v = getattr(rule, k)
        if k == "ports":
            v = sorted({str(p).replace(" ", "") for p in (v or []) if str(p).strip()}, key=_port_sort)
        elif isinstance(v, str):
            v = clean_text(v) or None
            if v is not None and k in _CASEFOLD:
                v = v.lower()
        out[k] = v
    return out


def facts_equal(a: Rule, b: Rule) -> bool:
    """Same normalised facts (cheap exact comparison first: most rules do not change)."""
    return _raw(a) == _raw(b) or norm_facts(a) == norm_facts(b)


def changed_fields(old: Rule, new: Rule) -> list[str]:
    """Fact fields whose normalised values differ between two paired rules."""
    of, nf = norm_facts(old), norm_facts(new)
    return [k for k in FACT_FIELDS if of[k] != nf[k]]


# -- wording -------------------------------------------------------------------------------

def human(value: Any) -> str:
    """A fact as a person reads it: no Python ``None``/``True``/quotes."""
    if value is None:
        return "unstated"
    if value is True:
        return "required"
    if value is False:
        return "optional"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value).upper() if str(value).lower() in ("tcp", "udp") else str(value)


def _required_phrase(old: bool | None, new: bool | None) -> str:
    if new is None:
        return f"is no longer marked {human(old)}"
    if old is None:
        return f"is now marked {human(new)}"
    return f"is now {human(new)} (was {human(old)})"


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


def _noun(rule: Rule) -> str:
    return "role" if rule.endpoint_kind == "role" else "endpoint" if rule.endpoint else "service tag"


def event_facts(rule: Rule) -> dict[str, Any]:
    return {k: getattr(rule, k) for k in _EVENT_FACTS if getattr(rule, k) not in (None, [], "")}


def _event(source: str, kind: str, rule: Rule, **kw: Any) -> ChangeEvent:
    return ChangeEvent(
        source=source, kind=kind, rule_key=rule.key, cloud=rule.cloud, tab=rule.tab,
        direction=rule.direction, party=rule.party or None, section=list(rule.section or []), **kw,
    )


def _must_allow(rule: Rule) -> bool:
    return rule.required is not False


def added_event(rule: Rule, source: str) -> ChangeEvent:
    ports = f" ports {', '.join(rule.ports)}" if rule.ports else ""
    return _event(source, "added", rule, new=event_facts(rule), severity="high" if _must_allow(rule) else "medium",
                  impact=f"{'endpoint' if rule.endpoint else 'tag'}-added",
                  summary=f"{_noun(rule)} {_who(rule)}{ports} added {_where(rule, source)}")


def removed_event(rule: Rule, source: str) -> ChangeEvent:
    ports = f" ports {', '.join(rule.ports)}" if rule.ports else ""
    return _event(source, "removed", rule, old=event_facts(rule), severity="medium",
                  impact=f"{'endpoint' if rule.endpoint else 'tag'}-removed",
                  summary=f"{_noun(rule)} {_who(rule)}{ports} removed {_where(rule, source)}")


def narrowed_event(rule: Rule, still: list[Rule], source: str) -> ChangeEvent:
    """A rule that stays on the page only for some clouds or tabs: something you may close elsewhere."""
    where = sorted({CLOUD_NAMES.get(r.cloud, r.cloud) if r.cloud else (r.tab or "every cloud") for r in still})
    was = CLOUD_NAMES.get(rule.cloud, rule.cloud) if rule.cloud else (rule.tab or "every cloud")
    return _event(source, "modified", rule, field="cloud" if rule.cloud or not rule.tab else "tab", severity="low",
                  impact="scope-narrowed", old=event_facts(rule), new=[event_facts(r) for r in still],
                  summary=f"{_noun(rule)} {_who(rule)} now stated only for {', '.join(where)} (was {was}) ({source})")


# -- pairing ---------------------------------------------------------------------------------

@dataclass
class Scope:
    """What the new page names as a whole: lets a refinement be told from a move."""

    old_clouds: set[str] = field(default_factory=set)
    new_clouds: set[str] = field(default_factory=set)
    old_tabs: set[str] = field(default_factory=set)
    new_tabs: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, old: Iterable[Rule], new: Iterable[Rule]) -> "Scope":
        old, new = list(old), list(new)
        return cls({r.cloud for r in old if r.cloud}, {r.cloud for r in new if r.cloud},
                   {r.tab.lower() for r in old if r.tab}, {r.tab.lower() for r in new if r.tab})


@dataclass
class Pair:
    old: Rule
    new: Rule
    fields: list[str]  # every changed fact field (a new rule version), silent ones included
    events: list[ChangeEvent]


@dataclass
class Delta:
    """Everything the catalog writes for one version: rule versions and events."""

    pairs: list[Pair] = field(default_factory=list)  # paired rules whose facts changed
    added: list[Rule] = field(default_factory=list)
    removed: list[Rule] = field(default_factory=list)
    events: list[ChangeEvent] = field(default_factory=list)
    prev_count: int = 0
    same: int = 0  # rules with identical facts

    @property
    def rekeys(self) -> dict[str, str]:
        """Old storage key → new one, for paired rules whose key changed."""
        return {p.old.key: p.new.key for p in self.pairs if p.old.key != p.new.key}

    @property
    def gross_changed(self) -> int:
        """Previous rules removed, or paired only by party (direction or cloud moved): the guard's
        measure of how much of the page was re-keyed that restatement does not explain."""
        moved = sum(1 for p in self.pairs if {"direction", "cloud"} & set(p.fields)
                    and any(e.field in ("direction", "cloud") for e in p.events))
        return len(self.removed) + moved


def _score(o: Rule, n: Rule) -> int:
    return (4 if o.cloud == n.cloud else 0) + (2 if (o.tab or "").lower() == (n.tab or "").lower() else 0) \
        + (1 if o.protocol == n.protocol else 0)


def _pair_group(olds: list[Rule], news: list[Rule]) -> tuple[list[tuple[Rule, Rule]], list[Rule], list[Rule]]:
    """Greedy best-scope pairing of one identity's old and new rules."""
    if len(olds) == 1 and len(news) == 1:
        return [(olds[0], news[0])], [], []
    cands = sorted(((_score(o, n), i, j) for i, o in enumerate(olds) for j, n in enumerate(news)),
                   key=lambda t: (-t[0], t[1], t[2]))
    used_o, used_n, pairs = set(), set(), []
    for score, i, j in cands:
        if i in used_o or j in used_n:
            continue
        # rules of one identity in several clouds pair only with their own cloud or an unstated one
        o, n = olds[i], news[j]
        if o.cloud and n.cloud and o.cloud != n.cloud and (len(olds) > 1 or len(news) > 1):
            continue
        used_o.add(i); used_n.add(j); pairs.append((o, n))
    return pairs, [o for i, o in enumerate(olds) if i not in used_o], [n for j, n in enumerate(news) if j not in used_n]


def _implies_tcp(rule: Rule) -> bool:
    ports = set(rule.ports or [])
    return rule.endpoint_kind == "url" or bool(re.match(r"^https?://", rule.endpoint or "", re.I)) or (
        bool(ports) and ports <= _WEB_PORTS)


def port_change(old: list[str], new: list[str]) -> tuple[list[str], list[str]]:
    """The ports a matched rule gained and lost, each in port order: the field-level detail of a
    pair whose ports differ (DeepDiff of the two port sets; only such pairs get here, so the
    comparison of every rule stays the plain one in :func:`changed_fields`)."""
    from deepdiff import DeepDiff

    delta = DeepDiff(set(old), set(new), view="tree")
    added = sorted((item.t2 for item in delta.get("set_item_added", ())), key=_port_sort)
    removed = sorted((item.t1 for item in delta.get("set_item_removed", ())), key=_port_sort)
    return added, removed


def _field_events(old: Rule, new: Rule, fields: list[str], scope: Scope, source: str,
                  clouds_of_identity: set[str] = frozenset()) -> list[ChangeEvent]:
    events: list[ChangeEvent] = []
    where = _where(new, source)
    of, nf = norm_facts(old), norm_facts(new)

    def ev(fld: str, severity: str, summary: str, impact: str | None = None, **kw: Any) -> None:
        events.append(_event(source, "modified", new, field=fld, severity=severity,
                             impact=impact or f"{fld.replace('_', '-')}-changed", summary=summary,
                             old=kw.pop("old", getattr(old, fld)), new=kw.pop("new", getattr(new, fld))))

    for fld in fields:
        ov, nv = of[fld], nf[fld]
        if fld in SILENT_FIELDS:
            continue
        if fld == "ports":
            added, removed = port_change(of["ports"], nf["ports"])
            for ports, verb, sev in ((added, "added", "high" if _must_allow(new) else "medium"), (removed, "removed", "medium")):
                if ports:
                    noun = "port" if len(ports) == 1 else "ports"
                    ev("ports", sev, f"{noun} {', '.join(ports)} {verb} for {_who(new)} {where}", f"ports-{verb}",
                       old=list(old.ports), new=list(new.ports))
        elif fld == "protocol":
            if {ov, nv} == {None, "tcp"} and (_implies_tcp(old) or _implies_tcp(new)):
                continue  # https:443 / HTTPS 443 / 443/TCP: the same fact in another notation
            sev = "low" if None in (ov, nv) else "high"
            ev(fld, sev, f"protocol changed from {human(ov)} to {human(nv)} for {new.party} {where}")
        elif fld == "direction":
            sev = "low" if None in (ov, nv) else "high"
            ev(fld, sev, f"direction changed from {human(ov)} to {human(nv)} for {new.party} {where}")
        elif fld == "cloud":
            if ov is None and (scope.new_clouds == {nv} or scope.new_clouds <= clouds_of_identity):
                continue  # the page now names the one cloud it always meant, or lists the rule per cloud
            if nv is None and (scope.old_clouds == {ov} or not scope.new_clouds):
                continue  # the page stopped naming its only cloud, or dropped its cloud tabs
            sev = "low" if nv is not None and ov is None else "high"
            old_s = CLOUD_NAMES.get(ov, "every cloud") if ov else "every cloud"
            new_s = CLOUD_NAMES.get(nv, nv) if nv else "every cloud"
            ev(fld, sev, f"{_noun(new)} {_who(new)} now applies to {new_s} (was {old_s}) ({source})", "cloud-changed")
        elif fld == "tab":
            if not ov or ov not in scope.new_tabs:
                continue  # the tab group was renamed or dropped; the rule stays
            ev(fld, "low", f"{_noun(new)} {_who(new)} moved from tab {old.tab} to {new.tab or 'no tab'} ({source})")
        elif fld == "required":
            ev(fld, "low", f"{_who(new)} {_required_phrase(old.required, new.required)} {where}")
        elif fld == "when":
            ev(fld, "low", f"when required changed from {human(old.when)} to {human(new.when)} for {_who(new)} {where}")
    return events


def compute_delta(old: list[Rule], new: list[Rule], *, source: str) -> Delta:
    """Pair ``old`` with ``new`` by identity and return the rule versions and events to write."""
    scope = Scope.of(old, new)
    delta = Delta(prev_count=len(old))
    o_by: dict[str, list[Rule]] = {}
    n_by: dict[str, list[Rule]] = {}
    for r in old:
        o_by.setdefault(r.identity, []).append(r)
    for r in new:
        n_by.setdefault(r.identity, []).append(r)
    left_old: list[tuple[Rule, list[Rule]]] = []  # (rule, the new rules of its identity)
    left_new: list[tuple[Rule, list[Rule]]] = []
    for ident in sorted(o_by.keys() | n_by.keys()):
        olds, news = o_by.get(ident, []), n_by.get(ident, [])
        if len(olds) == 1 and len(news) == 1:  # the common case: one rule each side
            _add_pair(delta, olds[0], news[0], scope, source, {news[0].cloud} - {None})
            continue
        new_keys = [(n.key, n) for n in news]
        exact = dict(new_keys)
        paired_o, rest_o, used = [], [], set()
        for o in olds:  # exact storage keys first
            k = o.key
            n = exact.get(k)
            if n is not None and k not in used:
                used.add(k); paired_o.append((o, n))
            else:
                rest_o.append(o)
        rest_n = [n for k, n in new_keys if k not in used]
        pairs, lo, ln = _pair_group(rest_o, rest_n) if rest_o and rest_n else ([], rest_o, rest_n)
        clouds = {n.cloud for n in news if n.cloud}
        for o, n in paired_o + pairs:
            _add_pair(delta, o, n, scope, source, clouds)
        left_old += [(o, news) for o in lo]
        left_new += [(n, olds) for n in ln]
    # a direction change: the party's only rule on each side, left over by the identity pairing
    once_o = _only_rule_per_party(old) if left_old and left_new else {}
    once_n = _only_rule_per_party(new) if left_old and left_new else {}
    moved: set[int] = set()
    left_new_ids = {id(n) for n, _ in left_new}
    for o, _ in left_old:
        n = once_n.get(o.party.lower())
        if once_o.get(o.party.lower()) is o and n is not None and id(n) in left_new_ids:
            moved.update((id(o), id(n)))
            _add_pair(delta, o, n, scope, source)
    for o, siblings in left_old:
        if id(o) in moved:
            continue
        delta.removed.append(o)
        broader = _broader(o, siblings)
        if not broader and siblings and o.cloud is None:  # a general statement now made only for some clouds/tabs
            delta.events.append(narrowed_event(o, siblings, source))
        elif not broader:
            delta.events.append(removed_event(o, source))
        else:  # merged into a rule of wider scope: only ports it no longer states are a change
            _merged_ports(delta, o, broader, "removed", source)
    for n, siblings in left_new:
        if id(n) in moved:
            continue
        delta.added.append(n)
        broader = _broader(n, siblings)
        if not broader:
            delta.events.append(added_event(n, source))
        else:  # the same requirement restated per cloud or tab
            _merged_ports(delta, n, broader, "added", source)
    return delta


def _broader(rule: Rule, others: Iterable[Rule]) -> list[Rule]:
    """Rules of the same identity whose scope includes ``rule``'s (cloud and tab unset or equal)."""
    return [o for o in others if o.cloud in (None, rule.cloud) and (o.tab or None) in (None, rule.tab)
            and (o.protocol in (None, "any", rule.protocol) or rule.protocol is None)]


def _merged_ports(delta: Delta, rule: Rule, broader: list[Rule], verb: str, source: str) -> None:
    wide = {p for b in broader for p in (b.ports or [])}
    if "*" in wide:
        return
    missing = sorted(set(rule.ports or []) - wide, key=_port_sort)
    ident = (rule.party.lower(), rule.direction)
    for e in delta.events:  # the paired rule may have reported these ports already
        if (e.party or "").lower() == ident[0] and e.direction == ident[1] and e.impact == f"ports-{verb}":
            gone = set(e.old or []) - set(e.new or []) if verb == "removed" else set(e.new or []) - set(e.old or [])
            missing = [p for p in missing if p not in gone]
    if not missing:
        return
    target = broader[0] if verb == "removed" else rule
    noun = "port" if len(missing) == 1 else "ports"
    sev = "medium" if verb == "removed" or not _must_allow(rule) else "high"
    delta.events.append(_event(source, "modified", target, field="ports", severity=sev, impact=f"ports-{verb}",
                               old=list(rule.ports) if verb == "removed" else sorted(wide, key=_port_sort),
                               new=list(target.ports),
                               summary=f"{noun} {', '.join(missing)} {verb} for {_who(target)} {_where(target, source)}"))


def _only_rule_per_party(rules: list[Rule]) -> dict[str, Rule]:
    seen: dict[str, Rule | None] = {}
    for r in rules:
        p = r.party.lower()
        seen[p] = None if p in seen else r
    return {p: r for p, r in seen.items() if r is not None}


def _add_pair(delta: Delta, o: Rule, n: Rule, scope: Scope, source: str, clouds: set[str] = frozenset()) -> None:
    if facts_equal(o, n):
        if o.key != n.key:  # same facts, differently cased key: still a re-key to write
            delta.pairs.append(Pair(o, n, [], []))
        else:
            delta.same += 1
        return
    fields = changed_fields(o, n)
    events = _field_events(o, n, fields, scope, source, clouds)
    delta.pairs.append(Pair(o, n, fields, events))
    delta.events.extend(events)


def diff_rules(old: list[Rule], new: list[Rule], *, source: str) -> list[ChangeEvent]:
    """The change events turning ``old`` into ``new`` (see :func:`compute_delta`)."""
    return compute_delta(old, new, source=source).events


def commit_url(source_url: str | None, commit: str | None) -> str | None:
    """``https://github.com/<owner>/<repo>/commit/<sha>`` when the source URL names the repo."""
    if not source_url or not commit:
        return None
    m = re.match(r"https?://github\.com/([^/]+)/([^/]+)/", source_url)
    if not m:
        return None
    return f"https://github.com/{m.group(1)}/{m.group(2)}/commit/{commit}"
