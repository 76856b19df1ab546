"""Invariants of the change signal on every real corpus history (guard off, so every diff is seen).

* No `removed` event names a rule that is still on the new version of the page (same party and
  direction, in a cloud it still applies to): a restatement is never reported as a removal.
* No `added` event names a rule the previous version already stated with the same or wider scope.
* Events carry only firewall facts: no purpose, heading or column-wording events.
"""
from __future__ import annotations

import pytest

from catalog_helpers import ingest_file, load
from conftest import corpus_pages, corpus_versions
from docwatch.catalog import Catalog
from docwatch.guard import GuardSettings

pytestmark = pytest.mark.corpus


def _scopes(rules):
    out = {}
    for r in rules:
        out.setdefault((r.party.lower(), r.direction), set()).add(r.cloud)
    return out


def _still_there(e, scopes) -> bool:
    clouds = scopes.get(((e.party or "").lower(), e.direction))
    return clouds is not None and (None in clouds or e.cloud in clouds or e.cloud is None)


@pytest.mark.parametrize("page", corpus_pages() or ["<corpus absent>"])
def test_no_removal_or_addition_for_a_restated_rule(tmp_path, page):
    versions = corpus_versions(page)
    cat = Catalog(tmp_path / "c.db")
    prev = None
    for i, v in enumerate(versions):
        res = ingest_file(cat, page, v["file"], f"{v['ms_date']}T00:00:{i:02d}Z", guard=GuardSettings(enabled=False))
        rules = load(v["file"])[1]
        now = _scopes(rules)
        assert [e.summary for e in res.events if e.kind == "removed" and _still_there(e, now)] == []
        if prev is not None:
            assert [e.summary for e in res.events if e.kind == "added" and _still_there(e, prev)
                    and None in prev.get(((e.party or "").lower(), e.direction), set())] == []
        assert not [e for e in res.events if e.field in ("purpose", "source", "destination", "endpoint_kind")]
        prev = now
