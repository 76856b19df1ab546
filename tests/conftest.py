"""Shared fixtures. The real-data corpus lives in ../shared beside the clone.

Where it is absent, corpus tests skip with a clear reason; under CI=true its absence
fails the run (CI always has it).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DOCWATCH_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"
SEEDS = SHARED / "seeds"


def _require(path: Path) -> Path:
    if path.exists():
        return path
    reason = f"real-data corpus not found at {path} (set DOCWATCH_SHARED or place shared/ beside the clone)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " - under CI=true this is a failure", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return _require(CORPUS)


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return _require(SEEDS)


def corpus_versions(page: str) -> list[dict]:
    """versions.json of a corpus markdown page, in ms.date order, each with an absolute 'file'."""
    base = _require(CORPUS / "markdown" / page)
    versions = json.loads((base / "versions.json").read_text())
    for v in versions:
        v["file"] = base / v["path"]
    return versions


def corpus_pages() -> list[str]:
    """Names of the corpus markdown pages (empty when the corpus is absent; tests then skip)."""
    root = CORPUS / "markdown"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []
