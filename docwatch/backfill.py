"""Backfill a source's history from a local clone of its docs repository.

Each commit that touched the page or one of the files it includes is a dated, attributable
version of the page. We ask git only for those commits (``git log --follow -- path``, one
path at a time, so renames are followed; never a walk of the whole repository), read blobs
through one long-lived ``git cat-file --batch`` process, rebuild the document as of each
commit (the page at that commit with the includes it references *at that commit*, resolved
relative to the including file, nested), and ingest the versions in commit order through
the one ingest path (:func:`docwatch.pipeline.extract` + :func:`docwatch.pipeline.ingest`).

Includes are discovered as we go: an include first referenced later is logged then, and
its commits count from the moment the page references it (earlier commits rebuild to the
same bytes and are skipped). Works on shallow and partial (``--filter=blob:none``) clones:
missing blobs are fetched in one batch from the promisor remote before reading.
"""
from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

from docwatch.documents import decode_text, looks_binary
from docwatch.errors import UsageError
from docwatch.fetch import include_refs, resolve_include

log = logging.getLogger(__name__)

MAX_DEPTH = 8  # same nesting limit as the markdown parser
MOVE_SIMILARITY = 10  # percent: a page added where another file was deleted, this similar, was moved
_SEP = "\x1e"  # record separator in our git log format


@dataclass
class Change:
    """One file change of a commit (``git log --raw``): status letter, paths, new blob."""

    status: str  # A M D R C T
    path: str  # the path after the commit
    old_path: str | None = None  # for renames/copies
    blob: str | None = None  # the new blob id (None for deletions)


@dataclass
class Commit:
    sha: str
    ts: int  # committer time, epoch seconds
    changes: list[Change] = field(default_factory=list)

    @property
    def time(self) -> str:
        return datetime.fromtimestamp(self.ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Snapshot:
    """The page as of one commit: which files made it (path, blob) and their content key."""

    commit: Commit
    page_path: str
    files: list[tuple[str, str]]  # (path, blob id), page first, then includes in reading order
    key: str  # sha256 over the blob ids: equal keys = identical document bytes


@dataclass
class BackfillStats:
    """What a run did; passed to the progress callback as it goes."""

    commits_read: int = 0
    versions_ingested: int = 0
    events: int = 0
    skipped_known: int = 0  # commits already in the catalog
    skipped_same: int = 0  # commits that left the document bytes unchanged
    anomalies: int = 0
    paths: list[str] = field(default_factory=list)
    phase: str = "reading"


class Git:
    """The git command line on one repository, plus one ``cat-file --batch`` reader."""

    def __init__(self, repo: str | Path):
        self.repo = Path(repo)
        if not self.repo.is_dir():
            raise UsageError(f"--repo {repo}: no such directory (expected a clone of the docs repository)")
        try:
            top = self._run("rev-parse", "--show-toplevel").strip()
        except UsageError:
            raise UsageError(f"--repo {repo}: not a git repository (clone the docs repository first)") from None
        self.repo = Path(top)
        self._batch: subprocess.Popen | None = None

    def _run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        try:
            proc = subprocess.run(["git", "-C", str(self.repo), *args], input=input, capture_output=True,
                                  text=True, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise UsageError("git is not installed (backfill runs the git command line)") from None
        if check and proc.returncode != 0:
            msg = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            raise UsageError(f"git {args[0]} in {self.repo}: {msg}")
        return proc.stdout

    def has_head(self) -> bool:
        return bool(self._run("rev-parse", "--verify", "-q", "HEAD", check=False).strip())

    def log(self, paths: list[str], *, follow: bool = False, rev: str | None = None) -> list[Commit]:
        """Commits touching ``paths`` (newest first, from ``rev`` or HEAD), with their raw changes."""
        args = ["log", "--no-color", "--raw", "--no-abbrev", "-z", f"--format={_SEP}%H %ct"]
        if follow:
            args += ["--follow", "-M"]
        out = self._run(*args, *([rev] if rev else []), "--", *paths)
        return parse_raw_log(out)

    def moved_from(self, sha: str, path: str) -> str | None:
        """The file ``path`` was moved from in commit ``sha`` when git's normal rename detection
        missed it because the move came with a rewrite: in the same commit another file was
        deleted and is, of all deleted files, the most similar to it (``-M`` at a low threshold)."""
        out = self._run("diff-tree", "-r", "-z", "--no-commit-id", "--name-status", f"-M{MOVE_SIMILARITY}%",
                        f"{sha}^", sha, check=False)
        fields = out.split("\0")
        for i, f in enumerate(fields):
            if f.startswith("R") and i + 2 < len(fields) and fields[i + 2] == path:
                return fields[i + 1]
        return None

    def follow(self, path: str) -> list[Commit]:
        """``log --follow`` of one path, continued across moves git's rename detection missed
        (see :meth:`moved_from`); the move commit's change becomes a rename."""
        commits = self.log([path], follow=True)
        seen = {c.sha for c in commits}
        while commits:
            oldest = commits[-1]
            added = next((ch for ch in oldest.changes if ch.status == "A"), None)
            old = self.moved_from(oldest.sha, added.path) if added else None
            if not old:
                break
            log.info("backfill: %s was moved from %s in %s (rewritten as it moved)", added.path, old, oldest.sha[:10])
            added.status, added.old_path = "R", old
            older = [c for c in self.log([old], follow=True, rev=f"{oldest.sha}^") if c.sha not in seen]
            seen.update(c.sha for c in older)
            commits.extend(older)
        return commits

    def github_slug(self) -> str | None:
        """``owner/repo`` of the first GitHub remote (origin first), for commit links."""
        out = self._run("remote", "-v", check=False)
        remotes: list[tuple[str, str]] = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                remotes.append((parts[0], parts[1]))
        remotes.sort(key=lambda r: r[0] != "origin")
        for _, url in remotes:
            slug = github_slug(url)
            if slug:
                return slug
        return None

    def promisor_remote(self) -> str | None:
        """The remote a partial clone lazily fetches missing objects from (None: not partial)."""
        out = self._run("config", "--get-regexp", r"^remote\..*\.promisor$", check=False)
        for line in out.splitlines():
            name, _, value = line.partition(" ")
            if value.strip().lower() == "true":
                return name[len("remote."):-len(".promisor")]
        return None

    def prefetch(self, commits: list[str], paths: list[str]) -> None:
        """Fetch the blobs of ``paths`` at ``commits`` that a partial clone lacks, in one request
        rather than one lazy fetch per read. ``rev-list --missing=print`` lists them without
        fetching (``cat-file --batch-check`` would fetch each one)."""
        remote = self.promisor_remote()
        if not remote or not commits or not paths:
            return
        out = self._run("rev-list", "--objects", "--missing=print", "--no-walk", "--stdin", "--", *paths,
                        input="".join(f"{c}\n" for c in commits), check=False)
        missing = sorted({ln[1:].split()[0] for ln in out.splitlines() if ln.startswith("?")})
        if not missing:
            return
        log.info("backfill: fetching %d blobs from %s (partial clone)", len(missing), remote)
        proc = subprocess.run(
            ["git", "-C", str(self.repo), "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--no-tags",
             "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin", remote],
            input="".join(f"{b}\n" for b in missing), capture_output=True, text=True)
        if proc.returncode != 0:  # not fatal: cat-file then fetches them one by one
            log.warning("backfill: batch fetch failed (%s); reading blobs lazily", proc.stderr.strip()[-200:])

    def read(self, rev: str, path: str) -> tuple[str, bytes] | None:
        """``(blob id, bytes)`` of ``path`` at ``rev``, or None when it is absent (or not a file)."""
        if "\n" in path:
            return None
        if self._batch is None:
            self._batch = subprocess.Popen(["git", "-C", str(self.repo), "cat-file", "--batch"],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        b = self._batch
        assert b.stdin and b.stdout
        b.stdin.write(f"{rev}:{path}\n".encode())
        b.stdin.flush()
        header = b.stdout.readline().decode("utf-8", "replace").rstrip("\n")
        parts = header.split()
        if len(parts) != 3 or parts[1] in ("missing", "ambiguous"):
            return None
        oid, typ, size = parts[0], parts[1], int(parts[2])
        data = b.stdout.read(size)
        b.stdout.read(1)  # the newline after the contents
        return (oid, data) if typ == "blob" else None

    def close(self) -> None:
        if self._batch is not None:
            try:
                self._batch.stdin.close()  # type: ignore[union-attr]
                self._batch.wait(timeout=5)
            except Exception:  # noqa: BLE001 - closing must not mask the real outcome
                self._batch.kill()
            self._batch = None


def parse_raw_log(out: str) -> list[Commit]:
    """Parse ``git log --raw -z --format=<SEP>%H %ct`` output."""
    commits: list[Commit] = []
    for chunk in out.split(_SEP):
        if not chunk.strip("\0\n"):
            continue
        head, _, rest = chunk.partition("\n")
        sha, _, ts = head.strip("\0").partition(" ")
        c = Commit(sha=sha, ts=int(ts or 0))
        fields = rest.split("\0")
        i = 0
        while i < len(fields):
            meta = fields[i].strip("\n")
            if not meta.startswith(":"):
                i += 1
                continue
            bits = meta[1:].split()
            status = bits[4][:1] if len(bits) >= 5 else "M"
            blob = bits[3] if len(bits) >= 4 and set(bits[3]) != {"0"} else None
            if status in ("R", "C") and i + 2 < len(fields):
                c.changes.append(Change(status, fields[i + 2], fields[i + 1], blob))
                i += 3
            elif i + 1 < len(fields):
                c.changes.append(Change(status, fields[i + 1], None, blob))
                i += 2
            else:
                i += 1
        commits.append(c)
    return commits


_GITHUB_RX = re.compile(r"^(?:https?://|ssh://git@|git@|git://)(?:www\.)?github\.com[:/]([^/]+)/([^/]+?)(?:\.git)?/?$")


def github_slug(remote_url: str) -> str | None:
    """``owner/repo`` for https, ssh and scp-style GitHub remote URLs, else None."""
    m = _GITHUB_RX.match(remote_url.strip())
    return f"{m.group(1)}/{m.group(2)}" if m else None


def page_path_from_url(markdown_url: str | None) -> str | None:
    """The repository path in a raw or blob GitHub URL:
    ``raw.githubusercontent.com/<owner>/<repo>/<branch>/articles/x.md`` → ``articles/x.md``."""
    if not markdown_url:
        return None
    p = urlsplit(markdown_url)
    parts = [s for s in p.path.split("/") if s]
    host = (p.hostname or "").lower()
    if host == "raw.githubusercontent.com" and len(parts) > 3:
        return "/".join(parts[3:])
    if host.endswith("github.com") and len(parts) > 4 and parts[2] in ("blob", "raw"):
        return "/".join(parts[4:])
    return None


def _page_names(page_log: list[Commit], page: str) -> list[tuple[int, str | None]]:
    """For the page's own commits (oldest first): (index in page log, its path after that
    commit, None when the commit deleted it), following renames back from ``page``."""
    out: list[tuple[int, str | None]] = []
    name = page
    newest_first: list[str | None] = []
    for c in page_log:  # newest first: the name after c is ``name``; before c it may be old_path
        ch = next((x for x in c.changes if x.path == name), None) or (c.changes[0] if c.changes else None)
        newest_first.append(None if ch and ch.status == "D" else (ch.path if ch else name))
        if ch and ch.status in ("R", "C") and ch.old_path:
            name = ch.old_path
        elif ch and ch.path != name:
            name = ch.path
    for i, n in enumerate(reversed(newest_first)):
        out.append((i, n))
    return out


class History:
    """The commits of one page and its includes, and the page as of each of them."""

    def __init__(self, git: Git, page: str, *, on_progress: Callable[[BackfillStats], None] | None = None,
                 stats: BackfillStats | None = None):
        self.git, self.page = git, page.strip("/")
        self.stats = stats or BackfillStats()
        self.on_progress = on_progress
        self._texts: dict[str, str | None] = {}  # blob id → decoded text (None: binary)

    def text(self, blob: str, data: bytes) -> str | None:
        """Decoded once per blob id (unchanged includes share it across commits)."""
        if blob not in self._texts:
            self._texts[blob] = None if looks_binary(data) else decode_text(data)[0]
        return self._texts[blob]

    def _load(self, rev: str, path: str, files: list[tuple[str, str]], loaded: dict[str, str]) -> str | None:
        if path in loaded:
            return loaded[path]
        got = self.git.read(rev, path)
        if got is None:
            return None
        oid, data = got
        text = self.text(oid, data)
        if text is None:
            return None
        files.append((path, oid))
        loaded[path] = text
        return text

    def snapshot(self, commit: Commit, page_path: str) -> tuple[Snapshot, dict[str, str]] | None:
        """Read the page at ``commit`` and, transitively, every include it references then."""
        files: list[tuple[str, str]] = []
        loaded: dict[str, str] = {}
        text = self._load(commit.sha, page_path, files, loaded)
        if text is None:
            return None
        stack = [(page_path, text, 0)]
        while stack:
            path, body, depth = stack.pop(0)
            if depth >= MAX_DEPTH:
                continue
            for rel in include_refs(body):
                target = resolve_include(path, rel.split("#", 1)[0])
                if target in loaded:
                    continue
                inner = self._load(commit.sha, target, files, loaded)
                if inner is None:
                    files.append((target, "-"))  # a missing include is part of the document's state
                    loaded[target] = ""
                    continue
                stack.append((target, inner, depth + 1))
        key = hashlib.sha256("\0".join(f"{p if i else ''}:{o}" for i, (p, o) in enumerate(files)).encode()).hexdigest()
        # the page's own path is left out of the key: a pure move of the page is no new version
        return Snapshot(commit, page_path, files, key), loaded

    def walk(self) -> list[Snapshot]:
        """Every commit touching the page or an include it referenced at some point, oldest
        first, with the page as of that commit (commits where the page is absent are left out)."""
        page_log = self.git.follow(self.page)
        if not page_log:
            raise UsageError(f"{self.page}: no commits touch this path in {self.git.repo} "
                             "(check --path, and that the clone's sparse checkout or history includes it)")
        names = _page_names(page_log, self.page)
        page_shas = [c.sha for c in reversed(page_log)]  # oldest first
        logs: dict[str, list[Commit]] = {self.page: page_log}
        tracked = {self.page}
        for _, n in names:
            if n:
                tracked.add(n)
        snaps: dict[str, Snapshot | None] = {}
        while True:
            pending = [p for p in sorted(tracked) if p not in logs]
            for p in pending:
                logs[p] = self.git.follow(p)
            commits: dict[str, Commit] = {}
            for lg in logs.values():
                for c in lg:
                    commits.setdefault(c.sha, c)
            if pending or not snaps:  # first round, or new include paths: their blobs in one fetch
                self.git.prefetch(sorted(commits), sorted(tracked))
            order = self._order(commits, page_shas)
            new_paths: set[str] = set()
            current: str | None = None
            page_at = {page_shas[i]: n for i, n in names}
            for c in order:
                if c.sha in page_at:
                    current = page_at[c.sha]
                if c.sha in snaps:
                    continue
                got = self.snapshot(c, current) if current else None
                snaps[c.sha] = got[0] if got else None
                self.stats.commits_read += 1
                if got:
                    new_paths.update(p for p, _ in got[0].files[1:])
                if self.on_progress and self.stats.commits_read % 25 == 0:
                    self.on_progress(self.stats)
            new_paths -= tracked
            if not new_paths:
                break
            log.debug("backfill: new include paths %s", sorted(new_paths))
            tracked |= new_paths
        self.stats.paths = sorted(tracked)
        return [s for c in order if (s := snaps.get(c.sha)) is not None]

    def _order(self, commits: dict[str, Commit], page_shas: list[str]) -> list[Commit]:
        """Oldest first by committer time; ties keep git's topological order of the page log."""
        topo = {sha: i for i, sha in enumerate(page_shas)}
        return sorted(commits.values(), key=lambda c: (c.ts, topo.get(c.sha, -1)))

    def texts_of(self, snap: Snapshot) -> dict[str, str]:
        return {p: self._texts[o] or "" for p, o in snap.files if o != "-" and self._texts.get(o) is not None}


def backfill(catalog, cfg, source: str, repo: str | Path, *, page_path: str | None = None,
             since: str | None = None, until: str | None = None, store=None,
             on_progress: Callable[[BackfillStats], None] | None = None) -> BackfillStats:
    """Ingest the history of ``source``'s page from the clone at ``repo`` (see module doc).
    With a snapshot ``store``, each version is kept as a bundle so ``reparse`` can re-read it."""
    from docwatch.catalog import parse_time

    src = next((s for s in getattr(cfg, "sources", []) if s.name == source), None)
    if src is None and not page_path:  # like `ingest`, a source need not be configured, but then --path says what
        known = ", ".join(s.name for s in getattr(cfg, "sources", [])) or "none configured"
        raise UsageError(f"unknown source {source!r} (configured: {known}); pass --path PAGE_PATH to backfill it anyway")
    page = (posixpath.normpath(page_path.strip().lstrip("/")) if page_path
            else page_path_from_url(src.markdown_url if src else None))
    if not page:
        raise UsageError(f"source {source!r} has no GitHub markdown_url to take the page path from: pass --path PAGE_PATH")
    since_iso = parse_time(since, what="--since date") if since else None
    until_iso = parse_time(until, end_of_day=True, what="--until date") if until else None
    git = Git(repo)
    stats = BackfillStats()
    try:
        if not git.has_head():
            raise UsageError(f"--repo {repo}: the repository has no commits")
        history = History(git, page, on_progress=on_progress, stats=stats)
        snaps = history.walk()
        # drop commits that left the document's bytes as they were
        versions: list[Snapshot] = []
        prev = None
        for s in snaps:
            if s.key == prev:
                stats.skipped_same += 1
                continue
            versions.append(s)
            prev = s.key
        in_range = [s for s in versions if (not since_iso or s.commit.time >= since_iso)
                    and (not until_iso or s.commit.time <= until_iso)]
        known = {v["doc_commit"] for v in catalog.versions(source)} if source in catalog.source_names() else set()
        todo = [s for s in in_range if s.commit.sha not in known]
        stats.skipped_known = len(in_range) - len(todo)
        last = catalog.last_version(source) if known or source in catalog.source_names() else None
        if todo and last and last["observed_at"] > todo[0].commit.time:
            raise UsageError(
                f"source {source!r} already has versions up to {last['observed_at']}, later than commit "
                f"{todo[0].commit.sha[:10]} ({todo[0].commit.time}): backfill only adds history after the "
                f"catalog's latest version (use --since {last['observed_at'][:10]} or a new source name)")
        slug = git.github_slug()
        stats.phase = "ingesting"
        jobs = [_extract_args(snap, history, slug) for snap in todo]
        for snap, job, (doc, rules) in zip(todo, jobs, _extract_all(jobs, _workers(cfg, len(jobs)))):
            _ingest_snapshot(catalog, cfg, source, src.url if src else None, snap, slug, job, doc, rules, stats, store)
            if on_progress:
                on_progress(stats)
    finally:
        git.close()
    if stats.versions_ingested:  # a bulk load: leave the catalog compact (full-text merged, VACUUMed)
        catalog.compact()
    stats.phase = "done"
    if on_progress:
        on_progress(stats)
    return stats


PARALLEL_FROM = 16  # fewer versions than this are parsed in-process (a pool costs ~1 s to start)
WINDOW = 64  # versions in flight at once, so memory stays flat on long histories


def _workers(cfg, versions: int) -> int:
    if versions < PARALLEL_FROM:
        return 1
    return max(1, int(getattr(getattr(cfg, "fetch", None), "parse_workers", 0) or os.cpu_count() or 1))


def _extract_args(snap: Snapshot, history: History, slug: str | None) -> tuple:
    """What the pure extraction of one snapshot needs (picklable, for worker processes)."""
    sha = snap.commit.sha
    texts = history.texts_of(snap)
    meta = {"doc_commit": sha,
            "source_url": f"https://github.com/{slug}/blob/{sha}/{snap.page_path}" if slug else None}
    return (texts[snap.page_path], snap.page_path, texts, meta)


def extract_job(text: str, path: str, files: dict[str, str], meta: dict) -> tuple:
    """Module-level (a worker process runs it): :func:`docwatch.pipeline.extract` of one
    snapshot, includes served from the blobs read at that commit."""
    from docwatch.pipeline import extract

    return extract(text, path=path, loader=files.get, meta=meta)


def _extract_all(jobs: list[tuple], workers: int) -> Iterator[tuple]:
    """``docwatch.pipeline.extract`` of every job, in order; parallel over ``workers`` processes
    (extraction dominates a backfill), in-process when 1 or when the pool cannot start."""
    if workers <= 1:
        for job in jobs:
            yield extract_job(*job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for start in range(0, len(jobs), WINDOW):
                window = jobs[start:start + WINDOW]
                for result in pool.map(extract_job, *zip(*window), chunksize=2):
                    done += 1
                    yield result
    except (OSError, RuntimeError) as exc:  # BrokenProcessPool is a RuntimeError
        log.warning("backfill: parse workers failed (%s); parsing in-process", exc)
        for job in jobs[done:]:
            yield extract_job(*job)


def _ingest_snapshot(catalog, cfg, source: str, page_url: str, snap: Snapshot, slug: str | None, job: tuple,
                     doc, rules, stats: BackfillStats, store=None) -> None:
    """One version through the one ingest path, with the commit's provenance; then its deadlines."""
    from docwatch.deadline_store import record_deadlines
    from docwatch.pipeline import Observation, ingest, store_bundle

    sha = snap.commit.sha
    snapshot_id = None
    if store is not None:
        text, path, files, meta = job
        snapshot_id = store_bundle(store, text=text, form="markdown", path=path, meta=meta,
                                   includes={p: t for p, t in files.items() if p != path})
    obs = Observation(source=source, doc=doc, rules=rules, observed_at=snap.commit.time, content_hash=snap.key,
                      snapshot_id=snapshot_id, page_url=page_url, form="markdown", doc_commit=sha,
                      commit_url=f"https://github.com/{slug}/commit/{sha}" if slug else None)
    res = ingest(catalog, obs, guard=cfg.guard, store=store)
    stats.versions_ingested += 1
    stats.events += len(res.events)
    if res.status == "anomaly":
        stats.anomalies += 1
    stats.events += len(record_deadlines(catalog, obs, res))
