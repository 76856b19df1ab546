"""Offline replay of the shipped snapshots and `docwatch run`: the same cycle code path,
the false-alarm guard on seed 004, idempotent on a second run."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from docwatch.catalog import Catalog
from docwatch.cli import main
from docwatch.config import Config
from docwatch.cycle import replay

REPO = Path(__file__).resolve().parent.parent


def _counts(db: Path) -> dict:
    cat = Catalog(db)
    try:
        q = lambda sql: cat.db.execute(sql).fetchone()[0]  # noqa: E731
        return {t: q(f"SELECT count(*) FROM {t}") for t in ("versions", "rule_versions", "change_events", "rules")} | {
            "removed": q("SELECT count(*) FROM change_events WHERE kind = 'removed'"),
            "anomalies": q("SELECT count(*) FROM change_events WHERE kind = 'anomaly'")}
    finally:
        cat.close()


def test_replay_shipped_snapshots_guard_and_idempotence(tmp_path, seeds_dir):
    cfg = Config(catalog_path=str(tmp_path / "c.db"), snapshot_dir=str(tmp_path / "snaps"))
    cat = Catalog(cfg.catalog_path)
    report = replay(cfg, cat, REPO / "snapshots")
    statuses = [(o.source, o.status) for o in report.outcomes]
    # seed 004 is a table-less text dump: held by the guard (anomaly) or, being another form
    # than the markdown before it, a form-switch parity note - never removals
    assert statuses[3][0] == "azureml-inbound-outbound" and statuses[3][1] in ("anomaly", "form-switch")
    assert statuses[:3] + statuses[4:] == [("azure-monitor-network-access", "first"), ("apim-vnet-reference", "first"),
                                           ("azureml-inbound-outbound", "first"),
                                           ("arc-servers-network-requirements", "first")]
    ml_rules = cat.current_rules("azureml-inbound-outbound")
    assert len(ml_rules) > 50  # the dump did not wipe what seed 001 established
    cat.close()
    first = _counts(tmp_path / "c.db")
    assert first["removed"] == 0 and first["change_events"] == 1
    assert first["anomalies"] == (1 if statuses[3][1] == "anomaly" else 0)

    cat = Catalog(cfg.catalog_path)
    again = replay(cfg, cat, REPO / "snapshots")
    assert {o.status for o in again.outcomes} == {"skipped"}
    assert len(cat.current_rules("azureml-inbound-outbound")) == len(ml_rules)
    cat.close()
    assert _counts(tmp_path / "c.db") == first


def test_docwatch_run_offline_from_a_fresh_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config.toml, no catalog: built-in defaults
    monkeypatch.setenv("DOCWATCH_OFFLINE", "1")
    runner = CliRunner()
    r1 = runner.invoke(main, ["run"])
    assert r1.exit_code == 0, r1.output
    assert "Network unreachable: replaying recorded snapshots from" in r1.output
    # seed 004's text dump: an anomaly or a form-switch note (see the replay test), never removals
    assert "azureml-inbound-outbound" in r1.output and ("anomaly" in r1.output or "form-switch" in r1.output)
    assert "Changes found in this run (1)" in r1.output
    for source in ("azure-monitor-network-access", "apim-vnet-reference", "arc-servers-network-requirements"):
        assert f"{source}: " in r1.output
    counts = _counts(tmp_path / "docwatch.db")
    r2 = runner.invoke(main, ["run", "--offline"])
    assert r2.exit_code == 0, r2.output
    assert "No new changes in this run" in r2.output
    assert _counts(tmp_path / "docwatch.db") == counts
    st = runner.invoke(main, ["status"])
    assert st.exit_code == 0 and "azureml-inbound-outbound" in st.output


def test_replay_cli_and_scrape_without_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["--db", "x.db", "replay", str(REPO / "snapshots")])
    assert r.exit_code == 0 and "replay: 5 snapshots" in r.output, r.output
    r = CliRunner().invoke(main, ["--db", "x.db", "scrape"])
    assert r.exit_code == 2 and "no sources configured" in r.output
