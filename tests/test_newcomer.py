"""A newcomer's first run: clone the repo, run the README's main-job command offline.

The clone reuses this test run's virtualenv (DOCWATCH_VENV) so the check needs no network;
everything else (Makefile, config.toml, recorded snapshots/) comes from the committed tree.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_fresh_clone_main_job_offline(tmp_path):
    if not (REPO / ".git").exists() or shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs git, make and a git checkout of docwatch")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("the checkout has no commit yet")
    clone = tmp_path / "docwatch"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCWATCH_")}
    env.update(DOCWATCH_OFFLINE="1", DOCWATCH_VENV=str(Path(sys.executable).parent.parent),
               PYTHONPATH=str(clone))
    run = subprocess.run(["make", "-s", "run"], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "Network unreachable" in out or "network unreachable" in out.lower(), out
    db = clone / "docwatch.db"
    assert db.exists(), out
    con = sqlite3.connect(db)
    try:
        assert con.execute("select count(*) from current_rules").fetchone()[0] > 0
        kinds = [row[0] for row in con.execute("select kind from changes")]
        assert "anomaly" in kinds, kinds  # seed 004 (a table-less text dump) must not read as removals
        assert "removed" not in kinds, kinds
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        history_rows = con.execute("select count(*) from rule_history").fetchone()[0]
    finally:
        con.close()
    # A second run replays the same snapshots and adds nothing.
    again = subprocess.run(["make", "-s", "run"], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    con = sqlite3.connect(db)
    try:
        assert con.execute("select count(*) from changes").fetchone()[0] == len(kinds)
        assert con.execute("select count(*) from rule_history").fetchone()[0] == history_rows
    finally:
        con.close()
