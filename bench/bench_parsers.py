"""Extraction speed against the bare libraries underneath. ``python -m bench.bench_parsers``.

* markdown extraction = ``pipeline.extract``: ``parse_markdown`` + ``normalize`` (table rules,
  text rules, deadlines and the coverage pass), as a cycle runs it on a page, over every
  corpus page version (includes served from memory) vs a bare markdown-it parse (same preset:
  commonmark + html + table) of the same bytes: the page and each include it pulls in, parsed
  separately (the parser inlines includes and parses the page once, plus a block-level pass
  over the unrepaired text of a page whose tables it had to repair) — goal ≤ 1.5×; the
  parse-only ratio and normalize's share say where time goes.
* HTML extraction = ``pipeline.extract`` (``parse_html`` + ``normalize``) over every corpus/rendered and corpus/html
  file vs a bare ``BeautifulSoup(html, "lxml")`` (goal ≤ 1.5×) and vs a bare
  ``lxml.html.fromstring`` (report only: parse_html is built on libxml2 directly).
* markdown-it-py's own quadratic case (a run of ``[``): ours vs bare, to show we add nothing
  to the dependency's behaviour (the tests feed it only at a size it handles quickly).

Every document is extracted cold: ``docwatch.memo.clear()`` runs before each one, so what the
string memos save comes from repetition inside a page, never from having seen an earlier version
of it (the corpus holds several versions of each page).

Best CPU time of several repeats, a figure and its baseline taken in turn; every figure is
measured in this run.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

CORPUS = Path(os.environ.get("DOCWATCH_SHARED", Path(__file__).resolve().parent.parent.parent / "shared")) / "corpus"
REPEATS = 5


def _best(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    return _bests([fn], repeats)[0]


def _bests(fns: list[Callable[[], object]], repeats: int = REPEATS) -> list[float]:
    """Best CPU time of each function, the functions run in turn each repeat: on a machine
    shared with other work, load then falls on a figure and its baseline alike (and CPU time,
    unlike wall time, does not count the time another process holds the core)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            t = time.process_time()
            fn()
            best[k] = min(best[k], time.process_time() - t)
    return best


def _markdown_inputs() -> list[tuple[str, str, dict[str, str]]]:
    """(path, text, includes it reads) per page version, every file read up front."""
    out = []
    for page in sorted(p for p in (CORPUS / "markdown").iterdir() if p.is_dir()):
        for v in json.loads((page / "versions.json").read_text()):
            f = page / v["path"]
            files: dict[str, str] = {}

            def loader(resolved: str) -> str | None:
                p = Path(resolved)
                if not p.is_file():
                    return None
                files[resolved] = p.read_text(encoding="utf-8")
                return files[resolved]

            from parsers.markdown import parse_markdown

            text = f.read_text(encoding="utf-8")
            parse_markdown(text, path=str(f), loader=loader)  # discover the includes it reads
            out.append((str(f), text, files))
    return out


def bench_markdown() -> list[tuple[str, str, str]]:
    from markdown_it import MarkdownIt

    from docwatch.gc_pause import paused_gc
    from docwatch.memo import clear
    from docwatch.normalize import normalize
    from docwatch.pipeline import extract as pipeline_extract
    from parsers.markdown import parse_markdown

    inputs = _markdown_inputs()
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    size = sum(len(t.encode()) + sum(len(x.encode()) for x in inc.values()) for _, t, inc in inputs)
    docs = [parse_markdown(text, path=path, loader=inc.get) for path, text, inc in inputs]

    def extract() -> None:
        for path, text, inc in inputs:
            clear()
            pipeline_extract(text, path=path, loader=inc.get)

    def parse_only() -> None:  # (held to the same collector pause as extract)
        for path, text, inc in inputs:
            clear()
            with paused_gc():
                parse_markdown(text, path=path, loader=inc.get)

    def normalize_only() -> None:
        for d in docs:
            clear()
            with paused_gc():
                normalize(d)

    def bare() -> None:
        for _, text, inc in inputs:
            md.parse(text)
            for x in inc.values():
                md.parse(x)

    def bare_paused() -> None:  # the baseline under the same collector pause, for a like-for-like ratio
        with paused_gc():
            bare()

    a, p, n, b, bp = _bests([extract, parse_only, normalize_only, bare, bare_paused])
    return [
        (f"markdown: parse + normalize, {len(inputs)} versions ({size / 1e6:.2f} MB)", f"{a * 1000:.0f} ms", "-"),
        ("markdown: bare MarkdownIt().parse, same bytes", f"{b * 1000:.0f} ms", "-"),
        ("markdown extraction (parse + normalize) / bare markdown-it", f"{a / b:.2f}x", "<= 1.5x"),
        ("  the same, bare markdown-it also with the collector paused", f"{a / bp:.2f}x", "report (like for like)"),
        ("markdown: parse only / bare markdown-it", f"{p / b:.2f}x", "report"),
        ("markdown: normalize share of extraction", f"{n / a:.0%}", "report"),
    ]


def bench_pathological() -> list[tuple[str, str, str]]:
    from markdown_it import MarkdownIt

    from parsers.markdown import parse_markdown

    text = "[" * 300_000
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    a, b = _best(lambda: parse_markdown(text, path="x.md"), 1), _best(lambda: md.parse(text), 1)
    return [("markdown-it's quadratic case, 300 KB of '[': ours / bare", f"{a:.1f} s / {b:.1f} s = {a / b:.2f}x",
             "<= 1.1x (the dependency's own cost)")]


def bench_html() -> list[tuple[str, str, str]]:
    import lxml.html
    from bs4 import BeautifulSoup

    from docwatch.gc_pause import paused_gc
    from docwatch.memo import clear
    from docwatch.pipeline import extract as pipeline_extract
    from parsers.html import parse_html

    texts = [p.read_text(encoding="utf-8") for p in
             sorted([*CORPUS.glob("rendered/*/*.html"), *CORPUS.glob("html/*.html")])]
    size = sum(len(t.encode()) for t in texts)

    def ours() -> None:
        for t in texts:
            clear()
            pipeline_extract(t)

    def parse_only() -> None:
        for t in texts:
            clear()
            with paused_gc():
                parse_html(t)

    def soup() -> None:
        for t in texts:
            BeautifulSoup(t, "lxml")

    def bare_lxml() -> None:
        for t in texts:
            lxml.html.fromstring(t.encode())

    a, p, b, c = _bests([ours, parse_only, soup, bare_lxml])
    return [
        (f"html: parse + normalize, {len(texts)} pages ({size / 1e6:.2f} MB)", f"{a * 1000:.0f} ms", "-"),
        ("html: bare BeautifulSoup(html, 'lxml')", f"{b * 1000:.0f} ms", "-"),
        ("html: bare lxml.html.fromstring", f"{c * 1000:.0f} ms", "-"),
        ("html extraction (parse + normalize) / bare BeautifulSoup", f"{a / b:.2f}x", "<= 1.5x"),
        ("html extraction / bare lxml", f"{a / c:.2f}x", "report only"),
        ("html: normalize share of extraction", f"{(a - p) / a:.0%}", "report"),
    ]


def run() -> list[tuple[str, str, str]]:
    if not CORPUS.exists():
        return [("parsers", "skipped (corpus absent)", "-")]
    return bench_markdown() + bench_html() + bench_pathological()


if __name__ == "__main__":
    for name, value, goal in run():
        print(f"{name:<62} {value:>10}   goal: {goal}")
