"""What the parse workers run: a bundle's fields in, (document, rules, coverage counts) out.

Its own module, imported by the workers without the cycle's (httpx, asyncio, the catalog): the
fork server preloads it, and a third of a second less to import is a third of a second sooner
that the first cycle's pages are parsed. Pure: the same results in a worker or a thread.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from docwatch.pipeline import extract


def extract_parts(text: str, path: str | None, form: str, includes: dict[str, str], meta: dict,
                  diagnostics: list):
    """Parse + normalize one bundle; coverage is counted here too, off the event loop."""
    doc, rules = extract(text, path=path, loader=includes.get if form == "markdown" else None, meta=meta,
                         diagnostics=diagnostics)
    return doc, rules, coverage_of(doc, rules)


class ExtractionFailed(Exception):
    """Processing one document failed in a worker (the message names the original error)."""


def extract_batch(jobs: list[tuple]) -> list[tuple[bool, Any]]:
    """:func:`extract_parts` of several bundles in one worker round trip: ``(True, parts)`` or
    ``(False, ExtractionFailed)`` per job, so one bad document fails only its own source."""
    out: list[tuple[bool, Any]] = []
    for args in jobs:
        try:
            out.append((True, extract_parts(*args)))
        except Exception as exc:  # noqa: BLE001 - handed back to that source's task, picklable
            out.append((False, ExtractionFailed(f"{type(exc).__name__}: {exc}")))
    return out


def coverage_of(doc, rules) -> dict[str, int]:
    """Coverage counts of one parsed document (tokens seen, in rules, set aside, unparsed)."""
    from docwatch.coverage import coverage_counts

    return {k: int(v) for k, v in asdict(coverage_counts(doc, rules)).items()}
