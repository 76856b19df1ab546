"""Snapshot store: content-addressed, compressed, stored once, atomic, verified on read;
the recorded snapshots shipped in the repo are intact and tracked while runtime ones are ignored."""
from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from docwatch.snapshots import CorruptSnapshot, SnapshotStore, load_manifest, read_recorded, sha256

REPO = Path(__file__).resolve().parent.parent


def test_put_get_roundtrip_dedup_and_compression(tmp_path, seeds_dir):
    store = SnapshotStore(tmp_path / "snaps")
    data = (seeds_dir / "001_61c55e8279333ae9.txt").read_bytes()
    d1 = store.put(data)
    d2 = store.put(data)
    assert d1 == d2 == sha256(data)
    objects = [p for p in (tmp_path / "snaps").rglob("*") if p.is_file()]
    assert objects == [store.path_for(d1)]  # stored once, no temp files left behind
    assert objects[0].stat().st_size < len(data) / 2
    assert store.get(d1) == data


def test_corrupt_object_is_reported_not_trusted(tmp_path):
    store = SnapshotStore(tmp_path)
    d = store.put(b"| Host | Port |\n|---|---|\n| a.example.com | 443 |\n")
    path = store.path_for(d)
    path.write_bytes(gzip.compress(b"| Host | Port |\n|---|---|\n| evil.example.com | 443 |\n"))
    with pytest.raises(CorruptSnapshot, match="does not match its hash"):
        store.get(d)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(CorruptSnapshot, match="cannot be read"):
        store.get(d)
    path.unlink()
    with pytest.raises(CorruptSnapshot, match="missing"):
        store.get(d)


def test_recorded_snapshots_match_the_seeds(seeds_dir):
    recs = load_manifest(REPO / "snapshots")
    assert [r.observed_at for r in recs] == sorted(r.observed_at for r in recs)
    seeds = {sha256(p.read_bytes()): p.name for p in seeds_dir.iterdir()}
    assert {r.sha256 for r in recs} == set(seeds)  # the five seeds, byte for byte
    for r in recs:
        assert sha256(read_recorded(REPO / "snapshots", r)) == r.sha256
    ml = [r for r in recs if r.source == "azureml-inbound-outbound"]
    assert [seeds[r.sha256][:3] for r in ml] == ["001", "004"]  # the tables-lost dump comes after


def test_runtime_objects_are_git_ignored_recorded_ones_are_not():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    def ignored(rel: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", rel], cwd=REPO).returncode == 0
    assert ignored("snapshots/objects/ab/abcdef.gz")
    assert ignored("snapshots/objects/.tmp-123")
    assert not ignored("snapshots/recorded.json")
    for r in load_manifest(REPO / "snapshots"):
        assert not ignored(f"snapshots/{r.object}")


def test_manifest_orders_by_instant_and_names_bad_entries(tmp_path):
    import json

    from docwatch.errors import UsageError

    entry = dict(source="s", url="http://x/a.md", content_type="text/markdown", sha256="0" * 64, object="o.gz")
    (tmp_path / "recorded.json").write_text(json.dumps({"snapshots": [
        {**entry, "observed_at": "2025-01-15T07:00:00Z", "note": "second"},
        {**entry, "observed_at": "2025-01-15T08:00:00+02:00", "note": "first (06:00Z)"},
        {**entry, "observed_at": "2025-01-14", "note": "zeroth"},
    ]}))
    assert [r.note for r in load_manifest(tmp_path)] == ["zeroth", "first (06:00Z)", "second"]
    (tmp_path / "recorded.json").write_text(json.dumps([{**entry, "observed_at": "yesterday"}]))
    with pytest.raises(UsageError, match="observed_at 'yesterday' is not an ISO"):
        load_manifest(tmp_path)
    (tmp_path / "recorded.json").write_text(json.dumps([{"source": "s", "colour": "red"}]))
    with pytest.raises(UsageError, match="snapshot #0: missing .*url; unknown colour"):
        load_manifest(tmp_path)
