"""Stable identity: endpoint-set ids survive one more real version; the changes feed (M365
``/changes`` shape) numbers its entries once and filters by catalog version."""
from __future__ import annotations

import json

from export_helpers import Dw


def _sets(doc):
    return {s["id"]: s for sets in doc["instances"].values() for s in sets}


def test_unchanged_sets_keep_their_ids_after_one_more_real_version(tmp_path, corpus_dir):
    dw = Dw(tmp_path)
    page = "apim-virtual-network-reference"
    dw.ingest_corpus(page, index=-2, at="2026-04-10")
    before = dw.export_json("json")
    dw.ingest_corpus(page, index=-1, at="2026-04-30")
    after = dw.export_json("json")
    assert after["catalogVersion"] > before["catalogVersion"]
    b, a = _sets(before), _sets(after)
    # a set is unchanged when its members and facts are the same; each keeps its id
    key = lambda s: json.dumps({k: v for k, v in s.items() if k != "id"}, sort_keys=True)  # noqa: E731
    by_content_after = {key(s): i for i, s in a.items()}
    unchanged = [(i, s) for i, s in b.items() if key(s) in by_content_after]
    assert unchanged, "the two versions share sets"
    assert all(by_content_after[key(s)] == i for i, s in unchanged)
    # a set first seen in the new version gets a new id, never one a set held before
    old_keys = {key(s) for s in b.values()}
    fresh = [i for i, s in a.items() if key(s) not in old_keys and i not in b]
    assert all(i > max(b) for i in fresh)


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
