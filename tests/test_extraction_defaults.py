"""Ports a page states once for many hosts, read the same from markdown and rendered HTML
(``synthetic_shape_defaults.md``/``.html``):

* an IMPORTANT/NOTE box saying "the following URLs on ``https://:443``" introduces the tables
  after it (every tab panel), where other alert boxes are never a lead-in; a URL's own port wins;
* "All endpoints connect over port 443 unless otherwise stated." gives its section's hosts that
  state no port that port, and is not a rule of its own;
* a port note after a list item's host ("(443 & 5671 outbound)", "(TCP 8883)");
* a sentence naming "the … service tag `X`" names a tag even without a requirement verb.
"""
from __future__ import annotations

import pytest

from rules_support import shape_rules


class Rules(dict):
    """The page's rules by party (one rule per party, except hosts stated for several clouds), and
    the whole list as ``listed``."""

    listed: list[dict]


@pytest.fixture(scope="module", params=["md", "html"])
def rules(request) -> Rules:
    found = shape_rules("defaults", request.param)
    by_party = Rules((r["endpoint"] or r["service_tag"], r) for r in found)
    by_party.listed = found
    assert len(by_party) == len(found) - 1  # dl.gadgetcloud.com: public and usgov
    return by_party


def test_alert_introducing_the_tables_gives_their_port(rules):
    assert [rules[h]["ports"] for h in ("relay.gadgetcloud.net", "relay.gadgetcloud.us")] == [["443"], ["443"]]
    assert (rules["relay.gadgetcloud.us"]["cloud"], rules["relay.gadgetcloud.net"]["cloud"]) == ("usgov", "public")
    assert rules["https://<region>.proxy.gadgetcloud.net:8084"]["ports"] == ["8084"]  # its own port, not 443 too


def test_section_default_port_and_item_port_notes(rules):
    assert rules["*.devices.gadgetcloud.net"]["ports"] == ["443"]
    assert rules["login.gadgetcloud.net"]["ports"] == ["443"]  # nested item, same section
    dps = rules["dps.gadgetcloud.net"]
    assert (dps["ports"], dps["direction"]) == (["443", "5671"], "outbound")
    assert (rules["telemetry.gadgetcloud.net"]["ports"], rules["telemetry.gadgetcloud.net"]["protocol"]) == (["8883"], "tcp")
    assert "*" not in rules  # the default statement is not an any-address rule


def test_tag_named_as_service_tag_in_a_sentence(rules):
    assert rules["AzureCloud"]["origin"] == "prose"
    assert rules["AzureCloud"]["section"][-1] == "Management"


def test_plain_cloud_labels_in_a_cell(rules):
    """"Azure Government: `host`" items (not bold) give each host its cloud; a host listed under
    several clouds' labels is a rule for each of them."""
    assert [rules[h]["cloud"] for h in ("*.relay.gadgetcloud.net", "*.relay.gadgetcloud.us", "*.relay.gadgetcloud.cn")] \
        == ["public", "usgov", "china"]
    assert sorted(r["cloud"] for r in rules.listed if r["endpoint"] == "dl.gadgetcloud.com") == ["public", "usgov"]


def test_negations_that_still_state_a_requirement(rules):
    """A negated subordinate clause leaves the requirement beside it; "isn't blocking … to X" is one."""
    assert rules["AzureFrontDoor.Frontend"]["origin"] == "prose"
    sync = rules["sync.gadgetcloud.net"]
    assert (sync["ports"], sync["protocol"], sync["direction"]) == (["8443"], "tcp", "outbound")


def test_optional_note_in_the_host_cell(rules):
    assert rules["logs.gadgetcloud.net"]["required"] is False
    assert rules["dl.gadgetcloud.com"]["required"] is None


def test_all_listed_above_covers_the_sibling_sections(rules):
    for party in ("vault.gadgetcloud.net", "198.51.100.0/24", "vault.gadgetcloud.us"):
        assert (rules[party]["ports"], rules[party]["protocol"]) == (["443"], "tcp"), party
