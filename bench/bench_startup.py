"""CLI start-up: ``docwatch --help`` and read commands vs a bare ``python -c pass``.

Each figure is the best of several runs of a fresh process, measured in this run, so the
ratio is independent of the machine. Processes run with their bytecode cached, as an installed
docwatch does: ``PYTHONDONTWRITEBYTECODE`` is dropped from their environment, else every
docwatch module would be compiled from source on every start (≈30 ms more for ``query``). Goal ≤ 4×: commands import only what they use (the
lazy group in docwatch/cli.py); ``python -X importtime`` shows what the rest costs.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 7


def _best(argv: list[str], cwd: str, env: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def _slowest_imports(code: str, cwd: str, env: dict[str, str], n: int = 4) -> str:
    """The top-level packages with the largest cumulative import time (from -X importtime)."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=cwd, env=env,
                         capture_output=True, text=True).stderr
    tops: dict[str, int] = {}
    for line in err.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            if not name.startswith("  "):  # only what the script itself imported
                tops[name.strip()] = int(parts[1])
    ranked = sorted(tops.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k} {v / 1000:.0f} ms" for k, v in ranked)


def run() -> list[tuple[str, str, str]]:
    from docwatch.catalog import Catalog

    script = Path(sys.executable).with_name("docwatch")
    cli = [str(script)] if script.is_file() else [sys.executable, "-m", "docwatch.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCWATCH_") and k != "PYTHONDONTWRITEBYTECODE"}
    if env.get("PYTHONPATH"):  # the processes run in a temporary directory: a relative entry would point there
        env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in env["PYTHONPATH"].split(os.pathsep) if p)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "c.db")
        Catalog(db).close()
        base = _best([sys.executable, "-c", "pass"], tmp, env)
        rows = [("python -c pass", f"{base * 1000:.0f} ms", "baseline")]
        for label, args in (("docwatch --help", ["--help"]),
                            ("docwatch query --json (empty catalog)", ["--db", db, "query", "--json"]),
                            ("docwatch changes --json (empty catalog)", ["--db", db, "changes", "--json"])):
            t = _best(cli + args, tmp, env)
            rows.append((f"{label} / python -c pass", f"{t * 1000:.0f} ms = {t / base:.1f}x", "<= 4x"))
        code = f"from docwatch.cli import main\ntry:\n    main(['--db', {db!r}, 'query', '--json'])\nexcept SystemExit:\n    pass"
        rows.append(("query start-up: slowest imports", _slowest_imports(code, tmp, env), "report"))
    return rows


if __name__ == "__main__":
    for name, value, goal in run():
        print(f"{name:<50} {value:>30}   goal: {goal}")
