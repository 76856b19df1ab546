"""The one ingest path: scrape, replay, ``ingest``, ``backfill``, ``accept``, ``reparse`` and the tests.

``extract`` is pure (text → document + rules). ``ingest`` is catalog reads → diff (pure) →
guard decision (pure) → catalog writes, for one :class:`Observation` (one observed version of
a source). Provenance of events (dates, commit, page) and content hashes are computed here and
nowhere else.

Forms. A version is compared with the last version of the same form. When a source's preferred
form fails and another form is ingested, that version is kept apart (status ``form-switch``):
the first such version is checked for parity with the current rules and reported as one
``form-switch`` note (severity ``info``, never alerted by default), never as removals; later
versions of the same fallback form are diffed against it, and those real changes are not
reported a second time when the preferred form returns.

Parser versions. Every version records the parser version that extracted it
(:data:`PARSER_VERSION`, a digest of the extraction code). When it differs from the current one,
the source is first re-extracted from its stored snapshots (:func:`reparse`): differences caused by
the parser become ``parser`` events (shown by ``changes --kind parser``, never alerted), so a
parser fix never pages anyone.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from docwatch.model import ChangeEvent, Rule
from parsers.model import Diagnostic, Document

log = logging.getLogger(__name__)

# The code whose behaviour decides which rules a page yields.
_EXTRACTION_CODE = ("parsers", "docwatch/normalize.py", "docwatch/normalize_values.py", "docwatch/textrules.py",
                    "docwatch/coverage.py", "docwatch/deadlines.py", "docwatch/tagnames.py",
                    "docwatch/data/service_tag_names.txt")
BUNDLE_MARK = "docwatch-bundle"


@lru_cache(maxsize=1)
def parser_version() -> str:
    """A short digest of the extraction code: it changes exactly when extraction may."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for rel in _EXTRACTION_CODE:
        p = root / rel
        files = sorted(p.glob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


@dataclass
class Observation:
    """One observed version of a source, parsed, with its provenance."""

    source: str
    doc: Document | None
    rules: list[Rule] = field(default_factory=list)
    observed_at: str | None = None
    content_hash: str | None = None
    snapshot_id: str | None = None  # a bundle manifest in the snapshot store (see :func:`store_bundle`)
    page_url: str | None = None
    form: str | None = None  # markdown | html | text
    doc_commit: str | None = None  # overrides the document's own commit meta (backfill, --commit)
    commit_url: str | None = None


@dataclass
class IngestResult:
    version_id: int | None
    status: str  # first | changed | unchanged | duplicate | anomaly | confirmed | accepted | form-switch
    events: list[ChangeEvent] = field(default_factory=list)
    reason: str | None = None
    seq: int | None = None  # the per-source version number users see


# -- extraction (pure) ------------------------------------------------------------------------

def extract(text: str, *, path: str | None = None, loader: Callable[[str], str | None] | None = None,
            meta: dict[str, Any] | None = None, diagnostics: list[Diagnostic] | None = None) -> tuple[Document, list[Rule]]:
    """Pure: parse (markdown/HTML detected) + normalize. ``meta`` fills keys the text lacks
    (doc_commit, source_url, doc_date from the Learn page head); normalize failures become
    diagnostics, which the guard turns into an anomaly rather than removals."""
    from docwatch.gc_pause import paused_gc
    from docwatch.normalize import normalize_checked
    from parsers import parse_document

    with paused_gc():
        doc = parse_document(text, path=path, loader=loader)
        for k, v in (meta or {}).items():
            if v and not doc.meta.get(k):
                doc.meta[k] = v
        if diagnostics:
            doc.diagnostics[:0] = diagnostics
        rules, extra = normalize_checked(doc)
    doc.diagnostics.extend(extra)
    return doc, rules


def content_hash(main: str | bytes, includes: dict[str, str] | None = None) -> str:
    """The identity of an observed document: its bytes plus every include it pulled in."""
    data = main.encode() if isinstance(main, str) else main
    h = hashlib.sha256(data)
    if not includes:
        return h.hexdigest()
    main_sha = h.hexdigest()
    h = hashlib.sha256(main_sha.encode())
    for path in sorted(includes):
        h.update(b"\0" + path.encode() + b"\0" + hashlib.sha256(includes[path].encode()).hexdigest().encode())
    return h.hexdigest()


def store_bundle(store, *, text: str, form: str | None, path: str | None = None,
                 includes: dict[str, str] | None = None, meta: dict[str, Any] | None = None) -> str:
    """Store a document and its includes in the snapshot store; returns the manifest's id, which
    :func:`load_bundle` turns back into what :func:`extract` needs (``reparse`` reads it)."""
    parts = {p: store.put(t.encode("utf-8")) for p, t in sorted((includes or {}).items())}
    manifest = {BUNDLE_MARK: 1, "form": form, "path": path, "main": store.put(text.encode("utf-8")),
                "includes": parts, "meta": {k: v for k, v in (meta or {}).items() if isinstance(v, str)}}
    return store.put(json.dumps(manifest, sort_keys=True).encode("utf-8"))


def load_bundle(store, snapshot_id: str) -> dict[str, Any] | None:
    """``{"text", "path", "includes", "form", "meta"}`` of a stored bundle (a plain snapshot of one
    document is read as a bundle with no includes); ``None`` when it is gone."""
    try:
        data = store.get(snapshot_id)
    except Exception:  # noqa: BLE001 - missing or corrupt: the caller keeps what it had
        return None
    try:
        manifest = json.loads(data)
        if not isinstance(manifest, dict) or BUNDLE_MARK not in manifest:
            raise ValueError
    except ValueError:
        return {"text": data.decode("utf-8", errors="replace"), "path": None, "includes": {}, "form": None, "meta": {}}
    includes = {}
    for p, digest in manifest.get("includes", {}).items():
        try:
            includes[p] = store.get(digest).decode("utf-8", errors="replace")
        except Exception:  # noqa: BLE001
            return None
    try:
        text = store.get(manifest["main"]).decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001
        return None
    return {"text": text, "path": manifest.get("path"), "includes": includes, "form": manifest.get("form"),
            "meta": manifest.get("meta") or {}}


def bundle_parts(snapshot_ids, store) -> set[str]:
    """Digests of the page and includes that the given bundle manifests list (for ``gc``)."""
    parts: set[str] = set()
    for sid in snapshot_ids:
        try:
            manifest = json.loads(store.get(sid))
        except Exception:  # noqa: BLE001 - a plain page snapshot, or gone: nothing more to keep
            continue
        if isinstance(manifest, dict) and BUNDLE_MARK in manifest:
            parts.add(manifest.get("main"))
            parts.update((manifest.get("includes") or {}).values())
    parts.discard(None)
    return parts


def extract_bundle(bundle: dict[str, Any]) -> tuple[Document, list[Rule]]:
    loader = bundle["includes"].get if bundle.get("includes") is not None else None
    return extract(bundle["text"], path=bundle.get("path"), loader=loader, meta=bundle.get("meta"))


@dataclass
class LocalDocument:
    """A local file read for ``ingest``: its text, the includes it pulled in, and its extraction."""

    path: str
    text: str
    includes: dict[str, str]
    doc: Document
    rules: list[Rule]
    content_hash: str


def read_local(path) -> LocalDocument:
    """Read and extract a local file (includes resolved on disk, within its root), recording
    every include read so the version can be stored as a bundle and re-extracted later."""
    from docwatch import documents

    text, diags = documents.read_text_file(path)
    base = documents.include_loader(path)
    seen: dict[str, str] = {}

    def loader(resolved: str) -> str | None:
        body = base(resolved)
        if body is not None:
            seen[resolved] = body
        return body

    doc, rules = extract(text, path=str(path), loader=loader, diagnostics=diags)
    doc.diagnostics.extend(getattr(base, "diagnostics", []))  # includes refused outside the document root
    return LocalDocument(str(path), text, seen, doc, rules, content_hash(text, seen))


# -- provenance ------------------------------------------------------------------------------------

def _provenance(version: dict[str, Any]) -> dict[str, Any]:
    from docwatch.diff import commit_url

    return dict(detected_at=version["observed_at"], version_id=version["id"], doc_date=version.get("doc_date"),
                doc_commit=version.get("doc_commit"), page_url=version.get("page_url"),
                commit_url=version.get("commit_url") or commit_url(version.get("source_url"), version.get("doc_commit")))


def stamp(events: list[ChangeEvent], version: dict[str, Any]) -> list[ChangeEvent]:
    prov = _provenance(version)
    for ev in events:
        for k, v in prov.items():
            setattr(ev, k, v)
    return events


def _note(source: str, kind: str, severity: str, impact: str, summary: str) -> ChangeEvent:
    return ChangeEvent(source=source, kind=kind, severity=severity, impact=impact, summary=summary)


# -- the ingest path -----------------------------------------------------------------------------

def ingest(catalog, obs: Observation, *, guard=None, accept: bool = False, store=None,
           deadlines: list | None = None) -> IngestResult:
    """Store ``obs`` as a version of its source: reads → diff → guard → writes, in one transaction.

    ``accept`` overrides the guard for this version (and accepts identical bytes already stored
    as an anomaly). ``store`` (a snapshot store) lets a parser upgrade re-extract stored versions
    before the diff. ``deadlines`` replaces the dated requirements found on the page (tools, tests)."""
    from docwatch.catalog import parse_time
    from docwatch.errors import UsageError
    from docwatch.guard import GuardSettings, missing_includes

    g = guard or GuardSettings()
    at = parse_time(obs.observed_at, what="observed_at")
    meta = dict((obs.doc.meta if obs.doc is not None else {}) or {})
    if obs.doc_commit:
        meta["doc_commit"] = obs.doc_commit
    with catalog.write():
        src = catalog.touch_source(obs.source, at, obs.page_url)
        last = catalog.last_version(obs.source)
        if last and at < last["observed_at"]:
            raise UsageError(f"cannot ingest {obs.source!r} observed at {at}: older than its latest version "
                             f"({last['observed_at']}); versions must be ingested in time order")
        if obs.content_hash and last and last["content_hash"] == obs.content_hash:
            if accept and last["status"] == "anomaly":
                return _accept(catalog, obs.source, last)
            return _duplicate(catalog, obs.source, src, last, at, g)
        accepted = catalog.last_accepted_version(obs.source)
        if accepted is not None and store is not None and accepted.get("parser_version") not in (None, parser_version()):
            reparse(catalog, obs.source, store)
            accepted = catalog.last_accepted_version(obs.source)
        version_kw = dict(content_hash=obs.content_hash, snapshot_id=obs.snapshot_id, meta=meta,
                          page_url=obs.page_url or src.get("page_url"), commit_url=obs.commit_url,
                          table_count=len(obs.doc.tables) if obs.doc is not None else 0, rule_count=len(obs.rules),
                          form=obs.form, parser_version=parser_version(),
                          missing_includes=sorted(missing_includes(obs.doc)))
        if (accepted is not None and not accept and obs.form in _FORMS and accepted.get("form") in _FORMS
                and obs.form != accepted["form"] and not _collapsed(accepted, obs, g)):
            return _form_switch(catalog, obs, accepted, at, version_kw, g)
        res = _diff_and_write(catalog, obs, src, last, accepted, at, version_kw, g, accept)
        if res.status not in ("anomaly", "duplicate") and obs.doc is not None:
            from docwatch.deadline_store import record_deadlines  # dated requirements: their own events

            res.events += record_deadlines(catalog, obs, res, deadlines=deadlines)
        return res


_FORMS = ("markdown", "html")  # the two forms of one page; a text dump is no form to fall back to


def _collapsed(accepted, obs: Observation, g) -> bool:
    """A hard collapse (no tables, no rules, a failed table) is an anomaly whatever the form."""
    from docwatch.diff import Delta
    from docwatch.guard import decide

    return decide(_baseline(accepted), obs.doc, obs.rules, Delta(prev_count=accepted.get("rule_count") or 0), g).hard


def _baseline(version: dict[str, Any] | None):
    from docwatch.guard import Baseline

    if version is None:
        return None
    return Baseline(version.get("rule_count") or 0, version.get("table_count") or 0, version.get("form"),
                    frozenset(json.loads(version.get("missing_includes") or "[]")))


def _diff_and_write(catalog, obs: Observation, src, last, accepted, at: str, version_kw: dict, g, accept: bool) -> IngestResult:
    from docwatch.diff import compute_delta
    from docwatch.guard import ACCEPT, confirms, decide

    source = obs.source
    current = catalog.current_rules(source) if accepted is not None else []
    delta = compute_delta(current, obs.rules, source=source)
    decision = ACCEPT if accept else decide(_baseline(accepted), obs.doc, obs.rules, delta, g)
    confirmed: list[ChangeEvent] = []
    if (decision.action == "hold" and not decision.hard and last is not None and last["status"] == "anomaly"
            and last.get("kind") not in (None, "no-tables", "no-rules", "normalize-failed")):
        held = catalog.held_rules(last)
        if held is not None:
            vs_held = compute_delta(held, obs.rules, source=source)
            if confirms(_baseline(last), obs.doc, obs.rules, vs_held, g):
                log.info("%s: anomaly %r confirmed by a later version; accepting", source, last["reason"])
                confirmed = _apply_version(catalog, source, last, current, held, "confirmed")
                current, delta, decision = held, vs_held, ACCEPT
    if decision.action == "hold":
        version = catalog.add_version(source, at, status="anomaly", reason=decision.reason, kind=decision.kind,
                                      held=obs.rules, **version_kw)
        events = []
        if not src.get("anomaly_since"):  # one anomaly event per streak
            catalog.set_streak(source, since=at, reason=decision.reason)
            events = stamp([_note(source, "anomaly", "high", "anomaly",
                                   f"{source}: {decision.reason}; no removals inferred, current rules kept")], version)
            catalog.add_events(events)
        log.warning("%s: suspicious version: %s", source, decision.reason)
        return IngestResult(version["id"], "anomaly", events, decision.reason, version["seq"])
    catalog.set_streak(source, since=None, reason=None, seen=at)
    version = catalog.add_version(source, at, status="pending", **version_kw)
    if accepted is None and not confirmed:
        catalog.apply_rules(source, version["id"], at, [], obs.rules)
        status, events = "first", []
    else:
        events = _not_reported_before(catalog, source, accepted, delta.events)
        catalog.apply_rules(source, version["id"], at, current, obs.rules, delta.rekeys)
        status = "changed" if events else "unchanged"
        stamp(events, version)
        catalog.add_events(events)
    catalog.set_version(version["id"], status=status)
    return IngestResult(version["id"], status, confirmed + events, None, version["seq"])


def _apply_version(catalog, source: str, version: dict[str, Any], current: list[Rule], rules: list[Rule],
                   status: str) -> list[ChangeEvent]:
    """Apply a stored (held) version's rules at its own date, with its own events."""
    from docwatch.diff import compute_delta

    delta = compute_delta(current, rules, source=source)
    catalog.apply_rules(source, version["id"], version["observed_at"], current, rules, delta.rekeys)
    events = stamp(delta.events, version)
    catalog.add_events(events)
    catalog.set_version(version["id"], status=status, held_rules=None)
    return events


def _duplicate(catalog, source: str, src, last, at: str, g) -> IngestResult:
    """Same bytes as the last version. After a healthy one, a failure streak is over; after an
    anomaly, the K-th identical observation says again that the source is still anomalous."""
    from docwatch.catalog import ACCEPTED_STATUSES

    if last["status"] in ACCEPTED_STATUSES:
        catalog.set_streak(source, since=None, reason=None, seen=at)
        return IngestResult(last["id"], "duplicate", [], None, last.get("seq"))
    events: list[ChangeEvent] = []
    if last["status"] == "anomaly":
        repeats = (last.get("repeats") or 0) + 1
        catalog.set_version(last["id"], repeats=repeats)
        if repeats + 1 == max(2, g.failure_cycles):
            events = stamp([_note(source, "anomaly", "high", "still-anomalous",
                                   f"{source}: still {last['reason']} after {repeats + 1} identical observations; "
                                   "no removals inferred, current rules kept (docwatch accept "
                                   f"{source} --version {last.get('seq')} if the page really changed)")], last)
            events[0].detected_at = at
            catalog.add_events(events)
    return IngestResult(last["id"], "duplicate", events, last.get("reason"), last.get("seq"))


def _form_switch(catalog, obs: Observation, accepted, at: str, version_kw: dict, g) -> IngestResult:
    """A version read from another form than the last accepted one (see the module docstring)."""
    from docwatch.diff import compute_delta
    from docwatch.guard import decide

    source = obs.source
    earlier = [v for v in catalog.versions_since(source, accepted["id"], "form-switch") if v.get("form") == obs.form]
    if not earlier:
        current = catalog.current_rules(source)
        delta = compute_delta(current, obs.rules, source=source)
        agree = delta.same + sum(1 for p in delta.pairs if not p.events)
        version = catalog.add_version(source, at, status="form-switch", kind="form-switch", held=obs.rules,
                                      reason=f"preferred form {accepted['form']} unavailable", **version_kw)
        summary = (f"{source}: read from its {obs.form} form instead of {accepted['form']}; {agree} of "
                   f"{len(current)} current rules agree, {len(delta.removed)} not found and {len(delta.added)} new in "
                   f"the {obs.form} form (parity check only: no removals inferred, current rules kept)")
        events = stamp([_note(source, "form-switch", "info", "form-switch", summary)], version)
        catalog.add_events(events)
        return IngestResult(version["id"], "form-switch", events, summary, version["seq"])
    base_version = earlier[-1]
    base = catalog.held_rules(base_version) or []
    delta = compute_delta(base, obs.rules, source=source)
    decision = decide(_baseline(base_version), obs.doc, obs.rules, delta, g)
    if decision.action == "hold":
        version = catalog.add_version(source, at, status="anomaly", reason=decision.reason, kind=decision.kind,
                                      held=obs.rules, **version_kw)
        return IngestResult(version["id"], "anomaly", [], decision.reason, version["seq"])
    version = catalog.add_version(source, at, status="form-switch", kind="form-switch", held=obs.rules, **version_kw)
    events = stamp(delta.events, version)
    catalog.add_events(events)
    return IngestResult(version["id"], "form-switch", events, None, version["seq"])


def _event_identity(e: ChangeEvent) -> tuple:
    return (e.kind, (e.party or "").lower(), e.direction, e.field, e.impact, json.dumps(e.new, sort_keys=True, default=str))


def _not_reported_before(catalog, source: str, accepted, events: list[ChangeEvent]) -> list[ChangeEvent]:
    """Drop events a fallback-form version already reported since the last accepted version."""
    if accepted is None:
        return events
    switched = catalog.versions_since(source, accepted["id"], "form-switch")
    if not switched:
        return events
    seen = {_event_identity(e) for v in switched for e in catalog.events(source=source, version_id=v["id"])}
    return [e for e in events if _event_identity(e) not in seen]


# -- accept, reparse ---------------------------------------------------------------------------------

def accept(catalog, source: str, seq: int | None = None) -> IngestResult:
    """Accept a stored anomalous version (the latest, or number ``seq``) at its own date."""
    from docwatch.errors import UsageError

    with catalog.write():
        versions = catalog.versions(source)
        if not versions:
            raise UsageError(f"unknown source {source!r}")
        if seq is None:
            target = next((v for v in reversed(versions) if v["status"] == "anomaly"), None)
            if target is None:
                raise UsageError(f"{source}: no anomalous version to accept")
        else:
            target = next((v for v in versions if v.get("seq") == seq), None)
            if target is None:
                raise UsageError(f"{source}: no version {seq} (see `docwatch versions {source}`)")
            if target["status"] != "anomaly":
                raise UsageError(f"{source}: version {seq} is {target['status']}, not an anomaly; nothing to accept")
        return _accept(catalog, source, target)


def _accept(catalog, source: str, target: dict[str, Any]) -> IngestResult:
    from docwatch.catalog import ACCEPTED_STATUSES
    from docwatch.errors import UsageError

    later = [v for v in catalog.versions_since(source, target["id"]) if v["status"] in ACCEPTED_STATUSES]
    if later:
        raise UsageError(f"{source}: version {target.get('seq')} is followed by accepted version "
                         f"{later[0].get('seq')}; accepting it now would rewrite history")
    held = catalog.held_rules(target)
    if held is None:
        raise UsageError(f"{source}: version {target.get('seq')} kept no rules to accept; re-ingest its file with "
                         "`docwatch ingest --accept`")
    current = catalog.current_rules(source)
    first = catalog.last_accepted_version(source) is None
    if first:
        catalog.apply_rules(source, target["id"], target["observed_at"], [], held)
        catalog.set_version(target["id"], status="accepted", held_rules=None)
        events: list[ChangeEvent] = []
    else:
        events = _apply_version(catalog, source, target, current, held, "accepted")
    catalog.set_streak(source, since=None, reason=None, seen=target["observed_at"])
    return IngestResult(target["id"], "accepted", events, None, target.get("seq"))


def reparse(catalog, source: str, store) -> list[ChangeEvent]:
    """Re-extract every stored version of ``source`` with the current parser and rewrite its rule
    history; the difference in current rules is recorded as ``parser`` events (never alerted).
    Versions whose snapshot is gone keep the rules stored for them."""
    from docwatch.catalog import ACCEPTED_STATUSES
    from docwatch.diff import compute_delta

    with catalog.write():
        before = catalog.current_rules(source)
        versions = catalog.versions(source)
        plan: list[tuple[dict[str, Any], list[Rule]]] = []
        for v in versions:
            if v["status"] not in ACCEPTED_STATUSES:
                continue
            rules = None
            bundle = load_bundle(store, v["snapshot_id"]) if v.get("snapshot_id") and store is not None else None
            if bundle is not None:
                rules = extract_bundle(bundle)[1]
            if rules is None:
                rules = catalog.rules_at_version(source, v["id"])
            plan.append((v, rules))
        catalog.drop_rule_history(source)
        prev: list[Rule] = []
        for v, rules in plan:
            delta = compute_delta(prev, rules, source=source)
            catalog.apply_rules(source, v["id"], v["observed_at"], prev, rules, delta.rekeys)
            catalog.set_version(v["id"], parser_version=parser_version(), rule_count=len(rules))
            prev = rules
        after = catalog.current_rules(source)
        events = compute_delta(before, after, source=source).events
        last = plan[-1][0] if plan else None
        for e in events:
            e.kind, e.severity = "parser", "info"
            e.summary = f"parser: {e.summary}"
        if last is not None:
            stamp(events, last)
            from docwatch.catalog import now_iso

            for e in events:
                e.detected_at = now_iso()
        catalog.add_events(events)
        return events
