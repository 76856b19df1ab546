"""``docwatch parse`` / ``docwatch rules`` through the real click entry point."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from docwatch.cli import main
from docwatch.model import FACT_FIELDS, PROVENANCE_FIELDS


def _run(*args):
    return CliRunner().invoke(main, list(args))


def _apim(corpus_dir):
    return next((corpus_dir / "markdown" / "apim-virtual-network-reference").glob("2023-08-29_*/articles/api-management/virtual-network-reference.md"))


@pytest.mark.corpus
def test_parse_json_shape_on_corpus_file(corpus_dir):
    res = _run("parse", str(_apim(corpus_dir)), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert {"meta", "tables", "diagnostics"} <= set(data)
    assert data["tables"], "the APIM page has tables"
    stv2 = [t for t in data["tables"] if any(tab["id"] == "stv2" for tab in t["tabs"])]
    assert stv2 and stv2[0]["tabs"][0] == {"label": "stv2", "id": "stv2"}
    t = stv2[0]
    assert {"headings", "tabs", "lead_in", "columns", "rows", "line"} <= set(t)
    assert "Direction" in t["columns"]
    cell = t["rows"][0][0]
    assert {"text", "items"} <= set(cell)


@pytest.mark.corpus
def test_rules_json_fields_on_corpus_file(corpus_dir):
    res = _run("rules", str(_apim(corpus_dir)), "--json")
    assert res.exit_code == 0, res.output
    rules = json.loads(res.output)
    assert isinstance(rules, list) and rules
    for r in rules:
        assert set(r) == set(FACT_FIELDS) | set(PROVENANCE_FIELDS)
    mon = [r for r in rules if r["service_tag"] == "AzureMonitor" and r["tab"] == "stv2"]
    assert mon and mon[0]["ports"] == ["443", "1886"] and mon[0]["direction"] == "outbound"


@pytest.mark.corpus
def test_parse_and_rules_on_a_seed_txt(seeds_dir):
    seed = next(seeds_dir.glob("002_*.txt"))
    parsed = _run("parse", str(seed), "--json")
    assert parsed.exit_code == 0, parsed.output
    assert json.loads(parsed.output)["tables"]
    rules = _run("rules", str(seed), "--json")
    assert rules.exit_code == 0, rules.output
    assert any(r["service_tag"] == "ApiManagement" and r["direction"] == "inbound" for r in json.loads(rules.output))


@pytest.mark.corpus
def test_human_output_lists_tables_and_rules(corpus_dir):
    res = _run("parse", str(_apim(corpus_dir)))
    assert res.exit_code == 0, res.output
    assert "Required ports" in res.output and "stv2" in res.output
    res = _run("rules", str(_apim(corpus_dir)))
    assert res.exit_code == 0, res.output
    assert "AzureMonitor" in res.output


def test_synthetic_markdown_rules(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n## Outbound\n\n| Hosts | Ports |\n| --- | --- |\n| `a.example.com` | 443 |\n")
    res = _run("rules", str(page), "--json")
    assert res.exit_code == 0, res.output
    [rule] = json.loads(res.output)
    assert (rule["endpoint"], rule["ports"], rule["direction"]) == ("a.example.com", ["443"], "outbound")


@pytest.mark.parametrize("command", ["parse", "rules"])
def test_missing_file_is_usage_error(tmp_path, command):
    res = _run(command, str(tmp_path / "nope.md"))
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "nope.md" in lines[0] and "no such file" in lines[0]


@pytest.mark.parametrize("command", ["parse", "rules"])
def test_directory_is_usage_error(tmp_path, command):
    res = _run(command, str(tmp_path))
    assert res.exit_code == 2
    assert "directory" in res.output and len(res.output.strip().splitlines()) == 1


def test_binary_file_is_usage_error(tmp_path):
    blob = tmp_path / "image.png"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    res = _run("rules", str(blob))
    assert res.exit_code == 2 and "binary" in res.output
