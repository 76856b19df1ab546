"""Helpers for the export / drift / parity / query tests: catalogs built by the real
``docwatch ingest`` command on real corpus files (or the synthetic page) in a tmp dir."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from conftest import corpus_versions
from docwatch.cli import main

HERE = Path(__file__).resolve().parent
SYNTH = HERE / "synthetic_policy_requirements.md"
CONFIG = """
[[sources]]
name = "service-tags-overview"
url = "https://learn.microsoft.com/en-us/azure/virtual-network/service-tags-overview"
role = "reference"
"""


class Dw:
    """``docwatch --db D --config C ...`` in ``root``."""

    def __init__(self, root: Path):
        self.root = root
        self.db = root / "dw.db"
        self.config = root / "config.toml"
        self.config.write_text(CONFIG)

    def __call__(self, *args, ok: bool = True):
        r = CliRunner().invoke(main, ["--db", str(self.db), "--config", str(self.config), *map(str, args)])
        if ok:
            assert r.exit_code == 0, r.output
        return r

    def ingest(self, path: Path, source: str, at: str):
        return self("ingest", path, "--source", source, "--at", at, "--accept")

    def ingest_corpus(self, page: str, source: str | None = None, index: int = -1, at: str = "2026-01-01"):
        v = corpus_versions(page)[index]
        return self.ingest(v["file"], source or page, at)

    def export(self, fmt: str, *args) -> str:
        return self("export", "--format", fmt, *args).stdout

    def export_json(self, fmt: str, *args):
        return json.loads(self.export(fmt, *args))
