"""Port tables with no address column, whose parties are named where the traffic is described, read
the same from markdown and rendered HTML (``synthetic_shape_flow_tables.md``):

* a "Between"/"Connection"/"Flow" cell naming two ends ("Customer edge router and MSEE peer IP",
  "From the appliance VM IPs to the management server", "Management server to hypervisor host agent
  (control)", "Host agent → library server") is a rule between them;
* a "Traffic" cell that starts with a direction word ("Outbound to Azure") gives the row's
  direction, never an end;
* a lead-in naming one side ("… needs the following ports open to the domain controllers:")
  gives every row that side, its subject the other; "… must accept these connections from the
  branch collectors" makes them the inbound remote side;
* a lead-in that reaches "the source" over a "Source engine" column makes that column where the
  traffic goes (the engines are destinations, not sources);
* a Notes cell adding ports to the row's ("Redirect connections also use 9500-9599.", "Also listens
  on port 9435 …") gives them to the row;
* a row labelled "FQDN tag"/"ServiceTag" in a "Type" column names a tag in its endpoint cell, even one
  no Service Tags file lists;
* a component named with the machine it runs on ("… to the agent coordinator (9718) and the protection
  agent (9719) on the protected machine", "sends control commands to the protection agent on the
  protected machine") is that machine: the port is opened there; "SMB over port 9445" is TCP;
* a host list whose lead-in points at the ports of the port table before it ("Allow the ports you use
  toward these hosts:") gives its hosts those ports;
* a port table whose lead-in connects to a hostname a section names by its heading ("## Broker
  hostname" with a template per cloud tab, then "Clients connect to the broker hostname on one of these
  ports:") gives those templates its ports; "the HTTP API" names an API, not port 80;
* an NSG side "[addresses](#…)/WidgetManagement(ServiceTag)" names that tag, and "Widget subnet:9443",
  "Widget subnet: All ports" are the Widget subnet on those ports;
* an "Endpoint:port" column holds hosts with their ports, each after its cloud's label; "(for
  example, `kim@contoso.com`)" in the row's other cell does not make them examples; "Every call goes
  out over HTTPS on TCP port 9443" gives the transport of rules on that port;
* of several address columns, the one a lead-in asks for by its header when it says the others need
  no rule is the party column, and a "Retired …" column holds addresses to remove, not allow;
* "Client port(s)" are source ports, nothing to open; "9389/TCP/UDP" is both transports; a lead-in
  sentence about "the following table" names its sides whatever surrounds it ("To keep …, the A must
  be able to connect to the B on …"), and "on every server port in the table" is the table's ports;
* beside a "Sends to" column, a first column of machines ("Accounting client") is where traffic comes from;
* a requirement matrix ("Description | Required for v1 | Required for v2 | Notes", rows marked ✔️) under a
  lead-in giving the port: each marked row's host (its Notes too), else its bold tag, else its
  description as a role;
* (``synthetic_shape_statements.md``) a statement after the tables naming one direction for their ports ("… in the outbound direction from
  the device") beats a lead-in's "filter inbound and outbound traffic"; "All connections use HTTPS." gives
  its section's rules TCP; "For that, the device must also reach `X` …" is outbound; an address
  "allowed by the default NSG rule" needs none; a target is a machine; "also allow the X tag" after a
  sentence allowing a tag outbound is outbound too; portal steps written value first ("Enter **9443** in
  **Destination port ranges**, select **TCP** as the protocol"); "`a`, or `b` in Azure Government": each
  host its cloud; "must accept probe traffic from the X service tag on the port you set …. For the
  default settings, that's TCP port 9443" is X inbound on 9443; a cloud tab that replaces "the ones in
  the table above" makes that table's hosts the public cloud's; "from the nodes in the system node pool"
  is those nodes; "Besides the domains above, open the same port to these hosts:" in a sibling section
  gives the hosts the one port the table before shares; a list lead-in's contrast ("…, not the user's:")
  is no negation, and "Devices in Azure Government reach the sovereign counterparts instead, on the same
  port:" gives its hosts that cloud and the list before's port, and makes the list before public;
  "Clients in Azure Government sign in at `x.us` instead." takes the sentence before's port, and "… go to
  the **X** tag on the same port" is X on that port; a code block's lead-in that names a host of its own
  with its port keeps that host; "The client device must be able to reach the session VM on the following
  ports:" over a "Port | Protocol | Allow: Outgoing" table is the session VM, outbound.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules, sides_in


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("flow_tables", request.param)


def test_between_cells(rules):
    assert sides_in(rules, "Between cells") == {
        ("MSEE peer IP", "Customer edge router", "MSEE peer IP", ("9179",), "tcp", None),
        ("monitoring collector", "Edge router", "monitoring collector", ("9161",), "udp", None)}


def test_connection_cells(rules):
    assert sides_in(rules, "Connection cells") == {
        ("management server", "appliance VM IPs", "management server", ("9100",), "tcp", None),
        ("hypervisor host agent", "Management server", "hypervisor host agent", ("9985",), "tcp", None),
        ("library server", "Host agent", "library server", ("9445",), "tcp", None),
        # (an acronym aside is part of the name)
        ("certificate revocation list (CRL) endpoints", "sync agent", "certificate revocation list (CRL) endpoints",
         ("9080",), "tcp", None)}


def test_direction_words_are_no_ends(rules):
    assert sides_in(rules, "Direction words are no ends") == {
        ("*", None, None, ("9443",), "tcp", "outbound"), ("*", None, None, ("9080",), "tcp", "inbound")}


def test_ports_open_to_one_side(rules):
    assert sides_in(rules, "Ports open to one side") == {
        ("domain controllers", "protection server", "domain controllers", ("9088", "9389"), "tcp", None),
        ("domain controllers", "protection server", "domain controllers", ("9389",), "udp", None)}


def test_ports_accepted_from_one_side(rules):
    assert sides_in(rules, "Ports accepted from one side") == {
        ("branch collectors", "branch collectors", "reporting server", ("9514",), "tcp", "inbound"),
        ("branch collectors", "branch collectors", "reporting server", ("9162",), "udp", "inbound")}


def test_a_column_the_lead_in_reaches_is_the_destination(rules):
    assert sides_in(rules, "Reaching the source") == {
        ("Widget SQL", None, "Widget SQL", ("9433",), None, "outbound"),
        ("Widget Graph", None, "Widget Graph", ("9687",), None, "outbound")}


def test_notes_that_add_ports(rules):
    assert sides_in(rules, "Notes that add ports") == {
        ("Widget managed instance", None, None, ("9433", "9500-9599"), None, "outbound"),
        ("Widget reporting server", None, None, ("9434", "9435"), None, "outbound")}


def test_rows_labelled_as_tags(rules):
    here = [r for r in rules if r["section"][-1] == "Rows labelled as tags"]
    assert sorted((r["service_tag"] or r["endpoint"], r["ports"], r["direction"]) for r in here) == [
        ("WidgetKubernetesUpdates", ["9443"], "outbound"), ("pkgs.widget-cloud.net", ["9443"], "outbound")]


def test_components_are_their_machine(rules):
    assert sides_in(rules, "Protection traffic") == {
        ("protected machine", "backup server", "protected machine", ("9135", "9139", "9445", "9718", "9719"), "tcp", None),
        ("protected machine", "backup server", "protected machine", ("9137",), "udp", None)}


def test_ports_of_the_table_before(rules):
    here = [r for r in rules if r["section"][-1] == "Ports of the table before" and r["endpoint"] != "*"]
    assert sorted((r["endpoint"], r["ports"], r["protocol"], r["direction"]) for r in here) == [
        ("*.hubs.gadget-cloud.net", ["9443", "9883"], "tcp", "outbound"),
        ("enroll.gadget-cloud.net", ["9443", "9883"], "tcp", "outbound")]


def test_hostname_a_heading_names(rules):
    here = [r for r in rules if r["section"][-1] in ("Broker hostname", "HTTP publish") and r["endpoint_kind"] == "template"]
    assert sorted((r["endpoint"], r["ports"], r["protocol"], r["cloud"]) for r in here) == [
        ("<namespace>.<region>.broker.widget-cloud.net", ["9443", "9883"], "tcp", "public"),
        ("<namespace>.<region>.broker.widget-cloud.us", ["9443", "9883"], "tcp", "usgov"),
        ("<namespace>.<region>.http.widget-cloud.net", ["9444"], "tcp", None)]


def test_nsg_sides_with_ports(rules):
    here = [r for r in rules if r["section"][-1] == "NSG sides with ports"]
    assert sorted((r["service_tag"] or r["endpoint"], r["destination"], tuple(r["ports"])) for r in here) == [
        ("Widget subnet", "Widget subnet", ("*",)), ("WidgetManagement", "Widget subnet", ("9443",))]


def test_hosts_written_with_their_ports(rules):
    here = [r for r in rules if r["section"][-1] == "Hosts written with their ports" and r["endpoint"] != "*"]
    assert sorted((r["endpoint"], r["ports"], r["protocol"], r["cloud"]) for r in here) == [
        ("signin.gizmo-cloud.net", ["9443"], "tcp", "public"), ("signin.gizmo-cloud.us", ["9443"], "tcp", "usgov")]


def test_gateway_address_columns(rules):
    here = [r for r in rules if r["section"][-1] == "Gateway address columns"]
    assert sorted((r["endpoint"], r["ports"]) for r in here) == [("20.80.1.0/29", ["9306"])]


def test_client_and_server_ports(rules):
    here = sides_in(rules, "Client and server ports")
    primary, branch = "directory servers of the primary site", "directory servers of the branch site"
    assert {(r[0], r[1], r[2], r[3], r[4]) for r in here} == {
        (branch, primary, branch, ("9135", "9389"), "tcp"), (branch, primary, branch, ("9389",), "udp"),
        (primary, branch, primary, ("9135", "9389"), "tcp"), (primary, branch, primary, ("9389",), "udp")}


def test_senders_and_where_they_send(rules):
    here = sides_in(rules, "Senders and where they send")
    assert {(r[1], r[2], r[3], r[4]) for r in here} == {
        ("VPN server", "Policy server", ("9812", "9813"), "udp"), ("Wireless access point", "Policy server", ("9812",), "udp")}


def test_requirement_matrix(rules):
    here = [r for r in rules if r["section"][-1] == "Requirement matrix"]
    assert sorted((r["service_tag"] or r["endpoint"], r["endpoint_kind"], r["ports"], r["protocol"], r["direction"])
                  for r in here) == [
        ("<queue-account>.queue.widget-cloud.net", "template", ["9443"], "tcp", "outbound"),
        ("Public IP address of the relay service", "role", ["9443"], "tcp", "outbound"),
        ("Storage", None, ["9443"], "tcp", "outbound")]


@pytest.mark.parametrize("form", ["md", "html"])
def test_statements_after_and_above_the_tables(form):
    rules = shape_rules("statements", form)
    urls = [r for r in rules if r["section"][-1] == "URL patterns then their ports" and r["endpoint"] != "*"]
    assert sorted((r["endpoint"], r["ports"], r["protocol"], r["direction"]) for r in urls) == [
        ("http://*.updates.widget-cloud.net", ["80"], "tcp", "outbound"),
        ("https://*.gateway.widget-cloud.net/*", ["443"], "tcp", "outbound")]
    assert sides_in(rules, "Domains over HTTPS") == {("ingest.widget-cloud.net", None, None, ("9443",), "tcp", "outbound")}


@pytest.mark.parametrize("form", ["md", "html"])
def test_reaching_ranges_after_a_clause(form):
    here = sides_in(shape_rules("statements", form), "Reaching ranges after a clause")
    assert here == {("52.200.0.0/14", None, None, ("9478-9481",), "udp", "outbound"),
                    ("52.210.0.0/15", None, None, ("9478-9481",), "udp", "outbound"),
                    ("SAN target", "nodes", "SAN target", ("9260",), "tcp", "outbound")}


@pytest.mark.parametrize("form", ["md", "html"])
def test_also_the_same_way(form):
    here = [r for r in shape_rules("statements", form) if r["section"][-1] == "Also, the same way"]
    assert sorted((r["service_tag"], tuple(r["ports"]), r["direction"]) for r in here) == [
        ("AzureActiveDirectory", (), "outbound"), ("WidgetVault", ("9443",), "outbound")]


@pytest.mark.parametrize("form", ["md", "html"])
def test_value_first_steps_and_a_host_per_cloud(form):
    rules = shape_rules("statements", form)
    steps = [r for r in rules if r["section"][-1] == "Portal steps, value first"]
    assert [(r["service_tag"], r["ports"], r["protocol"], r["direction"]) for r in steps] == [
        ("WidgetPubSub", ["9443"], "tcp", "outbound")]
    clouds = [r for r in rules if r["section"][-1] == "A host per cloud in one sentence"]
    assert sorted((r["endpoint"], r["cloud"], tuple(r["ports"])) for r in clouds) == [
        ("signin.widget-cloud.net", "public", ("9443",)), ("signin.widget-cloud.us", "usgov", ("9443",))]


@pytest.mark.parametrize("form", ["md", "html"])
def test_thats_the_port(form):
    here = [r for r in shape_rules("statements", form) if r["section"][-1] == "That's the port"]
    assert [(r["service_tag"], r["ports"], r["protocol"], r["direction"]) for r in here] == [
        ("WidgetProbes", ["9443"], "tcp", "inbound")]


@pytest.mark.parametrize("form", ["md", "html"])
def test_a_cloud_tab_instead_of_the_table_above(form):
    rules = shape_rules("statements", form)
    assert {(r["endpoint"], r["cloud"]) for r in rules if "agents.widget-cloud" in (r["endpoint"] or "")} == {
        ("agents.widget-cloud.net", "public"), ("agents.widget-cloud.us", "usgov")}


@pytest.mark.parametrize("form", ["md", "html"])
def test_where_the_machines_are(form):
    assert sides_in(shape_rules("statements", form), "Where the machines are") == {
        ("nodes in the system node pool", "nodes in the system node pool", "Storage nodes", ("9502",), "tcp", "inbound")}


@pytest.mark.parametrize("form", ["md", "html"])
def test_the_same_port_as_the_table_before(form):
    here = [r for r in shape_rules("statements", form) if r["section"][-1] == "Arc clusters"]
    assert sorted((r["endpoint"], r["ports"]) for r in here) == [
        ("*.arc.sensor-cloud.net", ["9443"]), ("gbl.sensor-cloud.net", ["9443"])]


@pytest.mark.parametrize("form", ["md", "html"])
def test_sovereign_counterparts_instead(form):
    here = [r for r in shape_rules("statements", form) if r["section"][-1] == "Sign-in hosts"]
    assert sorted((r["endpoint"], r["ports"], r["cloud"]) for r in here) == [
        ("join.widget-cloud.net", ["9443"], "public"), ("join.widget-cloud.us", ["9443"], "usgov"),
        ("token.widget-cloud.com", ["9443"], "public"), ("token.widget-cloud.us", ["9443"], "usgov")]


@pytest.mark.parametrize("form", ["md", "html"])
def test_instead_on_the_same_port(form):
    here = [r for r in shape_rules("statements", form) if r["section"][-1] == "Instead, on the same port"]
    assert sorted((r["service_tag"] or r["endpoint"], tuple(r["ports"]), r["cloud"]) for r in here) == [
        ("WidgetHealth", ("9443",), None), ("WidgetManager", ("9443",), None),
        ("token.gadget-auth.net", ("9443",), None), ("token.gadget-auth.us", ("9443",), "usgov")]


@pytest.mark.parametrize("form", ["md", "html"])
def test_lead_ins_naming_a_host_or_a_machine(form):
    rules = shape_rules("statements", form)
    own = [r for r in rules if r["section"][-1] == "A lead-in naming its own host"]
    assert sorted((r["endpoint"], r["ports"]) for r in own) == [
        ("render.<region>.gadget-render.net", ["9443"]), ("sts.gadget-render.net", ["9443"])]
    assert sides_in(rules, "Reaching the session machine") == {
        ("session VM", "client device", "session VM", ("9152-9534",), p, "outbound") for p in ("tcp", "udp")}
