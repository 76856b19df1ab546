"""Run every benchmark module (bench/bench_*.py) and print each figure beside its goal.

Each module defines ``run() -> list[tuple[name, value, goal]]``; baselines are measured in
the same run, so figures are ratios or absolute numbers on this machine. Nothing here is
asserted: the benchmarks inform, the tests decide.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    logging.getLogger("docwatch").setLevel(logging.ERROR)  # a bench's own failures are reported below
    wanted = set(argv)
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    failed = 0
    for name in names:
        if wanted and name not in wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            rows = importlib.import_module(f"bench.{name}").run()
        except Exception as exc:  # a broken bench is reported, the others still run
            failed += 1
            print(f"   FAILED: {type(exc).__name__}: {exc}", flush=True)
            continue
        width = max((len(r[0]) for r in rows), default=0)
        for figure, value, goal in rows:
            print(f"   {figure:<{width}}  {value:>18}   goal: {goal}", flush=True)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
