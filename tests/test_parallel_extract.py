"""The parse workers' batches: many small pages (several per worker round trip) give the same
catalog as parsing them one by one in a thread, and one document that fails in a batch fails
only its own job."""
from __future__ import annotations

import pickle
from pathlib import Path

from docwatch import cycle
from docwatch.catalog import Catalog
from docwatch.cycle import run_cycle
from docwatch.extraction import ExtractionFailed, extract_batch, extract_parts
from cycle_support import config, digest
from test_fetch_helpers import server  # noqa: F401 (server: a fixture)

PAGES = sorted(p for p in Path(__file__).parent.glob("synthetic_unseen_*.md"))


def test_small_pages_batched_to_workers_give_the_serial_catalog(tmp_path, server):
    for i, page in enumerate(PAGES * 3):  # 30 small pages: several share a round trip
        server.set(f"/md/{i}.md", {"body": page.read_bytes(), "etag": f'"{i}"'})
    from docwatch.config import SourceConfig

    sources = [SourceConfig(name=f"p{i}", url=server.url(f"/learn/{i}"), markdown_url=server.url(f"/md/{i}.md"),
                            forms=["markdown"]) for i in range(len(PAGES) * 3)]
    dbs = {}
    for workers in (1, 2):
        cfg = config(tmp_path / f"w{workers}", sources, parse_workers=workers)
        (tmp_path / f"w{workers}").mkdir()
        cat = Catalog(cfg.catalog_path)
        pooled = cycle.EXTRACTIONS["pooled"]
        report = run_cycle(cfg, cat)
        cat.close()
        assert report.changed == len(sources), report.summary()
        assert (cycle.EXTRACTIONS["pooled"] - pooled) == (len(sources) if workers > 1 else 0)
        dbs[workers] = digest(cfg.catalog_path)
    assert dbs[1]["rule_versions"] and dbs[1] == dbs[2]


def test_a_failing_document_fails_only_its_own_job():
    good = (PAGES[0].read_text(encoding="utf-8"), "/md/a.md", "markdown", {}, {}, [])
    bad = (good[0], "/md/b.md", "markdown", None, {}, [])  # no includes mapping: the job itself raises
    out = pickle.loads(pickle.dumps(extract_batch([good, bad, good])))  # what a worker hands back
    assert [ok for ok, _ in out] == [True, False, True]
    assert isinstance(out[1][1], ExtractionFailed)
    assert out[0][1][1] == extract_parts(*good)[1]  # the same rules as an unbatched parse
