"""``[[exports]]`` in config.toml and ``write_configured_exports``: every entry rewritten
atomically from a real catalog; bad entries are one-line config errors naming the key."""
from __future__ import annotations

import json

import pytest

from export_helpers import SYNTH, Dw
from docwatch.catalog import Catalog
from docwatch.config import load_config
from docwatch.errors import ConfigError
from docwatch.exports import write_configured_exports


def test_configured_exports_are_written_atomically(tmp_path):
    dw = Dw(tmp_path)
    dw.ingest(SYNTH, "widget", "2025-04-01")
    out = tmp_path / "www"
    out.mkdir()
    dw.config.write_text(dw.config.read_text() + f"""
[[exports]]
format = "json"
path = "{out / 'endpoints.json'}"

[[exports]]
format = "edl-urls"
path = "{out / 'urls.txt'}"

[[exports]]
format = "pac"
path = "{out / 'proxy.pac'}"
options = {{ pac_default = "PROXY proxy.example:3128", sources = ["widget"] }}
""")
    cfg = load_config(dw.config)
    assert [e.format for e in cfg.exports] == ["json", "edl-urls", "pac"]
    assert [s.role for s in cfg.sources] == ["reference"]
    with Catalog(dw.db) as cat:
        paths = write_configured_exports(cfg, cat)
        again = {p: p.read_bytes() for p in paths}
        write_configured_exports(cfg, cat)
    assert sorted(p.name for p in out.iterdir()) == ["endpoints.json", "proxy.pac", "urls.txt"]  # no temp files left
    assert all(p.read_bytes() == b for p, b in again.items())
    assert json.loads((out / "endpoints.json").read_text())["catalogVersion"] > 0
    assert "api.widget.example.com" in (out / "urls.txt").read_text().splitlines()


@pytest.mark.parametrize("entry, message", [
    ('format = "xml"\npath = "x"', "[exports[0].format] unknown export format 'xml'"),
    ('format = "pac"\npath = "x"', "needs options.pac_default"),
    ('format = "json"', "missing required key 'path'"),
    ('format = "json"\npath = "x"\noptions = { colour = "red" }', "[exports[0].options.colour] unknown key"),
    ('format = "azure-firewall"\npath = "x"\noptions = { priority = 70000 }', "between 100 and 65000"),
])
def test_bad_export_entries(tmp_path, entry, message):
    p = tmp_path / "config.toml"
    p.write_text(f"[[exports]]\n{entry}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert message in str(exc.value)


def test_bad_source_role(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text('[[sources]]\nname = "a"\nurl = "https://learn.microsoft.com/x"\nrole = "allow"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert "[sources[0].role]" in str(exc.value) and "line 4" in str(exc.value)


def test_an_unwritable_entry_does_not_stop_the_others(tmp_path, caplog):
    dw = Dw(tmp_path)
    dw.ingest(SYNTH, "widget", "2025-04-01")
    good = tmp_path / "good.txt"
    dw.config.write_text(dw.config.read_text() + f"""
[[exports]]
format = "edl-urls"
path = "{tmp_path / 'missing-dir' / 'x.txt'}"

[[exports]]
format = "edl-urls"
path = "{good}"
""")
    with Catalog(dw.db) as cat:
        assert write_configured_exports(load_config(dw.config), cat) == [good]
    assert good.read_text() and "not written" in caplog.text
