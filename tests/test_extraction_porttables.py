"""Port tables with no address column whose party is a role named in another column or in the
table's lead-in, read the same from markdown and rendered HTML (``synthetic_shape_porttables.md``):

* a column naming the other end of the traffic ("Remote end", "Peers", "Counterpart") is the remote
  side: the source of an inbound row, the destination otherwise;
* a column naming where the traffic goes ("Session with", "Listens on") is the destination, and a
  counterpart column beside it ("Peer") the source;
* a column naming who opens the connections ("Who initiates", "Who connects", "Opened from") is the source, and the
  endpoint column beside it (a role: "Vault REST API") stays the party;
* a lead-in naming the sides ("from the **X** to **each Y**") or where the ports are ("these ports on
  your backup appliance", "used only within the vault cluster network") gives the party;
* a role on both sides of a From/To table (the destination of one row, the source of another) is the
  table's hub, the local machine: each row keys on the other side, inbound into it, outbound out of it;
* a one-sentence lead-in "X on the internet connect to the Y" names the sides (inbound), and a
  serving proxy ("reverse proxy", "Web Application Proxy") is a party, not the firewall's proxy;
* a protocol cell "https" or "http" in a table with no port column is TCP 443 or TCP 80, and one
  writing its port ("TCP 587") gives that port ("SMTP/TLS" beside it implies none);
* "Allowed from | Allowed to" columns are the source and destination, "All these ports are TCP." the
  roles' transport, and a "Client source port range" column opens no port;
* private addresses in a table the page calls an example are no rules;
* never a party: a description column, a lead-in naming only the firewall, a port list "used in this
  article"; a table with an address column keeps its hosts.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("porttables", request.param)


def the(rules: list[dict], party: str, **facts) -> dict:
    hits = [r for r in rules if party in (r["endpoint"], r["service_tag"]) and all(r[k] == v for k, v in facts.items())]
    assert len(hits) == 1, (party, facts, [(r["endpoint"], r["direction"], r["ports"]) for r in rules])
    return hits[0]


def _facts(r: dict) -> tuple:
    return r["endpoint_kind"], r["ports"], r["protocol"], r["direction"]


def test_counterpart_column_is_the_remote_side(rules):
    inbound = the(rules, "Neighbouring agents in the same site", direction="inbound")
    assert _facts(inbound) == ("role", ["9170"], "tcp", "inbound")
    assert (inbound["source"], inbound["destination"]) == ("Neighbouring agents in the same site", None)
    outbound = the(rules, "Neighbouring agents in the same site", direction="outbound")
    assert (outbound["source"], outbound["destination"]) == (None, "Neighbouring agents in the same site")
    assert _facts(the(rules, "Relay server")) == ("role", ["5349"], "udp", "outbound")
    assert "Receives blocks" in inbound["purpose"]  # the notes column describes the row, it names no party


def test_lead_in_naming_both_sides(rules):
    tcp = the(rules, "directory server", protocol="tcp")
    assert (tcp["endpoint_kind"], tcp["ports"], tcp["source"]) == ("role", ["88", "389", "3268"], "Quasar vault subnet")
    assert the(rules, "directory server", protocol="udp")["ports"] == ["88"]


def test_lead_in_naming_where_the_ports_are(rules):
    assert _facts(the(rules, "backup appliance")) == ("role", ["8443", "9000-9010"], "tcp", "inbound")
    cluster = the(rules, "vault cluster network")  # a "Port | Purpose" table: no protocol column
    assert (cluster["endpoint_kind"], cluster["ports"]) == ("role", ["7700", "7701"])


def test_initiator_column_is_the_source_of_the_endpoint_role(rules):
    api = the(rules, "Vault REST API")
    assert (api["endpoint_kind"], api["ports"], api["source"]) == ("role", ["8080"], "Backup operators' workstations")
    portal = the(rules, "Restore portal")
    assert (portal["ports"], portal["source"], portal["required"]) == (["8443"], "Help desk browsers", False)


def test_hub_of_a_from_to_table_is_the_local_side(rules):
    servers = the(rules, "Monitored servers")
    assert _facts(servers) == ("role", ["6514"], "tcp", "inbound") and servers["destination"] == "Quasar collector"
    upload = the(rules, "Quasar telemetry endpoints")
    assert _facts(upload) == ("role", ["443"], "tcp", "outbound") and upload["source"] == "Quasar collector"
    assert not [r for r in rules if r["endpoint"] == "Quasar collector"]


def test_example_table_private_addresses_are_no_rules(rules):
    assert not [r for r in rules if r["endpoint"] and r["endpoint"].startswith(("10.", "192.168."))]


def test_negative_shapes(rules):
    assert the(rules, "updates.quasarbackup.net")["ports"] == ["443"]  # an address column keeps working
    assert not [r for r in rules if r["endpoint"] in ("Discovery relay", "firewall", "The vault REST API.")]
    assert the(rules, "*", ports=["7000"])["direction"] == "outbound"  # a description is never the party
    assert the(rules, "*", ports=["9443"])["protocol"] == "tcp"  # "on your firewall": where rules live, no party
    assert not [r for r in rules if "6514" in r["ports"] and r["endpoint"] != "Monitored servers"]  # "used in this article"
    assert len(rules) == 21  # (seven of them from the session, listener, web, reporting, remote-user and mail tables)


def test_session_with_and_listens_on_columns(rules):
    """"Peer | Session with": the peer is where the session comes from, "Session with" where it
    goes; "Listens on | Opened from": the destination and the source."""
    session = [r for r in rules if r["destination"] == "Vault cluster leader"]
    assert [(r["source"], r["ports"], r["protocol"]) for r in session] == [("Vault witness node", ["8201"], "tcp")]
    share = [r for r in rules if r["destination"] == "Appliance data interface"]
    assert [(r["source"], r["ports"]) for r in share] == [("Recovery workstation", ["445"])]


def test_application_protocol_cell_gives_its_port(rules):
    """"Host | Protocol" with cells "https"/"http" and no port column: TCP 443 and TCP 80."""
    assert _facts(the(rules, "portal.quasarbackup.net")) == ("fqdn", ["443"], "tcp", "outbound")
    assert _facts(the(rules, "crl.quasarbackup.net")) == ("fqdn", ["80"], "tcp", "outbound")


def test_allowed_from_to_columns_and_a_transport_sentence(rules):
    """"Allowed from | Allowed to" are the source and destination; "All these ports are TCP." after
    the table is the roles' transport; a "Client source port range" column opens nothing."""
    report = [r for r in rules if r["destination"] == "Quasar reporting subnet"]
    assert [(r["source"], r["ports"], r["protocol"]) for r in report] == [("Analyst workstations", ["9440"], "tcp")]
    assert not [r for r in rules if "50100-50119" in r["ports"]]


def test_one_sentence_lead_in_subject_connects_to_a_role(rules):
    """"Remote users on the internet connect to the Quasar reverse proxy." before a port table: the
    proxy (a serving proxy, not the firewall's) is the party, inbound from those users."""
    proxy = the(rules, "Quasar reverse proxy")
    assert (proxy["source"], proxy["ports"], proxy["protocol"], proxy["direction"]) == (
        "Remote users on the internet", ["443", "8444"], "tcp", "inbound")


def test_port_written_in_a_protocol_cell(rules):
    """"Transport protocol: TCP 587" beside "SMTP/TLS": port 587 (TLS implies no port of its own)."""
    assert the(rules, "smtp.quasarbackup.net")["ports"] == ["587"]
