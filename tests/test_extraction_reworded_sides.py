"""The round-4 shapes said another way than in their own fixtures, read the same from markdown and
rendered HTML (``synthetic_shape_reworded_sides.md``): an adverb before the subject ("Afterwards, the
edge nodes must also accept … from the controller cluster"), "has to be able to connect to the vault's
private IP address", "opens a session with the upstream relays", "among all of the cluster nodes", a
"Path" column with "A → B" and "From A to B" cells, a lead-in "… need these ports opened toward the
analytics servers:", an address "already allowed, so no additional rule is required", portal steps
with "Under **L**, choose **V**" and "Type **7671** into **L** and pick **TCP** as the protocol", and a
table "The values above are only examples" follows."""
from __future__ import annotations

import pytest

from rules_support import shape_rules, sides_in


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> list[dict]:
    return shape_rules("reworded_sides", request.param)


def test_sentences_said_another_way(rules):
    assert sides_in(rules, "Sentences") == {
        ("controller cluster", "controller cluster", "edge nodes", ("7999",), "udp", "inbound"),
        ("vault's private IP address", "backup appliance", "vault's private IP address", ("7443",), "tcp", "outbound"),
        ("upstream relays", "collector", "upstream relays", ("7514",), "tcp", "outbound"),
        ("cluster nodes", "cluster nodes", "cluster nodes", ("7946",), "tcp", None)}


def test_tables_said_another_way(rules):
    assert sides_in(rules, "Flow cells") == {
        ("Hyper-V hosts", "Management server", "Hyper-V hosts", ("7985",), "tcp", None),
        ("bastion hosts", "jump boxes", "bastion hosts", ("7022",), "tcp", None)}
    assert sides_in(rules, "Lead-in with one side") == {
        ("analytics servers", "reporting agents", "analytics servers", ("7600",), "tcp", None)}


def test_an_address_already_allowed(rules):
    assert sides_in(rules, "Not rules") == set()


def test_steps_and_samples_said_another_way(rules):
    steps = [r for r in rules if r["section"][-1] == "Portal steps"]
    assert [(r["service_tag"], r["ports"], r["protocol"], r["direction"]) for r in steps] == [
        ("WidgetQueue", ["7671"], "tcp", "outbound")]
    assert sides_in(rules, "Samples after a table") == set()
