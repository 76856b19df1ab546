"""What `docwatch rules PATH --json` prints for a page, read through the real CLI in-process
(cached per path: the extraction tests ask one page many questions), and the rendered Learn HTML
form of a synthetic markdown page (rendered once per run by ``synthetic_realworld/render_learn.py``:
the HTML form is derived from the markdown, so it is never stored beside it)."""
from __future__ import annotations

import atexit
import importlib.util
import json
import shutil
import tempfile
from functools import lru_cache
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


@lru_cache(maxsize=1)
def _renderer():
    spec = importlib.util.spec_from_file_location("render_learn", HERE / "synthetic_realworld" / "render_learn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = Path(tempfile.mkdtemp(prefix="docwatch-rendered-"))
    atexit.register(shutil.rmtree, out, True)
    return module, out


def page(md: Path, form: str) -> Path:
    """The file of one form of a synthetic page: the markdown itself, or its rendered Learn HTML."""
    if form == "md":
        return md
    render, out = _renderer()
    target = out / f"{md.parent.name}-{md.stem}.html"
    if not target.exists():
        target.write_text(render.render_page(md), encoding="utf-8")
    return target


def shape_rules(stem: str, form: str) -> list[dict]:
    """The rules of ``tests/synthetic_shape_<stem>.md`` in that form (``md`` or ``html``)."""
    return rules_at(page(HERE / f"synthetic_shape_{stem}.md", form))


def sides_in(rules: list[dict], section: str, roles: bool = False) -> set[tuple]:
    """(endpoint, source, destination, ports, protocol, direction) of the rules of one section (the
    innermost heading), role rules only with ``roles``."""
    return {(r["endpoint"], r["source"], r["destination"], tuple(r["ports"]), r["protocol"], r["direction"])
            for r in rules if r["section"][-1] == section and (not roles or r["endpoint_kind"] == "role")}


def port_facts(rules: list[dict], party: str) -> list[tuple]:
    """(ports, protocol, direction) of each rule whose endpoint or tag is ``party``, sorted."""
    return sorted((tuple(r["ports"]), r["protocol"], r["direction"]) for r in rules
                  if party in (r["endpoint"], r["service_tag"]))
