"""Backfill from real git repositories built in a tmp dir from the corpus's real versions.

Each corpus version of a page and its includes is committed with its real date; along the
way one include is renamed (and the page's reference updated), and a page is moved twice.
Backfilling then must give the same per-version rules and events as ``docwatch ingest --at``
of the same files by hand, with the commits recorded; a second run adds nothing; one more
commit adds one version; a partial clone (``--filter=blob:none``) gives the same history.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import corpus_versions
from docwatch.backfill import github_slug, page_path_from_url, parse_raw_log
from docwatch.catalog import Catalog
from docwatch.cli import main

AML = "azureml-behind-firewall"
AML_PAGE = "articles/machine-learning/how-to-access-azureml-behind-firewall.md"
AML_OLD_INC = "includes/recommended-network-outbound.md"
AML_NEW_INC = "includes/outbound-network-rules.md"
MON = "azure-monitor-network-access"
MON_PAGE = "articles/azure-monitor/fundamentals/azure-monitor-network-access.md"
REMOTE = "https://github.com/MicrosoftDocs/azure-docs.git"


def git(repo: Path, *args: str, date: str | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="docs", GIT_AUTHOR_EMAIL="docs@example.org",
               GIT_COMMITTER_NAME="docs", GIT_COMMITTER_EMAIL="docs@example.org", GIT_CONFIG_NOSYSTEM="1",
               HOME=str(repo.parent))
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,
                          text=True).stdout


def version_root(v: dict) -> Path:
    """The corpus version directory (its files keep their repository paths)."""
    return Path(str(v["file"])[: -len(v["path"])]) / v["path"].split("/", 1)[0]


def at(v: dict) -> str:
    return f"{v['ms_date']}T12:00:00Z"


def commit_tree(repo: Path, files: dict[str, str], message: str, date: str) -> str:
    """Make the work tree exactly ``files`` (path → text) and commit it at ``date``."""
    for p in repo.rglob("*"):
        if p.is_file() and ".git" not in p.relative_to(repo).parts and str(p.relative_to(repo)) not in files:
            p.unlink()
    for rel, text in files.items():
        dst = repo / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD").strip()


def read_version(v: dict) -> dict[str, str]:
    root = version_root(v)
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.md"))}


def init_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", REMOTE)
    git(path, "config", "uploadpack.allowFilter", "true")
    git(path, "config", "uploadpack.allowAnySHA1InWant", "true")
    return path


def aml_files(v: dict, renamed: bool) -> dict[str, str]:
    """A version's files; once ``renamed``, the outbound include lives under a new name."""
    files = read_version(v)
    if renamed:
        old, new = f"articles/machine-learning/{AML_OLD_INC}", f"articles/machine-learning/{AML_NEW_INC}"
        files[new] = files.pop(old)
        files[AML_PAGE] = files[AML_PAGE].replace(AML_OLD_INC, AML_NEW_INC)
    return files


@pytest.fixture(scope="module")
def aml_repo(tmp_path_factory):
    """azureml history: 4 real versions; after v2 a commit renames the outbound include."""
    vs = corpus_versions(AML)
    repo = init_repo(tmp_path_factory.mktemp("aml") / "docs")
    shas = []
    for i, v in enumerate(vs):
        if i == 2:  # the rename, on its own commit, the day after v2
            commit_tree(repo, aml_files(vs[1], renamed=True), "rename the outbound include",
                        f"{vs[1]['ms_date']}T18:00:00Z")
        shas.append(commit_tree(repo, aml_files(v, renamed=i >= 2), f"version {v['version']}", at(v)))
    # unrelated commits elsewhere in the repository are never read
    commit_tree(repo, {**aml_files(vs[-1], renamed=True), "articles/other/page.md": "# other\n"},
                "unrelated", f"{vs[-1]['ms_date']}T13:00:00Z")
    return repo, vs, shas


def config(tmp_path: Path, name: str, page: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
snapshot_dir = "{tmp_path / 'snapshots'}"

[[sources]]
name = "{name}"
url = "https://learn.microsoft.com/en-us/azure/x/{name}"
markdown_url = "https://raw.githubusercontent.com/MicrosoftDocs/azure-docs/main/{page}"
""")
    return cfg


def cli(tmp_path: Path, db: Path, *args) -> object:
    cfg = tmp_path / "config.toml"
    return CliRunner().invoke(main, ["--db", str(db), "--config", str(cfg), *map(str, args)])


def rule_events(cat: Catalog, source: str, vid: int) -> list[tuple]:
    return sorted((e.kind, e.rule_key, e.field, json.dumps(e.old), json.dumps(e.new), e.summary)
                  for e in cat.events(source=source, version_id=vid) if e.kind not in ("deadline", "reminder"))


def rules_of(cat: Catalog, source: str, vid: int) -> list[dict]:
    return [r.facts() | {"key": r.key} for r in cat.rules_at_version(source, vid)]


def by_hand(tmp_path: Path, name: str, vs: list[dict]) -> Path:
    db = tmp_path / "hand.db"
    for v in vs:
        r = cli(tmp_path, db, "ingest", v["file"], "--source", name, "--at", at(v))
        assert r.exit_code == 0, r.output
    return db


@pytest.fixture(scope="module")
def aml_done(aml_repo, tmp_path_factory):
    """The azureml history backfilled once (shared: extraction is the slow part)."""
    repo, vs, shas = aml_repo
    work = tmp_path_factory.mktemp("aml-bf")
    config(work, "aml", AML_PAGE)
    r = cli(work, work / "bf.db", "backfill", "aml", "--repo", repo, "--json")
    assert r.exit_code == 0, r.output
    return work / "bf.db", json.loads(r.stdout), by_hand(work, "aml", vs)


def test_backfill_matches_ingest_by_hand(aml_repo, aml_done):
    repo, vs, shas = aml_repo
    db, out, hand_db = aml_done
    # 4 versions + the rename commit (new page bytes, same rules); the unrelated commit is not read
    assert out["versions_ingested"] == 5 and out["commits_read"] == 5
    assert f"articles/machine-learning/{AML_NEW_INC}" in out["paths"]
    assert f"articles/machine-learning/{AML_OLD_INC}" in out["paths"]
    hand, cat = Catalog(hand_db), Catalog(db)
    try:
        hv, bv = hand.versions("aml"), cat.versions("aml")
        by_commit = {v["doc_commit"]: v for v in bv}
        assert set(by_commit) >= set(shas)
        for h, sha in zip(hv, shas):
            b = by_commit[sha]
            assert b["observed_at"] == h["observed_at"]
            assert rules_of(cat, "aml", b["id"]) == rules_of(hand, "aml", h["id"])
            assert rule_events(cat, "aml", b["id"]) == rule_events(hand, "aml", h["id"])
            assert b["status"] == h["status"]
        assert all(v["snapshot_id"] for v in bv)  # kept as bundles: `reparse` can re-read them
        extra = [v for v in bv if v["doc_commit"] not in shas]
        assert len(extra) == 1 and extra[0]["status"] == "unchanged"
        assert not cat.events(source="aml", version_id=extra[0]["id"])
        evs = [e for e in cat.events(source="aml") if e.kind not in ("deadline", "reminder")]
        assert evs and all(e.doc_commit in shas for e in evs)
        assert all(e.commit_url == f"https://github.com/MicrosoftDocs/azure-docs/commit/{e.doc_commit}" for e in evs)
        assert sum(len(rule_events(hand, "aml", v["id"])) for v in hv) == len(evs) > 0
    finally:
        hand.close()
        cat.close()


def test_twice_adds_nothing_one_more_commit_adds_one(aml_repo, aml_done, tmp_path):
    src, vs, _ = aml_repo
    repo, db = tmp_path / "docs", tmp_path / "bf.db"
    shutil.copytree(src, repo)
    shutil.copy(aml_done[0], db)
    config(tmp_path, "aml", AML_PAGE)
    r = cli(tmp_path, db, "backfill", "aml", "--repo", repo, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["versions_ingested"] == 0
    files = aml_files(vs[-1], renamed=True)
    inc = f"articles/machine-learning/{AML_NEW_INC}"
    files[inc] += "\n| `extra.example.azureml.ms` | 443 | Added later |\n"
    sha = commit_tree(repo, files, "edit the include only", "2026-06-01T09:00:00Z")
    r = cli(tmp_path, db, "backfill", "aml", "--repo", repo)
    assert r.exit_code == 0, r.output
    assert "1 versions ingested" in r.stdout and "5 already in the catalog" in r.stdout
    assert "commits read" in r.stderr  # progress goes to stderr
    with Catalog(db) as c:
        last = c.versions("aml")[-1]
        assert last["doc_commit"] == sha and last["observed_at"] == "2026-06-01T09:00:00Z"
        assert len(c.versions("aml")) == 6


def test_refuses_a_source_with_later_versions(aml_repo, tmp_path):
    repo, vs, _ = aml_repo
    config(tmp_path, "aml", AML_PAGE)
    db = tmp_path / "bf.db"
    assert cli(tmp_path, db, "ingest", vs[-1]["file"], "--source", "aml", "--at", "2026-11-01").exit_code == 0
    r = cli(tmp_path, db, "backfill", "aml", "--repo", repo)
    assert r.exit_code == 2 and "already has versions up to 2026-11-01" in r.output
    with Catalog(db) as c:
        assert len(c.versions("aml")) == 1


def test_bad_input_is_one_clear_line(aml_repo, tmp_path):
    repo, _, _ = aml_repo
    config(tmp_path, "aml", AML_PAGE)
    for args, msg in ([("--repo", tmp_path / "nope"), "no such directory"],
                      [("--repo", tmp_path), "not a git repository"],
                      [("--repo", repo, "--path", "articles/none.md"), "no commits touch"],
                      [("--repo", repo, "--since", "yesterday"), "bad --since date"]):
        r = cli(tmp_path, tmp_path / "x.db", "backfill", "aml", *args)
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, r.output
    r = cli(tmp_path, tmp_path / "y.db", "backfill", "nosuch", "--repo", repo)
    assert r.exit_code == 2 and "unknown source" in r.output and "--path" in r.output
    assert not (tmp_path / "y.db").exists()


def test_unconfigured_source_with_path(tmp_path):
    """Like `ingest`, a source need not be in config.toml when --path names the page."""
    repo = init_repo(tmp_path / "docs")
    sha = commit_tree(repo, {"a/p.md": (Path(__file__).parent / "synthetic_backfill_page.md").read_text()},
                      "page", "2024-05-01T10:00:00Z")
    (tmp_path / "config.toml").write_text(f'snapshot_dir = "{tmp_path / "snaps"}"\n')
    r = cli(tmp_path, tmp_path / "x.db", "backfill", "adhoc", "--repo", repo, "--path", "./a/p.md", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["versions_ingested"] == 1, r.output
    with Catalog(tmp_path / "x.db") as c:
        assert [v["doc_commit"] for v in c.versions("adhoc")] == [sha]
        assert {r.party for r in c.current_rules("adhoc")} == {"login.example.com", "*.data.example.net"}


@pytest.fixture(scope="module")
def monitor_repo(tmp_path_factory):
    """Azure Monitor history: the real page moves twice (app/ → azure-monitor/ → fundamentals/);
    each move is its own commit, as docs repositories do it."""
    vs = [corpus_versions(MON)[i] for i in (1, 2, 4)]  # 2023 app/ → 2024 azure-monitor/ → 2025 fundamentals/
    assert len({v["path"].split("/", 1)[1] for v in vs}) == 3
    repo = init_repo(tmp_path_factory.mktemp("mon") / "docs")
    shas, prev_path = [], None
    for v in vs:
        path = v["path"].split("/", 1)[1]
        if prev_path and prev_path != path:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            git(repo, "mv", prev_path, path)
            git(repo, "commit", "-q", "-m", f"move to {path}", date=f"{v['ms_date']}T06:00:00Z")
        shas.append(commit_tree(repo, {path: Path(v["file"]).read_text(encoding="utf-8")},
                                f"version {v['version']}", at(v)))
        prev_path = path
    return repo, vs, shas


def test_partial_clone_follows_page_moves(monitor_repo, tmp_path):
    origin, vs, shas = monitor_repo
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--filter=blob:none", "--sparse", f"file://{origin}", str(clone)],
                   check=True, capture_output=True)
    subprocess.run(["git", "-C", str(clone), "sparse-checkout", "set", "articles/azure-monitor/fundamentals"],
                   check=True, capture_output=True)
    assert subprocess.run(["git", "-C", str(clone), "config", "remote.origin.promisor"],
                          capture_output=True, text=True).stdout.strip() == "true"
    config(tmp_path, "mon", MON_PAGE)
    db = tmp_path / "bf.db"
    packs = len(list((clone / ".git/objects/pack").glob("*.pack")))
    r = cli(tmp_path, db, "backfill", "mon", "--repo", clone, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["versions_ingested"] == len(vs)  # the pure moves are no new versions
    # the missing blobs came in one batch fetch (one new pack), not one lazy fetch per blob
    assert len(list((clone / ".git/objects/pack").glob("*.pack"))) == packs + 1
    hand = Catalog(by_hand(tmp_path, "mon", vs))
    cat = Catalog(db)
    try:
        for h, b, sha in zip(hand.versions("mon"), cat.versions("mon"), shas):
            assert b["doc_commit"] == sha and b["observed_at"] == h["observed_at"]
            assert rules_of(cat, "mon", b["id"]) == rules_of(hand, "mon", h["id"])
            assert rule_events(cat, "mon", b["id"]) == rule_events(hand, "mon", h["id"])
        # a file:// remote is no GitHub repository: no commit links are invented
        assert all(e.commit_url is None for e in cat.events(source="mon"))
    finally:
        hand.close()
        cat.close()


def test_a_move_with_a_rewrite_is_followed(tmp_path):
    """Each real version committed wholesale: the page moves to fundamentals/ in the same commit
    that rewrites it (23% similar, below git's rename threshold); its history still continues."""
    vs = [v for i, v in enumerate(corpus_versions(MON)) if i in (3, 4)]
    assert vs[0]["path"].split("/", 1)[1] != MON_PAGE
    repo = init_repo(tmp_path / "docs")
    shas = [commit_tree(repo, read_version(v), v["version"], at(v)) for v in vs]
    config(tmp_path, "mon", MON_PAGE)
    r = cli(tmp_path, tmp_path / "bf.db", "backfill", "mon", "--repo", repo, "--json")
    assert r.exit_code == 0, r.output
    assert vs[0]["path"].split("/", 1)[1] in json.loads(r.stdout)["paths"]
    hand, cat = Catalog(by_hand(tmp_path, "mon", vs)), Catalog(tmp_path / "bf.db")
    try:
        assert [v["doc_commit"] for v in cat.versions("mon")] == shas
        # the July 2025 version announces the TLS 1.2 dates: new deadlines, events at its commit
        dl = [(e.new, e.doc_commit) for e in cat.events(source="mon") if e.kind == "deadline"]
        assert sorted(dl) == [("2025-07-01", shas[1]), ("2026-03-01", shas[1])]
        for h, b in zip(hand.versions("mon"), cat.versions("mon")):
            assert rules_of(cat, "mon", b["id"]) == rules_of(hand, "mon", h["id"])
            assert rule_events(cat, "mon", b["id"]) == rule_events(hand, "mon", h["id"])
    finally:
        hand.close()
        cat.close()


def test_shallow_clone_backfills_what_it_has(monitor_repo, tmp_path):
    origin, vs, shas = monitor_repo
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{origin}", str(clone)], check=True,
                   capture_output=True)
    config(tmp_path, "mon", MON_PAGE)
    db = tmp_path / "bf.db"
    r = cli(tmp_path, db, "backfill", "mon", "--repo", clone, "--json")
    assert r.exit_code == 0, r.output
    # history stops at the shallow boundary: the move to fundamentals/ (the page as of then), the last version
    with Catalog(db) as c:
        assert [v["doc_commit"] for v in c.versions("mon")] == [git(origin, "rev-parse", "HEAD~1").strip(), shas[-1]]
        assert c.versions("mon")[0]["observed_at"] == f"{vs[-1]['ms_date']}T06:00:00Z"


def test_nested_includes_and_later_include(tmp_path):
    """Synthetic: an include added later counts from then on; nested includes resolve
    relative to the including file; an include edited before the page used it is no version."""
    repo = init_repo(tmp_path / "docs")
    page = "articles/svc/net.md"
    base = (Path(__file__).parent / "synthetic_backfill_page.md").read_text()
    inc = (Path(__file__).parent / "synthetic_backfill_include.md").read_text()
    nested = "| `nested.example.net` | 443 | From the nested include |\n"
    shas = [commit_tree(repo, {page: base, "includes/ports.md": inc}, "page, include not yet used",
                        "2024-01-01T00:00:00Z")]
    commit_tree(repo, {page: base, "includes/ports.md": inc + "\n<!-- edited -->\n"}, "edit unused include",
                "2024-02-01T00:00:00Z")
    used = base + "\n[!INCLUDE [ports](../../includes/ports.md)]\n"
    with_nested = inc.rstrip("\n") + "\n\n[!INCLUDE [n](./deep/rows.md)]\n"
    shas.append(commit_tree(repo, {page: used, "includes/ports.md": with_nested, "includes/deep/rows.md": "# rows\n"},
                            "use include", "2024-03-01T00:00:00Z"))
    shas.append(commit_tree(repo, {page: used, "includes/ports.md": with_nested,
                       "includes/deep/rows.md": "# rows\n\n| Host | Port | Description |\n|---|---|---|\n" + nested},
                "nested rows", "2024-04-01T00:00:00Z"))
    config(tmp_path, "svc", page)
    db = tmp_path / "bf.db"
    r = cli(tmp_path, db, "backfill", "svc", "--repo", repo, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["versions_ingested"] == 3 and "includes/deep/rows.md" in out["paths"]
    with Catalog(db) as c:
        vs = c.versions("svc")
        parties = [{r.party for r in c.rules_at_version("svc", v["id"])} for v in vs]
    assert "ports.example.com" not in parties[0] and "ports.example.com" in parties[1]
    assert "nested.example.net" in parties[2] and "nested.example.net" not in parties[1]
    assert [v["doc_commit"] for v in vs] == shas

    # --until, then --since: only commits in range; a later run continues after the catalog's latest
    db2 = tmp_path / "range.db"
    assert cli(tmp_path, db2, "backfill", "svc", "--repo", repo, "--until", "2024-03-01", "--quiet").exit_code == 0
    with Catalog(db2) as c:
        assert [v["doc_commit"] for v in c.versions("svc")] == shas[:2]
    r = cli(tmp_path, db2, "backfill", "svc", "--repo", repo, "--since", "2024-04-01", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["versions_ingested"] == 1, r.output
    with Catalog(db2) as c:
        assert [v["doc_commit"] for v in c.versions("svc")] == shas


def test_helpers():
    assert github_slug("git@github.com:MicrosoftDocs/azure-docs.git") == "MicrosoftDocs/azure-docs"
    assert github_slug("https://github.com/MicrosoftDocs/azure-docs") == "MicrosoftDocs/azure-docs"
    assert github_slug("ssh://git@github.com/o/r.git") == "o/r"
    assert github_slug("file:///tmp/x") is None and github_slug("https://gitlab.com/o/r.git") is None
    assert page_path_from_url("https://raw.githubusercontent.com/MicrosoftDocs/azure-docs/main/articles/x/y.md") \
        == "articles/x/y.md"
    assert page_path_from_url("https://github.com/MicrosoftDocs/azure-docs/blob/main/articles/x/y.md") == "articles/x/y.md"
    assert page_path_from_url("https://learn.microsoft.com/en-us/azure/x") is None
    assert parse_raw_log("") == []


def test_history_is_recorded_not_sent_unless_asked(aml_repo, tmp_path):
    """A backfill's years of events go into the catalog; a configured channel moves past them
    (an Atom feed gets no entries), unless `--alerts` asks for them."""
    repo, vs, _ = aml_repo
    for flag, expect_entries in (([], False), (["--alerts"], True)):
        d = tmp_path / ("sent" if flag else "quiet")
        d.mkdir()
        cfg = config(d, "aml", AML_PAGE)
        feed = d / "feed.xml"
        cfg.write_text(cfg.read_text() + f'\n[alerts.feed]\nkind = "atom"\npath = "{feed}"\nmin_severity = "low"\n')
        r = cli(d, d / "bf.db", "backfill", "aml", "--repo", repo, "--json", *flag)
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["events"] > 0
        assert cli(d, d / "bf.db", "alerts", "deliver").exit_code == 0
        entries = feed.read_text().count("<entry>") if feed.exists() else 0
        assert (entries > 0) is expect_entries, entries
