"""Held-out evaluation: hand-checked facts on Learn network-requirement pages docwatch was not written against.

Each ``synthetic_realworld/<family>.md`` reproduces the structure and the kinds of requirement
statements of one real Learn page family (AKS egress, AVD, Azure Local, SQL MI, ...) in its own
words and hosts; its HTML form is that markdown rendered as live Learn serves it
(``render_learn.py``, once per run: see ``rules_support.page``), and ``<family>.facts.json`` lists what a firewall engineer needs from the
page: partial rules ``{party, ports, protocol, direction, cloud, endpoint_kind}`` (only the fields
the page makes certain; role rows also give ``source`` and ``destination``) and ``not_rules``,
tokens that must never be a rule's party. Both forms go through the path ``docwatch rules PATH``
uses (:func:`docwatch.pipeline.read_local`).

A fact matches when some rule has the party as its endpoint or service tag (case-insensitive; a
role may also be the rule's source or destination) and equal values for every other field it
gives; its ports equal the union of the ports of those rules (a page may state one party's ports
over several rows). Pages docwatch misses today are
``xfail(strict=True)`` with the shape it misses, so fixing a shape turns the mark into a failure to
remove. ``python -m tests.test_realworld_pages`` prints the score per page and form.
"""
from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from rules_support import page

HERE = Path(__file__).resolve().parent / "synthetic_realworld"
FORMS = ("md", "html")
FIELDS = ("protocol", "direction", "cloud", "endpoint_kind", "source", "destination")

# family -> the shape docwatch misses there today, on both forms (the HTML form is the same content)
_MISSED = {
    "defender_endpoint_urls": "a host listed both under the default ('All traffic … TCP port 443') and its exception "
                              "('except the certificate revocation list URLs … TCP port 80') keeps 443 as well",
    "iot_hub_edge_ports": "the 'Protocol | Port | Incoming | Outgoing' table of a device's default ports (no address "
                          "column) makes a '*' rule; the facts read its ports as those of the hosts listed before",
    "connected_cache_enterprise": "'The host must allow inbound and outbound traffic on TCP ports 80 and 443' gives a '*' rule "
                                  "(direction both), not an inbound rule for the cache node host",
    "synapse_workspace_firewall": "ports stated in sentences around an endpoint table without a port column ('allows outgoing "
                                  "communication on TCP ports 80, 443 and 1443. Synapse Studio uses these ports'; 'connect to the two "
                                  "SQL endpoints over TCP port 1433') make one '*' rule; hosts get no port; '`0.0.0.0`' made a rule",
    "adx_vnet_injection": "the per-region address tables an NSG row links to ('[ADX management addresses](#...)') get the row's port but not its direction; UDR 'Address Prefix | Next Hop' rows' /32 prefixes made rules",
    "hpc_cache_network": "CRL/OCSP hosts in a sample-output code block ('OCSP - URI:http://...') "
                         "that an earlier sentence says must be 'reachable on port 80' give no rule",
    "scom_mi_network": "a NOTE's alternative port ('connects on TCP port 3342 instead of 1433 and the redirect ports aren't required') "
                       "is added to the 'From | To' table row's ports (1433, 11000-11999) instead of replacing them",
    "private5g_core_ports": "an SCTP protocol cell ('N2 | gNodeB | Packet core access interface | SCTP | 38412') gives protocol null, the model "
                            "has no sctp; NAPT source ports ('uses source ports 1024 through 49999 … you don't open them') make a '*' rule",
    "iot_central_network": "a 'Protocol | Port | Notes' table with no address column followed by 'Allow the ports you use toward these hosts:' "
                           "and a host list makes a '*' rule (hosts get only the WebSockets 443); a wildcard given its port by a pronoun "
                           "('under `*.azureiotcentral.com` … Browsers need HTTPS (TCP 443) to it') gives no rule",
    "hdinsight_aks_egress": "'for example `eastus` in `AzureCloud.eastus`' makes a tag rule (another page's 'for example `Sql.EastUS`' is a party, so an example of a <Region> tag stays one), and an example route table's 'Address prefix' `20.55.10.4/32` (the firewall's own IP, next hop Internet) a CIDR rule",
    "teams_direct_routing_sbc": "'Teams clients must reach the SBC's public IP address on UDP over the media port range' (a range the page defines elsewhere, no number) gives no rule",
    "ad_trusts_firewall": "'member servers use the same ports to the trusted domain's domain controllers as the workstations' (the ports of another paragraph's sentence) gives no rule",
    "managed_redis_ports": "portless `<cache-name>.<region>…` templates in per-cloud tabs don't take the ports of the later per-clustering-policy "
                           "tab tables ('Port | Protocol | Purpose', no address column; 'Clients must be able to reach the cache host on both rows of "
                           "the table'), which become 'Enterprise policy' / 'OSS policy' roles and '*' rules; 'Those ports don't apply … so don't "
                           "open them' (6379, 6380) makes a '*' rule",
    "elastic_san_iscsi": "'They must reach the private endpoint's address over your VPN or ExpressRoute connection; open the same port on the "
                         "on-premises firewall' (On-premises servers, 3260 from the sentence before) gives no rule",
    "notification_hubs_pns": "'it also signs in at `login.microsoftonline.com` on the same port' and 'signs in to WNS through `login.live.com` on TCP 443' give no rule; 'allow that block outbound on both ports' gives `17.0.0.0/8` only 443",
    "remote_rendering_network": "'allow the **AzureCloud** service tag outbound on the same TCP and UDP range' gives the tag no port; 'For example, an account in West US 2 uses `remoterendering.westus2…`' (the code block's template filled in) makes a rule",
    "entra_hybrid_join_network": "a `https://` URL in a zone-setting sentence ('add `https://autologon…` to the users' Intranet zone settings') is a url rule, where the facts want the host",
}
XFAIL: dict[tuple[str, str], str] = {(fam, form): why for fam, why in _MISSED.items() for form in FORMS}


def families() -> list[str]:
    return sorted(p.name[: -len(".facts.json")] for p in HERE.glob("*.facts.json"))


@lru_cache(maxsize=None)
def rules_of(family: str, form: str) -> tuple[dict, ...]:
    """The rules of one form of a page, read as ``docwatch rules PATH --json`` reads them."""
    from docwatch.pipeline import read_local

    return tuple(r.to_dict() for r in read_local(page(HERE / f"{family}.md", form)).rules)


def facts_of(family: str) -> dict:
    return json.loads((HERE / f"{family}.facts.json").read_text())


def _parties(rule: dict) -> set[str]:
    return {p.strip("()").lower() if rule["endpoint_kind"] == "role" else p.lower()
            for p in (rule["endpoint"], rule["service_tag"]) if p}


def _roles(value: str | None) -> set[str]:
    """A role cell as written (without enclosing parentheses), and each role of a cell docwatch
    joined with " / "."""
    return {p.strip().strip("()").lower() for p in [value, *value.split(" / ")]} if value else set()


def _agrees(rule: dict, key: str, want) -> bool:
    if key in ("source", "destination"):
        return want.strip("()").lower() in _roles(rule[key])
    return rule[key] == want


def _names(fact: dict) -> set[str]:
    """The spellings a fact's party may take (``party`` is one, or a list when the page's own words allow
    several, e.g. a tag written as a role: "Azure load balancer")."""
    names = fact["party"] if isinstance(fact["party"], list) else [fact["party"]]
    return {n.strip("()").lower() if fact.get("endpoint_kind") == "role" else n.lower() for n in names}


def matched(fact: dict, rules: tuple[dict, ...]) -> bool:
    names = _names(fact)
    hits = [r for r in rules
            if (names & _parties(r) or fact.get("endpoint_kind") == "role" and names & (_roles(r["source"]) | _roles(r["destination"])))
            and all(_agrees(r, k, fact[k]) for k in FIELDS if k in fact)]
    if not hits:
        return False
    return "ports" not in fact or {p for r in hits for p in r["ports"]} == set(fact["ports"])


def misses(family: str, form: str) -> tuple[list[dict], list[str]]:
    """Facts no rule matches, and not-rule tokens that became a rule's party."""
    rules = rules_of(family, form)
    page = facts_of(family)
    missed = [f for f in page["facts"] if not matched(f, rules)]
    parties = {p for r in rules for p in _parties(r)}
    wrong = [t for t in page.get("not_rules", []) if t.lower() in parties]
    return missed, wrong


def _brief(fact: dict) -> str:
    extra = ",".join(str(fact[k]) for k in FIELDS if fact.get(k))
    party = fact["party"] if isinstance(fact["party"], str) else "|".join(fact["party"])
    return f"{party}:{'/'.join(fact.get('ports', [])) or '-'}[{extra}]"


def _params():
    for fam in families():
        for form in FORMS:
            reason = XFAIL.get((fam, form))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(fam, form, marks=marks, id=f"{fam}-{form}")


@pytest.mark.parametrize(("family", "form"), list(_params()))
def test_page_facts(family, form):
    missed, wrong = misses(family, form)
    assert not missed and not wrong, (
        f"{family}.{form}: missed {len(missed)}/{len(facts_of(family)['facts'])}: "
        + "; ".join(_brief(f) for f in missed) + (f" | not-rules made parties: {wrong}" if wrong else ""))


def test_every_family_has_facts_and_both_forms():
    """A family without facts, or whose markdown does not render, would silently drop out of the evaluation."""
    assert len(families()) >= 20
    for fam in families():
        assert (HERE / f"{fam}.facts.json").is_file(), fam
        rendered = page(HERE / f"{fam}.md", "html").read_text()
        assert '<main id="main"' in rendered and "<h1" in rendered, fam


def _squeezed(text: str) -> str:
    """Text compared for "is it on the page": entities decoded, case, spaces and markup marks dropped."""
    return re.sub(r"[\s*`\\]", "", html.unescape(text).lower())


def _markdown_with_includes(path: Path) -> str:
    text = path.read_text()
    return text + "".join(_markdown_with_includes(path.parent / inc)
                          for inc in re.findall(r"\[!INCLUDE\s*\[[^\]]*\]\s*\(([^)]+)\)\]", text, re.I))


def test_facts_and_not_rules_are_on_the_page():
    """A fact or not-rule whose token the page never writes (a typo in the facts file) would test nothing."""
    for fam in families():
        text = _squeezed(page(HERE / f"{fam}.md", "html").read_text() + _markdown_with_includes(HERE / f"{fam}.md"))
        page_facts = facts_of(fam)
        absent = [f["party"] for f in page_facts["facts"]
                  if not any(_squeezed(n).rstrip("/") in text for n in _names(f))]
        absent += [t for t in page_facts.get("not_rules", []) if _squeezed(t) not in text]
        assert not absent, (fam, absent)


def score() -> dict[str, tuple[int, int]]:
    """Print facts matched / total per page and form; return the totals per form."""
    totals = {form: [0, 0] for form in FORMS}
    for fam in families():
        cells = []
        for form in FORMS:
            missed, wrong = misses(fam, form)
            n = len(facts_of(fam)["facts"])
            totals[form][0] += n - len(missed)
            totals[form][1] += n
            cells.append(f"{form} {n - len(missed):3d}/{n:<3d}" + (f" ({len(wrong)} not-rule parties)" if wrong else ""))
        print(f"{fam:32s} " + "  ".join(cells))
    for form, (ok, n) in totals.items():
        print(f"TOTAL {form}: {ok}/{n} = {100 * ok / max(n, 1):.1f}%")
    return {k: (v[0], v[1]) for k, v in totals.items()}


if __name__ == "__main__":
    score()
