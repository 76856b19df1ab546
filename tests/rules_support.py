"""What `docwatch rules PATH --json` prints for a page, read through the real CLI in-process
(cached per path: the extraction tests ask one page many questions)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from docwatch.cli import main

HERE = Path(__file__).resolve().parent
_CACHE: dict[str, list[dict]] = {}


def rules_at(path: Path) -> list[dict]:
    key = str(path)
    if key not in _CACHE:
        res = CliRunner().invoke(main, ["rules", key, "--json"])
        assert res.exit_code == 0, res.output
        _CACHE[key] = json.loads(res.output)
    return _CACHE[key]


def shape_rules(stem: str, form: str) -> list[dict]:
    """The rules of ``tests/synthetic_shape_<stem>.<form>`` (``md`` or ``html``)."""
    return rules_at(HERE / f"synthetic_shape_{stem}.{form}")
