"""Bad input: one ``Error:`` line on stderr, the right exit code (1 runtime failure, 2 bad
usage/config/path), never a traceback; ``--json`` output is pure JSON.

The cases run the real command group in-process with click's ``CliRunner`` (stdout and stderr
kept apart, ``sys.exit`` codes as the shell sees them) in a temp directory without a
config.toml; they share one catalog. What only a process shows runs as a real subprocess of
the installed ``docwatch`` script: a sample of the cases, ``--debug`` tracebacks, file
permissions, and Ctrl-C.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
BASE = HERE / "synthetic_catalog_base.md"
CHANGED = HERE / "synthetic_catalog_changed.md"
REPO_SNAPSHOTS = HERE.parent / "snapshots"
_SCRIPT = Path(sys.executable).with_name("docwatch")
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "docwatch.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCWATCH_")}
    env["DOCWATCH_OFFLINE"] = "1"  # never touch the network
    return env


def run(args: list[str], cwd: Path, prefix: list[str] | None = None, **kw) -> subprocess.CompletedProcess:
    """The installed console script as a real process."""
    return subprocess.run([*(prefix or []), *CLI, *args], cwd=cwd, capture_output=True, text=True,
                          env=_env(), timeout=120, **kw)


def invoke(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The same command in this process (CliRunner): what the shell would see, without a fork."""
    from click.testing import CliRunner

    from docwatch.cli import main

    env = {k: None for k in os.environ if k.startswith("DOCWATCH_")} | {"DOCWATCH_OFFLINE": "1"}
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(main, args, env=env, prog_name="docwatch")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError("".join(traceback.format_exception(result.exception)))  # escaped the group: a bug
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace: a catalog with two versions of source ``s1`` and a gallery of bad files."""
    d = tmp_path_factory.mktemp("cli_errors")
    for path, at in ((BASE, "2025-01-01"), (CHANGED, "2025-02-01")):
        r = invoke(["--db", "good.db", "ingest", str(path), "--source", "s1", "--at", at], d)
        assert r.returncode == 0, r.stderr
    (d / "adir").mkdir()
    (d / "empty.md").write_text("")
    (d / "binary.dat").write_bytes(bytes(range(256)) * 8)
    (d / "notsqlite.db").write_text("this is a text file, not a SQLite database\n" * 3)
    data = (d / "good.db").read_bytes()
    (d / "truncated.db").write_bytes(data[:5000])
    corrupt = bytearray(data)  # every page past the schema's garbled, whatever the page size
    corrupt[4096:] = b"\xab" * (len(data) - 4096)
    (d / "corrupt.db").write_bytes(bytes(corrupt))
    shutil.copy(d / "good.db", d / "newer.db")
    with sqlite3.connect(d / "newer.db") as c:
        c.execute("INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00Z', 'from the future')")
    c.close()
    (d / "badtoml.toml").write_text("catalog_path = [\n")
    (d / "unknownkey.toml").write_text("bogus_key = 1\n")
    (d / "wrongtype.toml").write_text('[fetch]\nconcurrency = "many"\n')
    (d / "badurl.toml").write_text('[[sources]]\nname = "x"\nurl = "ftp://example.org/x"\n')
    (d / "badkind.toml").write_text('[alerts.foo]\nkind = "pigeon"\n')
    (d / "nodircat.toml").write_text(f'catalog_path = "{d / "nodir" / "x.db"}"\n')
    (d / "nosnap").mkdir()
    (d / "badsnap").mkdir()
    (d / "badsnap" / "recorded.json").write_text("{not json")
    (d / "badsnap2").mkdir()
    (d / "badsnap2" / "recorded.json").write_text('{"snapshots": [{"source": "a"}]}')
    return d


DB = ["--db", "good.db"]

# (argv, exit code, a substring of the one error line)
CASES = [
    # local files (parse / rules / ingest share documents.load_local)
    ([*DB, "parse", "missing.md"], 2, "missing.md"),
    ([*DB, "rules", "adir"], 2, "is a directory"),
    ([*DB, "ingest", "binary.dat", "--source", "s1"], 2, "binary file"),
    ([*DB, "ingest", "missing.md", "--source", "s1"], 2, "missing.md"),
    # --db
    (["--db", "nodir/x.db", "changes"], 2, "directory nodir does not exist"),
    (["--db", "nodir/x.db", "ingest", str(BASE), "--source", "s1"], 2, "does not exist"),
    (["--db", "nodir/x.db", "replay", str(REPO_SNAPSHOTS)], 2, "does not exist"),
    (["--db", "adir", "query"], 2, "is a directory"),
    (["--db", "adir", "run", "--offline"], 2, "is a directory"),
    (["--db", "missing.db", "changes", "--json"], 2, "no catalog at missing.db"),
    (["--db", "missing.db", "status"], 2, "no catalog at missing.db"),
    (["--db", "missing.db", "alerts", "list"], 2, "no catalog at missing.db"),
    (["--db", "notsqlite.db", "changes"], 1, "not a usable docwatch catalog"),
    (["--db", "notsqlite.db", "status", "--json"], 1, "notsqlite.db"),
    (["--db", "truncated.db", "query", "--json"], 1, "malformed"),
    (["--db", "corrupt.db", "history", "x"], 1, "not a usable docwatch catalog"),
    (["--db", "corrupt.db", "ingest", str(BASE), "--source", "s1"], 1, "corrupt.db"),
    (["--db", "corrupt.db", "alerts", "deliver"], 1, "corrupt.db"),
    (["--db", "newer.db", "diff", "s1"], 1, "newer than this docwatch supports"),
    (["--db", "newer.db", "export", "--format", "json"], 1, "upgrade docwatch"),
    # --config (an explicit config is validated whatever the command)
    ([*DB, "--config", "missing.toml", "changes"], 2, "config file not found"),
    ([*DB, "--config", "badtoml.toml", "status"], 2, "TOML syntax error"),
    ([*DB, "--config", "unknownkey.toml", "query"], 2, "[bogus_key] unknown key"),
    ([*DB, "--config", "wrongtype.toml", "scrape"], 2, "line 2: [fetch.concurrency] expected an integer"),
    ([*DB, "--config", "badurl.toml", "alerts", "list"], 2, "not an http(s) URL"),
    ([*DB, "--config", "badkind.toml", "run", "--offline"], 2, "unknown channel kind 'pigeon'"),
    ([*DB, "--config", "adir", "parse", str(BASE)], 2, "cannot read config file"),
    (["--config", "nodircat.toml", "changes"], 2, "from catalog_path in nodircat.toml"),
    # unknown names, bad values
    ([*DB, "changes", "--source", "nope"], 2, "unknown source 'nope' (known sources: s1)"),
    ([*DB, "export", "--format", "csv", "--source", "nope"], 2, "unknown source 'nope'"),
    ([*DB, "scrape", "--source", "nope"], 2, "unknown source 'nope'"),
    ([*DB, "daemon", "--once", "--source", "nope"], 2, "unknown source 'nope'"),
    ([*DB, "scrape"], 2, "no sources configured"),
    ([*DB, "changes", "--since", "yesterday"], 2, "bad --since date 'yesterday'"),
    ([*DB, "query", "--as-of", "2025-13-45"], 2, "bad --as-of date"),
    ([*DB, "ingest", str(BASE), "--source", "s1", "--at", "soon"], 2, "bad --at date"),
    ([*DB, "export", "--format", "xml"], 2, "'xml' is not one of"),
    ([*DB, "query", "--port", "abc"], 2, "'abc' is not a port number"),
    ([*DB, "query", "--cloud", "mars"], 2, "Invalid value for '--cloud'"),
    ([*DB, "diff", "s1", "--from", "999"], 2, "version 999 is not a version of 's1'"),
    ([*DB, "diff", "s1", "--to", "abc"], 2, "'abc' is not a valid integer"),
    ([*DB, "export", "--format", "csv", "-o", "nodir/out.csv"], 2, "cannot write"),
    ([*DB, "export", "--format", "csv", "-o", "adir"], 2, "is a directory"),
    ([*DB, "alerts", "test", "nochan"], 2, "unknown alert channel 'nochan'"),
    ([*DB, "alerts", "retry", "--id", "x"], 2, "'x' is not a valid integer"),
    ([*DB, "replay", "missingdir"], 2, "does not exist"),
    ([*DB, "replay", "nosnap"], 2, "recorded.json not found"),
    ([*DB, "replay", "badsnap"], 2, "cannot read"),
    ([*DB, "replay", "badsnap2"], 2, "snapshot #0: missing content_type, object, observed_at, sha256, url"),
    ([*DB, "nosuchcmd"], 2, "No such command 'nosuchcmd'"),
    ([*DB, "changes", "--bogus"], 2, "see 'docwatch changes --help'"),
    ([*DB, "alerts", "nosub"], 2, "No such command 'nosub'"),
    (["--log-format", "xml", "changes"], 2, "'--log-format'"),
]


def _check_error(r: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    shown = f"rc={r.returncode}\nstderr:\n{r.stderr}\nstdout:\n{r.stdout}"
    assert "Traceback" not in r.stderr + r.stdout, shown
    assert r.returncode == code, shown
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), shown
    assert fragment in lines[0], shown


@pytest.mark.parametrize("args,code,fragment", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_error_line(ws, args, code, fragment):
    _check_error(invoke(args, ws), code, fragment)


# one case per kind of failure, through the real console script: usage, path, config, catalog
SCRIPT_CASES = [
    ([*DB, "parse", "missing.md"], 2, "missing.md"),
    (["--db", "missing.db", "changes", "--json"], 2, "no catalog at missing.db"),
    (["--db", "notsqlite.db", "changes"], 1, "not a usable docwatch catalog"),
    ([*DB, "--config", "badtoml.toml", "status"], 2, "TOML syntax error"),
    ([*DB, "nosuchcmd"], 2, "No such command 'nosuchcmd'"),
]


@pytest.mark.parametrize("args,code,fragment", SCRIPT_CASES, ids=[" ".join(c[0]) for c in SCRIPT_CASES])
def test_console_script_gives_the_same_one_line(ws, args, code, fragment):
    _check_error(run(args, ws), code, fragment)


def _unprivileged() -> list[str] | None:
    """A prefix that makes file permissions apply (root ignores them), or None."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    return None


def test_unreadable_file_and_read_only_catalog(ws):
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: file permissions do not apply")
    unreadable = ws / "unreadable.md"
    shutil.copy(BASE, unreadable)
    unreadable.chmod(0)
    shutil.copy(ws / "good.db", ws / "readonly.db")
    (ws / "readonly.db").chmod(0o444)
    _check_error(run([*DB, "parse", "unreadable.md"], ws, prefix), 2, "not readable")
    _check_error(run([*DB, "ingest", "unreadable.md", "--source", "s1"], ws, prefix), 2, "not readable")
    reads = run(["--db", "readonly.db", "changes", "--json"], ws, prefix)
    assert reads.returncode == 0 and json.loads(reads.stdout), reads.stderr
    _check_error(run(["--db", "readonly.db", "ingest", str(BASE), "--source", "s2"], ws, prefix),
                 1, "catalog is read-only")


@pytest.mark.parametrize("args", [
    ["changes", "--json"], ["query", "--json", "--tag", "AzureMonitor"], ["history", "Sql", "--json"],
    ["diff", "s1", "--json"], ["status", "--json"], ["alerts", "list", "--json"],
    ["export", "--format", "json"], ["parse", str(BASE), "--json"], ["rules", str(CHANGED), "--json"],
    ["history", "unknown.example.com", "--json"],
])
def test_json_output_is_only_json(ws, args):
    r = invoke([*DB, *args], ws)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)  # nothing else on stdout
    assert data or args[0] == "history" and "unknown" in args[1]


def test_help_and_bare_group_succeed_even_with_a_bad_config(ws):
    r = invoke(["--config", "badtoml.toml", "parse", "--help"], ws)
    assert r.returncode == 0 and "Usage: docwatch parse" in r.stdout, r.stderr
    r = invoke(["--config", "badtoml.toml", "alerts", "list", "--help"], ws)
    assert r.returncode == 0 and "--json" in r.stdout, r.stderr
    r = run([], ws)
    assert r.returncode == 0 and "Commands:" in r.stdout and r.stderr == ""


def test_debug_shows_the_traceback(ws):
    r = run(["--debug", "--db", "notsqlite.db", "changes"], ws)
    assert r.returncode == 1 and "Traceback" in r.stderr and "CatalogError" in r.stderr


def test_ctrl_c_is_one_line_and_exit_130(ws, tmp_path):
    """SIGINT while a scrape waits on a server that never answers: no traceback, catalog intact."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(30)
    port = server.getsockname()[1]
    cfg = tmp_path / "hang.toml"
    cfg.write_text(f'catalog_path = "{tmp_path / "hang.db"}"\n[fetch]\nallowed_hosts = ["127.0.0.1:{port}"]\nretries = 0\n'
                   f'[[sources]]\nname = "hang"\nurl = "http://127.0.0.1:{port}/page"\nforms = ["html"]\n')
    env = _env()
    env.pop("DOCWATCH_OFFLINE")
    proc = subprocess.Popen([*CLI, "--config", str(cfg), "scrape"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    conn = None
    try:
        conn, _ = server.accept()  # the scrape is now waiting for a response that never comes
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if conn is not None:
            conn.close()
        server.close()
    r = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    _check_error(r, 130, "interrupted")
    status = invoke(["--config", str(cfg), "status", "--json"], tmp_path)
    assert status.returncode == 0 and json.loads(status.stdout)["running"] is None, status.stderr
