"""A port the page states once for no party ("Widget sync moves all data over HTTPS and needs port
443 open outbound.") is the port of the hosts that state none in the sections from that one on,
inside the section enclosing the statement; read the same from markdown and rendered HTML
(``synthetic_shape_pageport*.md``):

* a host's own port, a URL's scheme port and a restated host's table port win;
* a "### Ports" subsection speaks only for its own parent section (and only after itself);
* an example command's port is neither a default nor a rule;
* ports stated for a purpose ("… port 53 … for communication with DNS servers") or to a destination
  the page names in words ("port 1688 to the licensing endpoint") are that thing's, not the page's;
* a page whose party-less statements disagree (5671 here, 443 there) gives no host a port.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def form(request) -> str:
    return request.param


def _by_party(stem: str, form: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in shape_rules(stem, form):
        out.setdefault(r["endpoint"] or r["service_tag"], []).append(r)
    return out


def _ports(rules: dict[str, list[dict]], party: str) -> list[str]:
    return sorted({p for r in rules[party] for p in r["ports"]})


def test_page_port_reaches_later_sections_hosts(form):
    rules = _by_party("pageport", form)
    assert _ports(rules, "*.sync.widgetcloud.net") == ["443"]  # also restated in a sentence: one port set
    assert _ports(rules, "login.widgetcloud.net") == ["443"]  # not 53 (DNS servers) nor 1688 (licensing)
    assert rules["login.widgetcloud.net"][0]["protocol"] == "tcp"  # "over HTTPS"


def test_own_and_scheme_ports_win(form):
    rules = _by_party("pageport", form)
    assert _ports(rules, "telemetry.widgetcloud.net") == ["8443"]
    assert _ports(rules, "http://crl.widgetcloud.net") == ["80"]


def test_subsection_ports_do_not_reach_the_page(form):
    rules = _by_party("pageport", form)
    assert _ports(rules, "console.widgetcloud.net") == ["443"]  # the hosts come before "### Ports"
    assert not any("9000-9005" in r["ports"] for rs in rules.values() for r in rs if r["endpoint"] != "*")


def test_example_command_port_is_no_rule(form):
    rules = _by_party("pageport", form)
    assert not any("8080" in r["ports"] for rs in rules.values() for r in rs)
    assert "http://10.0.0.10" not in rules and "10.0.0.10" not in rules


def test_disagreeing_statements_give_no_port(form):
    rules = _by_party("pageport_split", form)
    assert _ports(rules, "relay.widgetcloud.net") == [] and _ports(rules, "portal.widgetcloud.net") == []


def test_principles_section_speaks_for_the_page(form):
    """"All connections are TCP/outbound unless otherwise specified" in a section with no rules of
    its own gives the later sections' rules their protocol and direction; the page-wide 443 ("the
    agent for Linux … talks … over port 443": the platform is its subject, not a purpose) reaches
    the hosts after it and the tags listed under it, not a tag named in another section."""
    rules = _by_party("pageport_principles", form)
    agent = rules["agent.widgetcloud.net"][0]
    assert (agent["ports"], agent["protocol"], agent["direction"]) == (["443"], "tcp", "outbound")
    for tag in ("AzureActiveDirectory", "AzureResourceManager"):
        assert [(r["ports"], r["protocol"], r["direction"]) for r in rules[tag]] == [(["443"], "tcp", "outbound")]
    assert _ports(rules, "AzureMonitor") == []


def test_protocol_for_all_items_in_the_table(form):
    """"The protocol for all items in this table is UDP." gives the table's rows their protocol."""
    tag = _by_party("pageport_split", form)["AzureCloud"]
    assert [(r["ports"], r["protocol"], r["direction"]) for r in tag] == [(["3478-3481"], "udp", "outbound")]


def test_lead_in_transport_port_and_a_negated_side_clause(form):
    """"When the gateway can't use service tags, allow inbound TCP 3443 from …:" gives the table's
    address port 3443/tcp inbound: "TCP 3443" is a port without the word, and the negated clause is
    not the one naming the direction."""
    ip = _by_party("pageport_split", form)["198.51.100.7"]
    assert [(r["ports"], r["protocol"], r["direction"]) for r in ip] == [(["3443"], "tcp", "inbound")]


def test_statement_after_the_table_gives_port_and_direction(form):
    """"Allow inbound TCP 443 from the address prefix of your region." after a table of prefixes:
    the prefixes take its port, transport and direction, and the statement, having found its
    parties, is no any-address rule."""
    rules = _by_party("pageport_after", form)
    for prefix in ("192.0.2.0/26", "198.51.100.64/26"):
        assert [(r["ports"], r["protocol"], r["direction"]) for r in rules[prefix]] == [(["443"], "tcp", "inbound")]
    assert "*" not in rules


def test_a_used_page_port_is_no_any_address_rule(form):
    rules = _by_party("pageport", form)
    assert not any(r["ports"] == ["443"] for r in rules.get("*", []))
