"""Issue 13: `docwatch alerts deliver` and `docwatch alerts retry` started at the same moment as
real processes, against a real recording receiver and a real catalog, send every delivery once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_faults_alerts import Recorder
from synthetic_alerts_support import add_events, event, make_outbox

REPO = Path(__file__).resolve().parent.parent


def test_alerts_deliver_and_retry_racing_send_no_duplicates(tmp_path):
    from docwatch.catalog import Catalog

    rec = Recorder(delay=0.25)
    try:
        db_path = tmp_path / "cat.db"
        Catalog(db_path).close()
        db = make_outbox(db_path)
        add_events(db, [event(i) for i in range(1, 4)])
        db.conn.close()
        lines = [f'catalog_path = "{db_path}"']
        for i in range(3):
            lines += [f"[alerts.hook{i}]", 'kind = "webhook"', f'url = "{rec.url(f"/hook{i}")}"',
                      'secret_env = "DW_CLI_RACE_SECRET"', "backlog = true"]
        cfg = tmp_path / "config.toml"
        cfg.write_text("\n".join(lines) + "\n")
        env = {**os.environ, "PYTHONPATH": str(REPO), "DW_CLI_RACE_SECRET": "cli-race-secret-42"}
        env.pop("DOCWATCH_TEST_CRASH_AFTER_SEND", None)
        procs = [subprocess.Popen([sys.executable, "-m", "docwatch.cli", "--config", str(cfg), "alerts", cmd],
                                  cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for cmd in ("deliver", "retry", "deliver")]
        outs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        keys = rec.keys()
        assert len(keys) == 3 and set(keys.values()) == {1}, keys  # one POST per delivery, no duplicates
    finally:
        rec.close()
