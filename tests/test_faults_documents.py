"""Issue 13: local includes for parse/rules/ingest stay inside the document's root (a repo root
found as in a clone, or the page's own directory tree), on real files in tmp dirs and the corpus."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from docwatch.documents import document_root, load_local

TABLE = "| Host | Port |\n|---|---|\n| {host} | 443 |\n"


def _page(path: Path, *includes: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "# Page\n\n## Endpoints\n\n" + TABLE.format(host="public.example.com") + "\n"
    for inc in includes:
        body += f"\n[!INCLUDE [x]({inc})]\n"
    path.write_text(body)
    return path


def _hosts(doc) -> set[str]:
    return {c.text for t in doc.tables for row in t.rows for c in row if "example" in c.text}


def test_includes_outside_the_repo_root_are_refused_with_a_diagnostic(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "includes").mkdir()
    (repo / "includes" / "ok.md").write_text(TABLE.format(host="included.example.com"))
    (tmp_path / "private.md").write_text(TABLE.format(host="private.example.com"))
    page = _page(repo / "articles" / "svc" / "page.md", "../../includes/ok.md", "../../../private.md",
                 "../../../../../../../../../../etc/passwd")
    doc = load_local(page)
    assert _hosts(doc) == {"public.example.com", "included.example.com"}
    outside = [d for d in doc.diagnostics if d.code == "include-outside-root"]
    assert len(outside) == (2 if Path("/etc/passwd").exists() else 1)
    assert all(str(repo) in d.message for d in outside)
    assert document_root(page) == repo.resolve()


def test_without_markers_the_page_directory_tree_is_the_root(tmp_path):
    (tmp_path / "private.md").write_text(TABLE.format(host="private.example.com"))
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "sub" / "inner.md").write_text(TABLE.format(host="inner.example.com"))
    page = _page(tmp_path / "docs" / "page.md", "sub/inner.md", "../private.md")
    doc = load_local(page)
    assert _hosts(doc) == {"public.example.com", "inner.example.com"}
    assert [d.code for d in doc.diagnostics if d.code == "include-outside-root"] == ["include-outside-root"]


def test_a_symlink_cannot_smuggle_an_outside_file_in(tmp_path):
    repo = tmp_path / "repo"
    (repo / "docfx.json").parent.mkdir(parents=True)
    (repo / "docfx.json").write_text("{}")
    (tmp_path / "secret.md").write_text(TABLE.format(host="secret.example.com"))
    (repo / "includes").mkdir()
    os.symlink(tmp_path / "secret.md", repo / "includes" / "link.md")
    page = _page(repo / "articles" / "page.md", "../includes/link.md")
    doc = load_local(page)
    assert "secret.example.com" not in _hosts(doc)
    assert any(d.code == "include-outside-root" for d in doc.diagnostics)


def test_a_missing_include_outside_is_only_missing(tmp_path):
    page = _page(tmp_path / "p" / "page.md", "../../nowhere/at/all.md")
    codes = [d.code for d in load_local(page).diagnostics]
    assert "missing-include" in codes and "include-outside-root" not in codes


def test_corpus_checkouts_keep_their_includes(corpus_dir):
    """A corpus version is a DocFX checkout without .git: its articles/ folder marks the root."""
    base = corpus_dir / "markdown" / "azureml-behind-firewall"
    pages = sorted(base.glob("*/articles/machine-learning/how-to-access-azureml-behind-firewall.md"))
    if not pages:
        pytest.skip("no azureml-behind-firewall checkout with includes in this corpus")
    doc = load_local(pages[-1])
    codes = [d.code for d in doc.diagnostics]
    assert "include-outside-root" not in codes
    assert document_root(pages[-1]) == pages[-1].parents[2].resolve()


def test_rules_command_does_not_read_outside_files(tmp_path):
    from docwatch.cli import main

    (tmp_path / "private.md").write_text(TABLE.format(host="private.example.com"))
    page = _page(tmp_path / "site" / "page.md", "../private.md")
    result = CliRunner().invoke(main, ["rules", str(page), "--json"])
    assert result.exit_code == 0, result.output
    assert "public.example.com" in result.output and "private.example.com" not in result.output
