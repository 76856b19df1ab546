"""Backfill speed: commits per second over a 200-commit history of one real page.

A git repository is built in a temp dir from the corpus's azureml page and its includes; each
commit edits the page or one include (one row more), alternating, so every commit is a new
document version to parse, diff and store. Goal: 200 commits in seconds, not minutes.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

COMMITS = 200
PAGE = "articles/machine-learning/how-to-access-azureml-behind-firewall.md"


def _git(repo: Path, *args: str, date: str | None = None, input: str | None = None) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.org", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@example.org", GIT_CONFIG_NOSYSTEM="1")
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, input=input, text=True)


def build(repo: Path, root: Path, commits: int = COMMITS) -> list[dict[str, str]]:
    """``commits`` commits via one ``git fast-import`` stream (building must not dominate);
    returns the files as of each commit."""
    from docwatch.fetch import include_refs, resolve_include

    files = {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.md"))}
    incs = [resolve_include(PAGE, r) for r in include_refs(files[PAGE])]
    incs = [p for p in incs if p in files]  # only files the page uses: every commit is a version
    states = []
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    stream, ts = [], 1_600_000_000
    for i in range(commits):
        target = PAGE if i % 2 == 0 or not incs else incs[i % len(incs)]
        if i:
            files[target] += f"\n| `bench{i}.example.com` | 443 | bench row {i} |\n"
        changed = files if i == 0 else {target: files[target]}
        msg = f"commit {i}"
        stream.append(f"commit refs/heads/main\ncommitter b <b@example.org> {ts + i * 3600} +0000\n"
                      f"data {len(msg)}\n{msg}\n")
        for path, text in changed.items():
            data = text.encode("utf-8")
            stream.append(f"M 100644 inline {path}\ndata {len(data)}\n{text}\n")
        states.append(dict(files))
    _git(repo, "fast-import", "--quiet", input="".join(stream))
    return states


def bare_extraction(states: list[dict[str, str]], sample: int = 40) -> float:
    """Seconds per version of ``pipeline.extract`` alone on the same states (the baseline)."""
    from docwatch.pipeline import extract

    picked = states[:: max(1, len(states) // sample)]
    started = time.perf_counter()
    for files in picked:
        extract(files[PAGE], path=PAGE, loader=files.get)
    return (time.perf_counter() - started) / len(picked)


def run() -> list[tuple[str, str, str]]:
    from docwatch.backfill import backfill
    from docwatch.catalog import Catalog
    from docwatch.config import parse_config

    corpus = Path(os.environ.get("DOCWATCH_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "corpus"
    base = corpus / "markdown" / "azureml-behind-firewall"
    roots = sorted(p for p in base.iterdir() if p.is_dir()) if base.exists() else []
    if not roots:
        return [("backfill commits/s", "skipped (no corpus)", "report")]
    cfg = parse_config({"sources": [{"name": "aml", "url": "https://learn.microsoft.com/en-us/azure/x",
                                     "markdown_url": f"https://raw.githubusercontent.com/o/r/main/{PAGE}"}]})
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "docs"
        states = build(repo, roots[-1])
        per_version = bare_extraction(states)
        cat = Catalog(Path(tmp) / "bench.db")
        started = time.perf_counter()
        stats = backfill(cat, cfg, "aml", repo)
        took = time.perf_counter() - started
        again = time.perf_counter()
        backfill(cat, cfg, "aml", repo)
        rerun = time.perf_counter() - again
        cat.close()
    return [
        (f"backfill {stats.commits_read} commits ({stats.versions_ingested} versions)", f"{took:.2f} s", "seconds"),
        ("backfill commits/s", f"{stats.commits_read / took:.1f}", "report"),
        ("backfill vs bare extraction of the same versions (serial)",
         f"{took / (per_version * stats.versions_ingested):.2f}x", "report (extraction dominates)"),
        ("re-run, nothing new", f"{rerun:.2f} s", "report"),
    ]


if __name__ == "__main__":
    for row in run():
        print(*row, sep="\t")
