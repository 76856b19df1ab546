"""Service-tag ingest figures. ``python -m bench.bench_servicetags`` prints the rows.

* ingest (parse + diff + catalog write) of one ~4 MB Public weekly file on top of the
  previous week, against a baseline measured in the same run: ``json.loads`` of the same
  bytes plus the per-tag set difference of its prefixes with the previous week's (goal ≤ 3×)
* peak memory (max RSS) of a fresh process ingesting the four weeks (goal < 300 MB)
* bytes per stored prefix version after the four corpus Public weeks
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORPUS = Path(os.environ.get("DOCWATCH_SHARED", Path(__file__).resolve().parent.parent.parent / "shared")) / "corpus" / "servicetags"


def _public_files() -> list[Path]:
    return sorted(CORPUS.glob("ServiceTags_Public_*.json.gz"))


def _baseline(raw_new: bytes, old_sets: dict[str, set[str]]) -> None:
    doc = json.loads(raw_new)
    for v in doc["values"]:
        new = set(v["properties"]["addressPrefixes"])
        old = old_sets.get(v["name"], set())
        _ = new - old, old - new


def run() -> list[tuple[str, str, str]]:
    from docwatch.catalog import Catalog
    from docwatch.catalog_tags import ingest_tag_file
    from docwatch.servicetags import parse_tag_file

    files = _public_files()
    if len(files) < 2:
        return [("service-tag ingest", "skipped (corpus absent)", "-")]
    raws = [gzip.decompress(f.read_bytes()) for f in files]
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.db"
        cat = Catalog(base)
        ingest_tag_file(cat, parse_tag_file(raws[0], name=files[0].name))
        cat.close()
        old = json.loads(raws[0])
        old_sets = {v["name"]: set(v["properties"]["addressPrefixes"]) for v in old["values"]}
        del old
        ratios = []
        for i in range(3):
            work = Path(tmp) / f"w{i}.db"
            shutil.copy(base, work)
            cat = Catalog(work)
            t = time.perf_counter()
            ingest_tag_file(cat, parse_tag_file(raws[1], name=files[1].name))
            ingest_s = time.perf_counter() - t
            cat.close()
            t = time.perf_counter()
            _baseline(raws[1], old_sets)
            base_s = time.perf_counter() - t
            ratios.append((ingest_s / base_s, ingest_s, base_s))
        ratio, ingest_s, base_s = sorted(ratios)[1]
        rows.append(("Public weekly ingest+diff / (json.load + set diff)", f"{ratio:.2f}x", "<= 3x"))
        rows.append(("  ingest+diff of one Public file", f"{ingest_s * 1000:.0f} ms", "-"))
        rows.append(("  baseline json.load + set difference", f"{base_s * 1000:.0f} ms", "-"))

        full = Path(tmp) / "all.db"
        cat = Catalog(full)
        times = []
        for f, raw in zip(files, raws):
            t = time.perf_counter()
            ingest_tag_file(cat, parse_tag_file(raw, name=f.name))
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        again = ingest_tag_file(cat, parse_tag_file(raws[-1], name=files[-1].name))
        dup_s = time.perf_counter() - t
        n = cat.db.execute("SELECT count(*) FROM tag_prefixes").fetchone()[0]
        try:
            table = cat.db.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'tag_prefixes'").fetchone()[0]
        except Exception:  # noqa: BLE001 - dbstat is optional in SQLite builds
            table = None
        cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cat.close()
        size = full.stat().st_size
        rows.append((f"{len(files)} Public weeks: prefix versions stored", f"{n:,}", "grows with changes only"))
        rows.append(("bytes per stored prefix version (whole catalog)", f"{size / n:.1f}", "-"))
        if table:
            rows.append(("bytes per stored prefix version (tag_prefixes table)", f"{table / n:.1f}", "-"))
        rows.append(("median weekly ingest (4 files)", f"{statistics.median(times[1:]) * 1000:.0f} ms", "-"))
        rows.append(("re-ingest of an unchanged file", f"{again.status}, {dup_s * 1000:.0f} ms", "duplicate, no rows"))
    rows.append(("peak memory (max RSS of a process ingesting the 4 weeks)", f"{_peak_mb():.0f} MB", "< 300 MB"))
    return rows


def _peak_mb() -> float:
    """Max RSS of a fresh process that ingests every Public week: ``make bench`` runs all benches in
    one process, so this one's own RSS would count the 1M-version catalog bench before it."""
    code = ("import resource, sys, tempfile, gzip; from pathlib import Path\n"
            "from bench.bench_servicetags import _public_files\n"
            "from docwatch.catalog import Catalog\n"
            "from docwatch.catalog_tags import ingest_tag_file\n"
            "from docwatch.servicetags import parse_tag_file\n"
            "with tempfile.TemporaryDirectory() as tmp:\n"
            "    cat = Catalog(Path(tmp) / 'm.db')\n"
            "    for f in _public_files():\n"
            "        ingest_tag_file(cat, parse_tag_file(gzip.decompress(f.read_bytes()), name=f.name))\n"
            "    cat.close()\n"
            # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child forked from the
            # benchmark process would report the parent's peak (the 1M-version catalog bench's)
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
            "print(int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return float(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    for name, value, goal in run():
        print(f"{name:<56} {value:>18}   goal: {goal}")
