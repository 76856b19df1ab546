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


def pytest_configure(config: pytest.Config) -> None:
    """pytest rewrites the asserts of every module of any distribution that ships a pytest plugin:
    all of hypothesis and anyio (some hundred library modules, compiled from source again in each
    pytest process, a second or two). Their asserts are theirs, not this suite's; ours and
    pytest-httpserver's are still rewritten."""
    must = getattr(getattr(config.pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if isinstance(must, set):
        must.difference_update({"hypothesis", "anyio"})


_KEPT_ROOTS = (REPO / "tests", SHARED.resolve())  # files no test changes: the tests' own and the corpus
_LOADED: dict[tuple, bytes] = {}


def once_per_session(path: Path, make, kind: str = ""):
    """``make(path)``, worked out once per session for a file under tests/ or the corpus (several
    modules read the same real versions); every call gets its own copy (a pickle round trip), so
    nothing one test does to it reaches another. Any other file (a test's tmp files) is made each
    time. ``kind`` keeps apart what different ``make``s give for one file."""
    import pickle

    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(root) for root in _KEPT_ROOTS):
        return make(path)
    st = resolved.stat()
    key = (kind, resolved, st.st_mtime_ns, st.st_size)
    if key not in _LOADED:
        _LOADED[key] = pickle.dumps(make(path))
    return pickle.loads(_LOADED[key])


def load_kept(path: Path):
    """``docwatch.documents.load_local(path)``, parsed once per session (:func:`once_per_session`)."""
    from docwatch.documents import load_local

    return once_per_session(path, load_local, "document")


# -- shards: `make test` runs the suite as two pytest processes, one per core ------------------------
#
# ``--shard K/N`` keeps the test modules dealt to shard K (0-based) of N (the others are not
# collected). Modules are dealt whole (their module-scoped fixtures run once), heaviest first onto
# the lightest shard, by the seconds each took in the last run here (pytest's cache), else by
# tests/module_seconds.json (a committed measurement, for a fresh clone), else by their number of
# tests.

_DURATIONS_KEY = "docwatch/module-seconds"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--shard", default=None, metavar="K/N",
                     help="run only the K-th (0-based) of N shards of the test modules (make test runs 2)")


def _shard_spec(config: pytest.Config) -> tuple[int, int] | None:
    spec = config.getoption("--shard")
    if not spec:
        return None
    try:
        k, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--shard expects K/N, e.g. 0/2; got {spec!r}") from None
    if not 0 <= k < n:
        raise pytest.UsageError(f"--shard {spec}: K must be between 0 and N-1")
    return k, n


def deal(weight: dict[str, float], n: int) -> dict[str, int]:
    """Each module's shard: heaviest first, onto the shard with the least so far."""
    loads, owner = [0.0] * n, {}
    for module in sorted(weight, key=lambda m: (-weight[m], m)):
        shard = loads.index(min(loads))
        owner[module] = shard
        loads[shard] += weight[module]
    return owner


def _module_seconds(config: pytest.Config, n: int) -> dict[str, float]:
    """Seconds per module: the last run's here (pytest's cache), else tests/module_seconds.json (a
    committed measurement, for a fresh clone)."""
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    hints = REPO / "tests" / "module_seconds.json"
    seconds: dict[str, float] = json.loads(hints.read_text()) if hints.exists() else {}
    for key in [f"{_DURATIONS_KEY}/all"] + [f"{_DURATIONS_KEY}/shard-{i}" for i in range(n)]:
        seconds.update(cache.get(key, {}) if cache is not None else {})
    return seconds


def _owners(config: pytest.Config) -> dict[str, int] | None:
    """Each test module's shard (``tests/test_x.py`` → K), dealt once per run; None without --shard.
    A module never measured weighs 0.05 s per test function it defines."""
    spec = _shard_spec(config)
    if spec is None:
        return None
    owners = config.stash.get(_OWNERS, None)
    if owners is None:
        seconds = _module_seconds(config, spec[1])
        weight = {}
        for path in sorted((REPO / "tests").glob("test_*.py")):
            module = f"tests/{path.name}"
            weight[module] = seconds.get(module, 0.05 * path.read_text(encoding="utf-8").count("\ndef test_"))
        owners = deal(weight, spec[1])
        config.stash[_OWNERS] = owners
    return owners


_OWNERS = pytest.StashKey[dict]()


def _module_of(path: Path) -> str | None:
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under --shard, the other shards' modules are not even imported (collecting every module in
    each shard cost seconds of import and assertion rewriting)."""
    owners = _owners(config)
    if owners is None:
        return None
    module = _module_of(collection_path)
    if module in owners and owners[module] != _shard_spec(config)[0]:
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    owners = _owners(config)
    if owners is None:
        return
    k = _shard_spec(config)[0]
    mine = lambda item: owners.get(item.nodeid.split("::")[0], k) == k  # noqa: E731
    config.hook.pytest_deselected(items=[i for i in items if not mine(i)])
    items[:] = [i for i in items if mine(i)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::")[0]
    seconds = _SECONDS.setdefault(module, 0.0)
    _SECONDS[module] = seconds + report.duration


_SECONDS: dict[str, float] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember each module's seconds for the next run's shards (each shard under its own key, so
    the two processes never overwrite each other)."""
    cache = getattr(session.config, "cache", None)
    if cache is None or not _SECONDS:
        return
    spec = _shard_spec(session.config)
    key = f"{_DURATIONS_KEY}/shard-{spec[0]}" if spec else f"{_DURATIONS_KEY}/all"
    known = cache.get(key, {})
    known.update({m: round(s, 2) for m, s in _SECONDS.items()})
    cache.set(key, known)
