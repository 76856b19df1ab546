"""config.toml: the shipped default loads; every invalid case is exit 2 with key and line."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from docwatch.cli import main
from docwatch.config import Config, find_line, load_config
from docwatch.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
DEFAULT = (REPO / "config.toml").read_text(encoding="utf-8")


def test_shipped_config_loads():
    cfg = load_config(REPO / "config.toml", required=True)
    names = [s.name for s in cfg.sources]
    assert len(names) == 7 and len(set(names)) == 7
    urls = " ".join(s.url for s in cfg.sources)
    for part in ("azure-monitor/fundamentals/azure-monitor-network-access", "machine-learning/how-to-access-azureml-behind-firewall",
                 "api-management/virtual-network-reference", "azure-arc/servers/network-requirements",
                 "aks/outbound-rules-control-egress", "virtual-desktop/required-fqdn-endpoint",
                 "virtual-network/service-tags-overview"):
        assert f"https://learn.microsoft.com/en-us/azure/{part}" in urls
    assert all(s.markdown_url is None or s.markdown_url.startswith("https://raw.githubusercontent.com/MicrosoftDocs/")
               for s in cfg.sources)
    assert cfg.catalog_path == "docwatch.db" and cfg.snapshot_dir == "snapshots"
    assert {"learn.microsoft.com", "raw.githubusercontent.com", "github.com"} <= set(cfg.fetch.allowed_hosts)


def test_missing_default_gives_builtin_defaults(tmp_path):
    cfg = load_config(tmp_path / "config.toml", required=False)
    assert cfg == Config()
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "config.toml", required=True)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# case → (edit of the shipped config: old, new; key named; line containing this text)
INVALID = {
    "toml-syntax": ("per_host = 4 ", "per_host = [4 ", None, "per_host = [4"),
    "unknown-key": ("per_host = 4 ", "per_hots = 4 ", "fetch.per_hots", "per_hots = 4"),
    "unknown-top-level-key": ('snapshot_dir = "snapshots"', 'snapshot_dir = "snapshots"\ncatalog = "x.db"', "catalog",
                              'catalog = "x.db"'),
    "wrong-type": ("retries = 3 ", 'retries = "three" ', "fetch.retries", 'retries = "three"'),
    "wrong-type-bool-for-int": ("concurrency = 8 ", "concurrency = true ", "fetch.concurrency", "concurrency = true"),
    "bad-url": ('url = "https://learn.microsoft.com/en-us/azure/aks/outbound-rules-control-egress"',
                'url = "learn.microsoft.com/en-us/azure/aks"', "sources[4].url", 'url = "learn.microsoft.com/en-us/azure/aks"'),
    "host-not-allowed": ("https://raw.githubusercontent.com/MicrosoftDocs/azure-docs/main/articles/virtual-network",
                         "https://evil.example.com/MicrosoftDocs/azure-docs/main/articles/virtual-network",
                         "sources[6].markdown_url", "evil.example.com"),
    "duplicate-source-name": ('name = "apim-vnet-reference"', 'name = "azureml-inbound-outbound"', "sources[2].name",
                              None),
    "bad-forms": ('forms = ["markdown", "html"]\n\n[[sources]]\n# markdown discovered', 'forms = ["pdf"]\n\n[[sources]]\n# markdown discovered',
                  "sources[3].forms", 'forms = ["pdf"]'),
    "bad-cron": ('# cron = "0 */6 * * *"', 'cron = "every six hours"', "schedule.cron", 'cron = "every six hours"'),
    "negative-jitter": ("jitter_seconds = 300", "jitter_seconds = -1", "schedule.jitter_seconds", "jitter_seconds = -1"),
    "bad-guard": ("min_rules = 5", 'min_rules = "five"', "guard.min_rules", 'min_rules = "five"'),
    "alerts-channel": ("[alerts]\n", '[alerts]\n[alerts.ops]\nkind = "carrier-pigeon"\n', "alerts.ops.kind",
                       'kind = "carrier-pigeon"'),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_config_exit_2_names_key_and_line(tmp_path, case):
    old, new, key, line_text = INVALID[case]
    assert old in DEFAULT, case
    text = DEFAULT.replace(old, new, 1)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(path), "--db", str(tmp_path / "x.db"), "scrape"])
    assert result.exit_code == 2, result.output
    msg = result.output.strip()
    assert msg.startswith("Error: ") and len(msg.splitlines()) == 1, msg
    if key:
        assert f"[{key}]" in msg
    if line_text is None:  # duplicate name: the second use
        expected = [i for i, line in enumerate(text.splitlines(), 1) if new in line][1]
    else:
        expected = _line_of(text, line_text)
    m = re.search(r"line (\d+)", msg)
    assert m, msg
    got = int(m.group(1))
    if case == "toml-syntax":  # the parser notices an unclosed array on the next line
        assert got in (expected, expected + 1), msg
    else:
        assert got == expected, msg


def test_explicit_missing_config_is_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "nope.toml"), "status"])
    assert result.exit_code == 2 and "not found" in result.output


def test_find_line_handles_arrays_of_tables():
    text = '[fetch]\nretries = 1\n\n[[sources]]\nname = "a"\nurl = "x"\n\n[[sources]]\nname = "b"\n\n[alerts.slack]\nurl = 1\n'
    assert find_line(text, "fetch.retries") == 2
    assert find_line(text, "sources[0].url") == 6
    assert find_line(text, "sources[1].name") == 9
    assert find_line(text, "sources[1].url") == 8  # not written: the table header
    assert find_line(text, "alerts.slack.url") == 12
