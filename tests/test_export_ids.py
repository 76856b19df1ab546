"""Stable identity: endpoint-set ids survive one more real version; the changes feed (M365
``/changes`` shape) numbers its entries once and filters by catalog version."""
from __future__ import annotations

import json

import pytest

from conftest import corpus_versions
from export_helpers import Dw


def _sets(doc):
    return {s["id"]: s for sets in doc["instances"].values() for s in sets}


CONTENT = ("serviceArea", "urls", "ips", "serviceTags", "tcpPorts", "udpPorts", "unknownProtocolPorts", "direction",
           "required")


@pytest.mark.parametrize("page", ["apim-virtual-network-reference", "azure-monitor-network-access",
                                  "container-apps-use-azure-firewall"])
def test_unchanged_sets_keep_their_ids_through_the_real_history(tmp_path, corpus_dir, page):
    """Every real version in turn: a set whose endpoints, ports, direction and required flag
    are the same as in the previous version keeps its id, even when the page re-worded its
    purpose or moved it out of a tab (APIM dropped its stv1/stv2 tabs; Azure Monitor re-worded
    its CDN rows; Container Apps rewrote its purposes)."""
    dw = Dw(tmp_path)
    content = lambda s: json.dumps({k: s.get(k) for k in CONTENT}, sort_keys=True)  # noqa: E731
    prev, compared, version = None, 0, 0
    for v in corpus_versions(page):
        dw.ingest(v["file"], page, v["ms_date"])
        doc = dw.export_json("json")
        assert doc["catalogVersion"] >= version
        version = doc["catalogVersion"]
        cur = _sets(doc)
        if prev is not None:
            before: dict[str, set[int]] = {}
            for i, s in prev.items():
                before.setdefault(content(s), set()).add(i)
            for i, s in cur.items():
                if content(s) in before:
                    compared += 1
                    assert i in before[content(s)], (v["ms_date"], s)
        prev = cur
    assert compared >= 5


def test_ids_do_not_shift_when_another_set_is_added(tmp_path):
    base = tmp_path / "v1.md"
    base.write_text("# Reqs\n\nOutbound traffic\n\n| Host | Protocol | Port | Purpose |\n|---|---|---|---|\n"
                    "| `b.widget.example.com` | HTTPS | 443 | Beta |\n| `c.widget.example.com` | HTTPS | 443 | Gamma |\n")
    grown = tmp_path / "v2.md"
    grown.write_text(base.read_text() + "| `a.widget.example.com` | HTTPS | 443 | Alpha |\n"
                     "| `c2.widget.example.com` | HTTPS | 443 | Gamma |\n")
    dw = Dw(tmp_path)
    dw.ingest(base, "w", "2025-01-01")
    first = {s["notes"]: s for s in dw.export_json("json")["instances"]["Worldwide"]}
    dw.ingest(grown, "w", "2025-02-01")
    second = {s["notes"]: s for s in dw.export_json("json")["instances"]["Worldwide"]}
    assert second["Beta"]["id"] == first["Beta"]["id"] and second["Gamma"]["id"] == first["Gamma"]["id"]
    assert second["Gamma"]["urls"] == ["c.widget.example.com", "c2.widget.example.com"]  # joined its set
    assert second["Alpha"]["id"] > max(s["id"] for s in first.values())

    feed = dw.export_json("changes-json")
    assert feed["catalogVersion"] == dw.export_json("json")["catalogVersion"]
    entries = feed["changes"]
    assert {"id", "endpointSetId", "disposition", "impact", "version"} <= set(entries[0])
    v1 = max(e["version"] for e in entries if e["add"]["effectiveDate"].startswith("2025-01-01"))
    later = dw.export_json("changes-json", "--since-version", v1)["changes"]
    assert {(e["endpointSetId"], e["disposition"], e["impact"]) for e in later} == {
        (second["Alpha"]["id"], "Add", "AddedUrl"), (second["Gamma"]["id"], "Change", "AddedUrl")}
    gamma = [e for e in later if e["endpointSetId"] == second["Gamma"]["id"]][0]
    assert gamma["add"]["urls"] == ["c2.widget.example.com"] and gamma["add"]["effectiveDate"].startswith("2025-02-01")
    # entry ids are numbered over the whole history: the same with or without --since-version
    assert {e["id"] for e in later} <= {e["id"] for e in entries}
    assert dw.export_json("changes-json", "--since-version", feed["catalogVersion"])["changes"] == []
    # --as-of gives the rules in force then: the first version's sets, under today's ids
    then = {s["notes"]: s for s in dw.export_json("json", "--as-of", "2025-01-15")["instances"]["Worldwide"]}
    assert then["Gamma"] == first["Gamma"] and "Alpha" not in then


def test_removed_set_is_a_remove_entry(tmp_path):
    page = tmp_path / "p.md"
    rows = "| `b.widget.example.com` | HTTPS | 443 | Beta |\n| `c.widget.example.com` | HTTPS | 443 | Gamma |\n"
    head = "# Reqs\n\nOutbound traffic\n\n| Host | Protocol | Port | Purpose |\n|---|---|---|---|\n"
    page.write_text(head + rows)
    dw = Dw(tmp_path)
    dw.ingest(page, "w", "2025-01-01")
    v1 = dw.export_json("json")["catalogVersion"]
    page.write_text(head + rows.splitlines(True)[0])
    dw.ingest(page, "w", "2025-02-01")
    (entry,) = dw.export_json("changes-json", "--since-version", v1)["changes"]
    assert entry["disposition"] == "Remove" and entry["remove"] == {"urls": ["c.widget.example.com"]}
    assert entry["impact"] == "RemovedIpOrUrl"


def test_a_set_that_only_got_new_wording_keeps_its_id(tmp_path):
    head = "# Reqs\n\nOutbound traffic\n\n| Host | Protocol | Port | Purpose |\n|---|---|---|---|\n"
    page = tmp_path / "p.md"
    page.write_text(head + "| `login.widget.example.com` | HTTPS | 443 | Widget AD sign-in |\n"
                    "| `b.widget.example.com` | HTTPS | 443 | Beta |\n")
    dw = Dw(tmp_path)
    dw.ingest(page, "w", "2025-01-01")
    before = {s["urls"][0]: s["id"] for s in dw.export_json("json")["instances"]["Worldwide"]}
    v1 = dw.export_json("json")["catalogVersion"]
    page.write_text(head + "| `login.widget.example.com` | HTTPS | 443 | Widget Entra sign-in |\n"
                    "| `b.widget.example.com` | HTTPS | 443 | Beta |\n")
    dw.ingest(page, "w", "2025-02-01")
    after = {s["urls"][0]: s for s in dw.export_json("json")["instances"]["Worldwide"]}
    assert after["login.widget.example.com"]["id"] == before["login.widget.example.com"]
    assert after["login.widget.example.com"]["notes"] == "Widget Entra sign-in"
    (entry,) = dw.export_json("changes-json", "--since-version", v1)["changes"]
    assert entry["disposition"] == "Change" and "add" not in entry and "remove" not in entry
    assert entry["current"]["login.widget.example.com"]["purpose"] == "Widget Entra sign-in"
    # a genuinely new set with a filtered-out twin elsewhere does not take anyone's id
    assert len({s["id"] for s in after.values()}) == 2


def test_a_catalog_from_an_early_v7_build_gets_the_new_columns(tmp_path):
    import sqlite3

    from export_helpers import SYNTH

    dw = Dw(tmp_path)
    dw.ingest(SYNTH, "widget", "2025-04-01")
    con = sqlite3.connect(dw.db)
    con.execute("ALTER TABLE endpoint_sets DROP COLUMN members")
    con.execute("ALTER TABLE endpoint_sets DROP COLUMN set_id")
    con.commit()
    con.close()
    assert dw.export_json("json")["instances"]["Worldwide"]
