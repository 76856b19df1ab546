"""Sentences that pair each party with its own port, and addresses that are no party, read the
same from markdown and rendered HTML (``synthetic_shape_pairings.md``):

* "allow outbound traffic to the **A** service tag on TCP 8443 and to the **B** service tag on
  UDP 3478" gives A 8443/tcp and B 3478/udp, both outbound; "TCP 8080 to `a` and `b`" and "ports
  80 and 443 to `c`" stay one requirement;
* a lockdown list ("accepts connections only from these sources:") is inbound, and a bullet's
  later sentence ("Permit TCP 443 as well.") gives its port to the bullet's party;
* a sentence asking for hosts it does not name ("allow the regional ingest hosts instead") is
  finished by the next one naming them ("Their names follow the pattern `ingest-<region>…`");
* a statement "… over TCP 9443 outbound" gives its direction to a tag rule of its section on the
  same port;
* "… also open TCP 8531 from the branch clients to the relay server" after a table row *Branch
  clients → Relay server* adds the port to that row's rule ("The agent on the relay server connects
  …" names where the agent runs, not where a port opens);
* "**Destination:**" with a list of hosts, then "**Transport:** TCP" and "**Ports:** 8883"
  paragraphs, is one labelled-field rule per host;
* a form rule restated "with **Destination service tag** set to `X` and **Destination port
  ranges** set to *443*" is that rule again with those fields;
* "Your proxy must not intercept traffic to `X` on TCP 5671" still requires X on 5671;
* a paragraph that is only host code spans (a cloud tab's one host) lists those hosts, and
  "TCP port 6000 and ports 6001-6003" is TCP throughout; "(TCP and UDP 53)" after an address is
  port 53 on both transports, never the address's last octet;
* a lead-in that names both directions but rules one out ("needs no inbound rules") gives the
  other;
* "For … 21Vianet, use `x` instead." after a list gives x the list's port, in that cloud;
* ports opened "from the X to the Y" or "between X and Y" (two roles) are a rule for Y from X, in a
  sentence or in a port table's lead-in ("connect from … to …");
* a clause with its own subject ("…, and they must also reach `x`") keeps the other clause's port
  off x;
* "sends … to the ranges `a`" is outbound and "falls back … to the same ranges" gives them its port;
  a negated condition ("If … can't be reached, … falls back to `x` over UDP 123") does not negate the
  requirement;
* the private address a DNS record table (a column of A/CNAME types) resolves to is no rule;
* ports by reference: "… on that port", "Allow it on the same port" (the section's agreed port), "… (TCP 443) to it", "All the services in this table are
  HTTPS on port 443." after the table; a name a host "ends in" is a suffix, no party;
* "Neither is required" after sentences stating ports for no party drops them, and "source ports …"
  are nothing to open;
* a feed URL the data "is published … at", a DNS zone ("the `privatelink.…` zone"), a name only
  inside a longer one, a name "queries for" are forwarded, `0.0.0.0`, and "WidgetHub" inside "AzureWidgetHub" are no parties;
* ports a sentence opens to (or accepts from) one machine it names ("… reach the regional hub
  appliance on TCP port 9200") are a role rule, the subject its other side, also through a proxy
  clients connect to and beside an example host; "upload to `x`" asks for x.
"""
from __future__ import annotations

import pytest

from rules_support import port_facts as _facts, shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("pairings", request.param)


def test_each_party_its_own_port(rules):
    assert _facts(rules, "WidgetIngest") == [(("8443",), "tcp", "outbound")]
    assert _facts(rules, "WidgetControl") == [(("3478",), "udp", "outbound")]
    assert _facts(rules, "api.widgetcloud.net") == [(("443",), "tcp", "outbound")]
    assert _facts(rules, "media.widgetcloud.net") == [(("3479",), "udp", "outbound")]


def test_one_requirement_stays_whole(rules):
    assert _facts(rules, "a.widgetcloud.net") == [(("8080",), "tcp", "outbound")]
    assert _facts(rules, "b.widgetcloud.net") == [(("8080",), "tcp", "outbound")]
    assert _facts(rules, "c.widgetcloud.net") == [(("80", "443"), None, "outbound")]


def test_lockdown_bullets_are_inbound(rules):
    assert _facts(rules, "AzureFrontDoor.Backend") == [(("443",), "tcp", "inbound")]
    assert [r["direction"] for r in rules if r["endpoint"] == "168.63.129.16" and r["section"][-1] == "Origin lockdown"
            ] == ["inbound"]


def test_hosts_asked_for_then_named(rules):
    assert [r["endpoint_kind"] for r in rules if r["endpoint"] == "ingest-<region>.widgetcloud.net"] == ["template"]


def test_direction_of_a_same_port_statement(rules):
    assert _facts(rules, "AzureMonitor") == [(("9443",), "tcp", "outbound")]
    assert _facts(rules, "agent.widgetcloud.net") == [(("9443",), "tcp", "outbound")]


def test_where_to_read_is_no_party(rules):
    parties = {r["endpoint"] or r["service_tag"] for r in rules}
    assert not {"https://feeds.widgetcloud.net/endpoints.json", "privatelink.widgetcloud.net", "WidgetHub"} & parties
    assert not any("contoso" in p for p in parties)
    assert _facts(rules, "AzureWidgetHub") == [((), None, "inbound")]


def test_port_sentence_to_a_table_role(rules):
    relay = [r for r in rules if r["destination"] == "Relay server"]
    assert [(r["ports"], r["protocol"], r["source"]) for r in relay] == [(["8530", "8531"], "tcp", "Branch clients")]
    assert not any(r["endpoint"] == "*" and "8531" in r["ports"] for r in rules)


def test_labelled_field_paragraphs_with_a_list_value(rules):
    """"**Destination:**" followed by a list of hosts, then "**Transport:** TCP" and "**Ports:** 8883":
    one rule per host, with the fields' port and protocol, and no portless copy from the list."""
    assert _facts(rules, "telemetry.widgetcloud.net") == [(("8883",), "tcp", "outbound")]
    assert _facts(rules, "*.upload.widgetcloud.net") == [(("8883",), "tcp", "outbound")]


def test_form_rule_repeated_with_fields_set_to(rules):
    """"Add a second rule the same way, but with **Destination service tag** set to `AzureKeyVault`
    and **Destination port ranges** set to *443*": the form's rule again, with those two fields."""
    assert _facts(rules, "WidgetControlPlane") == [(("7443",), "tcp", "outbound")]
    assert _facts(rules, "AzureKeyVault") == [(("443",), "tcp", "outbound")]


def test_traffic_that_must_not_be_inspected_is_required(rules):
    assert _facts(rules, "*.events.widgetcloud.net") == [(("5671",), "tcp", "outbound")]


def test_bare_host_paragraphs_in_tabs_take_the_sections_port(rules):
    """A tab holding only "`<gateway>.gw.widgetcloud.net`" lists that host; "TCP port 6000 and
    ports 6001-6003" is TCP throughout."""
    gw = sorted((r["endpoint"], r["cloud"], tuple(r["ports"]), r["protocol"]) for r in rules if ".gw." in (r["endpoint"] or ""))
    assert gw == [("<gateway>.gw.widgetcloud.net", "public", ("6000", "6001-6003"), "tcp"),
                  ("<gateway>.gw.widgetcloud.us", "usgov", ("6000", "6001-6003"), "tcp")]


def test_dns_forwarding_names_and_an_address_octet(rules):
    """"forward queries for `x` to … `168.63.129.16` (TCP and UDP 53)": the resolver on tcp and udp 53
    (not "UDP port 16" from the address), and no rule for the forwarded name or for `0.0.0.0`."""
    # (the custom DNS server forwards to it: outbound)
    assert _facts(rules, "168.63.129.16") == [((), None, "inbound"), (("53",), "tcp", "outbound"), (("53",), "udp", "outbound")]
    parties = {r["endpoint"] for r in rules}
    assert not {"internal.widgetcloud.net", "0.0.0.0"} & parties
    assert not any("16" in r["ports"] for r in rules)


def test_a_direction_the_lead_in_rules_out(rules):
    """"… only opens outbound connections and needs no inbound rules": outbound, not both."""
    assert _facts(rules, "relay.widgetcloud.net") == [(("443",), None, "outbound")]


def test_a_host_named_instead_for_another_cloud(rules):
    """"For Microsoft Azure operated by 21Vianet, use `portal.widgetcloud.cn` instead." after a list:
    that host with the list's port, in the China cloud."""
    assert [(r["ports"], r["protocol"], r["direction"], r["cloud"]) for r in rules if r["endpoint"] == "portal.widgetcloud.cn"
            ] == [(["443"], "tcp", "outbound", "china")]


def test_ports_between_roles_a_sentence_names(rules):
    """"… over TCP 7100 from the primary widget node to the standby widget node", "Open UDP 7200
    between the monitoring agents and the standby widget node": role rules to the second side; a
    port table after "connect from the branch office network to the regional widget gateway" is the
    gateway's."""
    standby = sorted((r["source"], tuple(r["ports"]), r["protocol"]) for r in rules if r["endpoint"] == "standby widget node")
    assert standby == [("monitoring agents", ("7200",), "udp"), ("primary widget node", ("7100",), "tcp")]
    gateway = [(r["source"], r["ports"], r["protocol"]) for r in rules if r["destination"] == "regional widget gateway"]
    assert gateway == [("branch office network", ["7300"], "tcp")]


def test_a_clause_with_its_own_subject_keeps_its_own_ports(rules):
    """"The collectors must accept syslog from your devices on UDP 5514, and they must also reach
    `ingest-eu…`": the port is not the host's, it is open on the collectors."""
    assert all("5514" not in r["ports"] for r in rules if r["endpoint"] == "ingest-eu.widgetcloud.net")
    assert [(r["endpoint"], r["direction"]) for r in rules if "5514" in r["ports"]] == [("collectors", "inbound")]


def test_sends_to_ranges_and_fallbacks(rules):
    """"sends voice and video to the ranges `a` and `b` on UDP ports 3478-3481" (outbound), "falls back
    to TCP port 443 to the same ranges"; "If the primary … can't be reached, the console falls back to
    `x`, also over UDP 123" (the condition is negated, not the requirement); "an HTTP request on TCP
    port 80 to `y`"."""
    assert _facts(rules, "20.202.0.0/16") == [(("3478-3481",), "udp", "outbound"), (("443",), "tcp", "outbound")]
    assert _facts(rules, "time2.widgetcloud.net") == [(("123",), "udp", "outbound")]
    assert _facts(rules, "probe.widgetcloud.net") == [(("80",), "tcp", "outbound")]


def test_dns_record_table_private_address_is_no_rule(rules):
    """A table of DNS records (a column of A/CNAME types) resolves names to the reader's own private
    endpoint address: that address is no rule."""
    assert not [r for r in rules if r["endpoint"] == "10.20.30.40"]


def test_ports_by_reference(rules):
    """"… over TCP port 1444. … so allow `*.reports…` on that port"; "… of the form `<tenant>.dash…`.
    Browsers need HTTPS (TCP 443) to it, and to `auth…`"; "All the services in this table are HTTPS
    on port 443." after a table. A name it "ends in" is a suffix, no party."""
    assert _facts(rules, "*.reports.widgetcloud.net") == [(("1444",), "tcp", "outbound")]
    assert _facts(rules, "<tenant>.dash.widgetcloud.net") == [(("443",), "tcp", "outbound")]
    assert _facts(rules, "auth.widgetcloud.net") == [(("443",), "tcp", "outbound")]
    assert [r["ports"] for r in rules if r["endpoint"] == "alerts.widgetcloud.net"] == [["443"]]
    assert not [r for r in rules if r["endpoint"] == "reports.widgetcloud.net"]


def test_ports_said_not_to_be_needed_and_source_ports(rules):
    """"… on TCP port 7681. … UDP 3545. Neither is required": no rule opens them; "uses source ports
    20000 through 29999" is the relay's own side, nothing to open."""
    opened = {p for r in rules for p in r["ports"]}
    assert not {"7681", "3545", "20000-29999", "7682"} & opened  # ("Neither of these ports is needed …" too)


def test_same_port_as_the_section_before(rules):
    """"… on TCP port 8444:" a list, then "… of the form `<region>-archive…`. Allow it on the same port":
    the template takes the port the list's hosts agree on."""
    assert _facts(rules, "<region>-archive.widgetcloud.net") == [(("8444",), "tcp", "outbound")]


def test_one_side_a_sentence_names(rules):
    """Ports a sentence opens to one machine no table lists ("… has to be able to reach the regional
    hub appliance on TCP port 9200", "… outbound UDP 4789 to the overlay collectors") or accepts from
    one ("… accept heartbeat packets from the monitoring relay on UDP port 7300") are a role rule
    with the sentence's subject as the other side; "download … from the tile server" names no side
    that opens a connection."""
    roles = {(r["endpoint"], r["source"], r["destination"], tuple(r["ports"]), r["protocol"], r["direction"])
             for r in rules if r["endpoint_kind"] == "role" and r["section"][-1] == "Satellite sites"}
    assert roles == {
        ("regional hub appliance", "satellite gateway", "regional hub appliance", ("9200",), "tcp", "outbound"),
        ("overlay collectors", "site routers", "overlay collectors", ("4789",), "udp", "outbound"),
        ("monitoring relay", "monitoring relay", "satellite nodes", ("7300",), "udp", "inbound"),
    }


def test_one_side_through_a_proxy_and_an_example(rules):
    """"… connect to the sign-in proxy on the edge server on TCP port 8447" (a proxy clients connect
    to is a party, and the role ends before "on the edge server"), "The sign-in proxy relays the
    requests to the directory servers …" (the proxy the other side, which opens the connection), a
    role "for example `…contoso…`" still named ("Make sure kiosks can reach …": from the kiosks), and
    "upload to `x` over TCP 8446" asks for x."""
    roles = {(r["endpoint"], r["source"], tuple(r["ports"]), r["direction"])
             for r in rules if r["endpoint_kind"] == "role" and r["section"][-1] == "Remote sign-in"}
    assert roles == {("sign-in proxy", "Roaming consoles", ("8447",), "outbound"),
                     ("directory servers", "sign-in proxy", ("636",), "outbound"),
                     ("license distribution point", "kiosks", ("8088",), "outbound")}
    assert [(r["ports"], r["protocol"]) for r in rules if r["endpoint"] == "exports.widgetcloud.net"] == [(["8446"], "tcp")]
