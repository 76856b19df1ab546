"""The catalog commands through click's CliRunner on a real SQLite file."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from catalog_helpers import HERE
from docwatch.cli import main

BASE = HERE / "synthetic_catalog_base.md"
CHANGED = HERE / "synthetic_catalog_changed.md"


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config.toml here: built-in defaults
    db = tmp_path / "cli.db"

    def _run(*args):
        return CliRunner().invoke(main, ["--db", str(db), *map(str, args)])
    return _run


def _loaded(run):
    assert run("ingest", BASE, "--source", "synth", "--at", "2025-01-15").exit_code == 0
    r = run("ingest", CHANGED, "--source", "synth", "--at", "2025-03-10")
    assert r.exit_code == 0, r.output
    return r


def test_ingest_prints_status_and_events(run):
    r = run("ingest", BASE, "--source", "synth", "--at", "2025-01-15")
    assert r.exit_code == 0 and "version 1 first (5 rules, 0 events)" in r.output
    r = run("ingest", CHANGED, "--source", "synth", "--at", "2025-03-10")
    assert r.exit_code == 0 and "changed" in r.output and "port 12000 added for AzureMonitor" in r.output
    r = run("ingest", CHANGED, "--source", "synth", "--at", "2025-03-11", "--json")
    assert json.loads(r.output)["status"] == "duplicate"


def test_changes_json_and_since(run):
    _loaded(run)
    data = json.loads(run("changes", "--source", "synth", "--json").output)
    assert sorted(e["impact"] for e in data) == ["ports-added", "tag-added", "tag-removed"]
    assert json.loads(run("changes", "--since", "2025-04-01", "--json").output) == []
    assert "AzureKeyVault" in run("changes").output


def test_query_filters_and_as_of(run):
    _loaded(run)
    rows = json.loads(run("query", "--port", "12000", "--json").output)
    assert [r["service_tag"] for r in rows] == ["AzureMonitor"]
    rows = json.loads(run("query", "--tag", "sql", "--as-of", "2025-02-01", "--json").output)
    assert [r["ports"] for r in rows] == [["1433"]]
    assert json.loads(run("query", "--tag", "sql", "--json").output) == []
    rows = json.loads(run("query", "--endpoint", "*.example.*", "--direction", "outbound", "--json").output)
    assert sorted(r["endpoint"] for r in rows) == ["*.data.example.net", "login.example.com"]


def test_history_shows_versions_and_tombstone(run):
    _loaded(run)
    rows = json.loads(run("history", "Sql", "--json").output)
    assert [(r["valid_from"], r["valid_to"], r["tombstone"]) for r in rows] == [
        ("2025-01-15T00:00:00Z", "2025-03-10T00:00:00Z", 0), ("2025-03-10T00:00:00Z", None, 1)]
    rows = json.loads(run("history", "Diagnostics", "--json").output)  # full-text on purpose
    assert {r["service_tag"] for r in rows} == {"AzureMonitor"} and len(rows) == 2
    assert "removed" in run("history", "Sql").output


def test_export_json_m365_shape_and_csv(run, tmp_path):
    _loaded(run)
    r = run("export", "--format", "json")
    doc = json.loads(r.stdout)  # stderr carries the catalog version and warnings
    assert list(doc["instances"]) == ["Worldwide", "USGovernment", "China"]  # rules without a cloud apply everywhere
    assert doc["catalogVersion"] > 0 and "catalog version" in r.stderr
    sets = doc["instances"]["Worldwide"]
    mon = [s for s in sets if s.get("serviceTags") == ["AzureMonitor"]][0]
    assert mon["tcpPorts"] == "443,1886,12000" and "udpPorts" not in mon and mon["expressRoute"] is False and mon["serviceArea"] == "synth"
    assert {"id", "serviceArea", "serviceAreaDisplayName", "category", "expressRoute", "required"} <= set(mon)
    out = tmp_path / "rules.csv"
    r = run("export", "--format", "csv", "-o", out)
    assert r.exit_code == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("catalog_version,endpoint_set_id,source,cloud,tab,direction,endpoint") and len(lines) == 6


def test_diff_between_stored_versions(run):
    _loaded(run)
    data = json.loads(run("diff", "synth", "--json").output)
    assert sorted(e["impact"] for e in data) == ["ports-added", "tag-added", "tag-removed"]
    back = json.loads(run("diff", "synth", "--from", "2", "--to", "1", "--json").output)
    assert sorted(e["impact"] for e in back) == ["ports-removed", "tag-added", "tag-removed"]
    # events carry the "to" version's provenance, like the stored ones
    stored = json.loads(run("changes", "--source", "synth", "--json").output)
    assert {e["detected_at"] for e in data} == {e["detected_at"] for e in stored} and all(e["version_id"] == 2 for e in data)


@pytest.mark.parametrize("args", [
    ("changes", "--source", "nope"), ("query", "--source", "nope"), ("history", "x", "--source", "nope"),
    ("diff", "nope"), ("export", "--format", "csv", "--source", "nope")])
def test_unknown_source_is_usage_error(run, args):
    _loaded(run)
    r = run(*args)
    assert r.exit_code == 2 and "unknown source 'nope'" in r.output and "synth" in r.output


def test_bad_dates_and_bad_versions(run):
    _loaded(run)
    for args in (("changes", "--since", "yesterday"), ("query", "--as-of", "2025-13-45"),
                 ("ingest", BASE, "--source", "synth", "--at", "soon")):
        r = run(*args)
        assert r.exit_code == 2 and "expected an ISO date" in r.output
    r = run("ingest", BASE, "--source", "synth", "--at", "2024-01-01")
    assert r.exit_code == 2 and "time order" in r.output
    assert run("diff", "synth", "--from", "99").exit_code == 2


def test_corrupt_db_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    r = CliRunner().invoke(main, ["--db", str(bad), "changes"])
    assert r.exit_code == 1
    assert r.output.count("\n") == 1 and r.output.startswith("Error:") and "not a usable docwatch catalog" in r.output


def test_cli_modules_hold_no_sql():
    """Commands go through the catalog's functions (docwatch/catalog*.py, query.py, …), so the
    storage layout can change with a migration without touching a command."""
    import ast

    from catalog_helpers import HERE as tests

    sql = re.compile(r"^\s*(?:(?:SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA)\s|WITH \w+ AS\b"
                     r"|(?i:select\s.+\sfrom|insert\s+into|update\s+\w+\s+set|delete\s+from)\s)", re.S)
    root = tests.parent / "docwatch"
    found = []
    for path in [root / "cli.py", *sorted((root / "commands").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and sql.match(node.value):
                found.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany", "executescript"):
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert not found, f"SQL in CLI modules (move it behind a catalog function): {found}"
