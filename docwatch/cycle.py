"""One scrape cycle: orchestration only.

fetch (:mod:`docwatch.sourcefetch`) → extract (:mod:`docwatch.extraction`, in a process
pool while fetching continues) → :func:`docwatch.pipeline.ingest` → alerts, with the crawl
state (:mod:`docwatch.crawlstate`) written once at the end of the cycle.

The common case is cheap: a source whose bytes match its last version (a 304 answered from
the snapshot store, or identical bytes) is neither parsed nor written to the catalog.

No false alarms: a source that cannot be fetched completely changes nothing in the catalog.
One failed cycle is a ``fetch-failed`` warning; only ``guard.failure_cycles`` failed cycles in
a row make an anomaly event. Sources not done by ``fetch.cycle_timeout`` are failed with that
reason. Scrape and offline replay share :func:`process_bundle`'s path through the pipeline.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from docwatch import fetch as F
from docwatch.config import Config, SourceConfig
from docwatch.crawlstate import CrawlState, now_iso
from docwatch.extraction import extract_batch, extract_parts
from docwatch.pipeline import Observation, ingest, store_bundle
from docwatch.snapshots import CorruptSnapshot, SnapshotStore
from docwatch.sourcefetch import Bundle, FormFailed, SourceFetcher

log = logging.getLogger(__name__)

# Bundles handed to extraction in this process (``count``) and of those, sent to a worker process
# (``pooled``): a no-change cycle adds none.
EXTRACTIONS = {"count": 0, "pooled": 0}
DEADLINE_GRACE = 1.0  # seconds after fetch.cycle_timeout before unfinished sources are cancelled
BATCH_CHARS = 32768  # characters of documents sent to a parse worker in one round trip (see Extractor)
BATCH_WAIT = 0.005  # seconds a document waits for others to share its round trip
WORKER_MODULES = ("docwatch.extraction", "docwatch.normalize", "docwatch.coverage", "parsers")  # what workers import


@dataclass
class SourceOutcome:
    source: str
    status: str  # first | changed | unchanged | duplicate | anomaly | failed | skipped
    events: int = 0
    rules: int | None = None
    error: str | None = None
    form: str | None = None
    degraded: str | None = None  # the preferred form failed; this form was ingested instead

    @property
    def fetched(self) -> bool:
        return self.status not in ("failed", "skipped")


@dataclass
class CycleReport:
    outcomes: list[SourceOutcome] = field(default_factory=list)
    started_at: str = ""
    seconds: float = 0.0
    delivery: Any = None
    unit: str = "sources"
    extras: list = field(default_factory=list)  # export files written after the cycle

    def count(self, *statuses: str) -> int:
        return sum(1 for o in self.outcomes if o.status in statuses)

    @property
    def fetched(self) -> int:
        return sum(1 for o in self.outcomes if o.fetched)

    @property
    def changed(self) -> int:
        return self.count("first", "changed")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged", "duplicate", "form-switch")

    @property
    def failed(self) -> int:
        return self.count("failed", "anomaly")

    @property
    def all_failed(self) -> bool:
        considered = [o for o in self.outcomes if o.status != "skipped"]
        return bool(considered) and all(o.status == "failed" for o in considered)

    def summary(self) -> str:
        anomalies = self.count("anomaly")
        extra = f" ({anomalies} suspicious)" if anomalies else ""
        degraded = sum(1 for o in self.outcomes if getattr(o, "degraded", None))
        deg = f", {degraded} degraded" if degraded else ""
        events = sum(o.events for o in self.outcomes)
        skipped = self.count("skipped")
        skip = f", {skipped} already in the catalog" if skipped else ""
        return (f"{len(self.outcomes)} {self.unit}: {self.fetched} fetched, {self.unchanged} unchanged, "
                f"{self.changed} changed, {self.failed} failed{extra}{deg}{skip}; {events} change events "
                f"in {self.seconds:.1f}s")


# -- extraction ----------------------------------------------------------------------------------

def _bundle_args(b: Bundle) -> tuple:
    return (b.text, b.path, b.form, b.includes, b.meta, b.diagnostics)


class Extractor:
    """Parse + normalize off the event loop: in a process pool of ``workers``, or in one thread when
    ``workers`` <= 1 (identical results). Documents go to the workers in batches (up to
    :data:`BATCH_CHARS` characters, or what arrived within :data:`BATCH_WAIT` seconds): one round trip
    (pickling both ways, the pool's feeder and result threads) costs the event loop's process about
    a millisecond, as much as parsing a small page, so 500 small pages sent one by one kept the loop
    as busy as parsing them itself. The pool starts on the first document, so a no-change cycle
    starts no processes, and it starts in a thread: starting a worker waits for the fork server to
    import the extraction modules, which on the event loop stalled every fetch for a second."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._starter: ThreadPoolExecutor | None = None
        self._starting: Future | None = None  # the pool, once its workers are spawned
        self._batch: list[tuple[tuple, asyncio.Future]] = []
        self._batch_chars = 0
        self._timer: asyncio.TimerHandle | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        """A pool with every worker spawned (blocking: runs in the starter thread)."""
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":  # imported once by the server, not by every worker
            ctx.set_forkserver_preload(list(WORKER_MODULES))
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        for _ in range(self.workers):  # each submit spawns a worker until all are up; later ones never block
            pool.submit(int)
        return pool

    async def _started_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self._starting is None:
                self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="docwatch-pool-start")
                self._starting = self._starter.submit(self._new_pool)
            self._pool = await asyncio.shield(asyncio.wrap_future(self._starting))
        return self._pool

    async def extract(self, b: Bundle):
        EXTRACTIONS["count"] += 1
        if self.workers > 1:
            try:
                await self._started_pool()
                EXTRACTIONS["pooled"] += 1
                return await self._queued(_bundle_args(b), len(b.text) + sum(map(len, b.includes.values())))
            except (BrokenProcessPool, RuntimeError, OSError) as exc:
                # no worker processes here (e.g. a __main__ without the spawn guard, no /dev/shm):
                # the same extraction in a thread, for the rest of the cycle
                log.warning("parse workers unavailable (%s: %s); parsing in a thread", type(exc).__name__, exc)
                self.close()
                self.workers = 1
        return await asyncio.to_thread(extract_parts, *_bundle_args(b))

    def _queued(self, args: tuple, chars: int) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._batch.append((args, fut))
        self._batch_chars += chars
        if self._batch_chars >= BATCH_CHARS:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(BATCH_WAIT, self._flush)
        return fut

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch, self._batch_chars = self._batch, [], 0
        if not batch:
            return
        try:
            done = asyncio.wrap_future(self._pool.submit(extract_batch, [args for args, _ in batch]))
        except Exception as exc:  # a broken pool: every waiting source hears it (and falls back)
            for _, fut in batch:
                fut.done() or fut.set_exception(exc)
            return
        done.add_done_callback(lambda d: _hand_out(d, [fut for _, fut in batch]))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        starting, self._starting, self._pool = self._starting, None, None
        if self._starter is not None:
            self._starter.shutdown(wait=True)  # a pool still starting is waited for, then shut down
            self._starter = None
        if starting is not None and starting.exception() is None:
            starting.result().shutdown(wait=True, cancel_futures=True)


def _hand_out(done: asyncio.Future, futs: list[asyncio.Future]) -> None:
    """Each source's result (or exception) from one batch."""
    if done.cancelled() or done.exception() is not None:
        exc = asyncio.CancelledError() if done.cancelled() else done.exception()
        for fut in futs:
            fut.done() or fut.set_exception(exc)
        return
    for fut, (ok, value) in zip(futs, done.result()):
        if not fut.done():
            fut.set_result(value) if ok else fut.set_exception(value)


# -- processing: shared by scrape and replay -----------------------------------------------------

def _coverage_dropped(before: dict[str, int] | None, after: dict[str, int]) -> str | None:
    """A reason when this version accounts for fewer of its page's tokens than the last one."""
    if not before or "seen" not in before or "seen" not in after:
        return None
    ratio = lambda c: 1.0 if not c["seen"] else (c.get("in_rules", 0) + c.get("set_aside", 0)) / c["seen"]  # noqa: E731
    if after.get("unparsed", 0) > before.get("unparsed", 0) or ratio(after) < ratio(before) - 1e-9:
        return (f"{after.get('unparsed', 0)} unparsed of {after['seen']} tokens (was {before.get('unparsed', 0)} "
                f"of {before['seen']}); coverage {ratio(before):.0%} → {ratio(after):.0%}")
    return None


def needs_bundle(b: Bundle) -> bool:
    """A page with includes or page meta is stored as a bundle (page, includes, meta), so a later
    parser upgrade can re-extract it as it was; a lone page is its own snapshot."""
    return bool(b.includes or any(b.meta.values()))


def bundle_snapshot(store: SnapshotStore, b: Bundle) -> str:
    """Store ``b`` as a bundle; its snapshot id. Blocking (fsyncs): the cycle runs it in a thread."""
    return store_bundle(store, text=b.text, form=b.form, path=b.path, includes=b.includes, meta=b.meta)


def ingest_extracted(catalog, cfg: Config, state: CrawlState, b: Bundle, doc, rules, cov: dict[str, int],
                     store: SnapshotStore | None = None) -> SourceOutcome:
    """Hand one parsed bundle to the pipeline; record the outcome and coverage in the state.
    ``store`` lets the pipeline re-extract stored versions after a parser upgrade."""
    obs = Observation(b.source, doc, rules, observed_at=b.observed_at, content_hash=b.content_hash,
                      snapshot_id=b.snapshot_id, page_url=b.page_url, form=b.form)
    res = ingest(catalog, obs, guard=cfg.guard, store=store)
    anomaly = res.status == "anomaly"  # the pipeline logged why
    prev = state.source(b.source)
    dropped = _coverage_dropped(prev.coverage if prev else None, cov)
    if dropped:
        log.warning("%s: coverage dropped since the last version: %s", b.source, dropped)
    state.source_done(b.source, res.status, res.reason if anomaly else None, b.observed_at or now_iso(),
                      form=b.form, degraded=b.degraded, fail_streak=0, coverage=cov)
    return SourceOutcome(b.source, res.status, events=len(res.events), rules=len(rules),
                         error=res.reason if anomaly else None, form=b.form, degraded=b.degraded)


def open_streaks(catalog) -> set[str]:
    """Sources with an open anomaly streak (one read per cycle, not one per source)."""
    return {r[0] for r in catalog.conn.execute("SELECT name FROM sources WHERE anomaly_since IS NOT NULL")}


def unchanged_bundle(catalog, cfg: Config, state: CrawlState, b: Bundle, *, last: dict | None = None,
                     streaks: set[str] | None = None) -> SourceOutcome | None:
    """Same bytes as the source's last version (``last``, read if not given): no parse. The
    catalog is written only when that version is not a healthy one or an anomaly streak is
    open: the pipeline then ends the streak, or counts the repeat of an anomalous version."""
    from docwatch.catalog import ACCEPTED_STATUSES

    if last is None and b.content_hash:
        last = catalog.last_version(b.source)
    if not last or not b.content_hash or last["content_hash"] != b.content_hash:
        return None
    status, reason = "duplicate", None
    streak = b.source in (open_streaks(catalog) if streaks is None else streaks)
    if last["status"] not in ACCEPTED_STATUSES or streak:
        res = ingest(catalog, Observation(b.source, None, [], observed_at=b.observed_at, content_hash=b.content_hash,
                                          snapshot_id=b.snapshot_id, page_url=b.page_url, form=b.form),
                     guard=cfg.guard)
        status = res.status if res.status == "duplicate" else "unchanged"
        if last["status"] == "anomaly":  # the same suspicious bytes again: still anomalous
            status, reason = "anomaly", res.reason or last.get("reason")
    state.source_done(b.source, status, reason, b.observed_at or now_iso(), form=b.form, degraded=b.degraded,
                      fail_streak=0)
    return SourceOutcome(b.source, status, error=reason, form=b.form, degraded=b.degraded)


def process_bundle(catalog, cfg: Config, state: CrawlState, b: Bundle) -> SourceOutcome:
    """Synchronous path (replay): skip identical content, else extract and ingest."""
    out = unchanged_bundle(catalog, cfg, state, b)
    if out is not None:
        return out
    EXTRACTIONS["count"] += 1
    return ingest_extracted(catalog, cfg, state, b, *extract_parts(*_bundle_args(b)))


def fetch_failed(catalog, cfg: Config, state: CrawlState, source: str, reason: str, page_url: str | None,
                 at: str, *, interrupted: bool = False) -> SourceOutcome:
    """Nothing complete could be fetched. A warning until it has failed ``guard.failure_cycles``
    cycles in a row; then one anomaly event for the streak (the catalog keeps it to one).
    ``interrupted`` (shutdown cancelled the fetches): says nothing about the page, so the
    streak is left as it was."""
    prev = state.source(source)
    if interrupted:
        log.info("%s: not fetched: %s", source, reason)
        state.source_done(source, "failed", reason, at)
        return SourceOutcome(source, "failed", error=reason)
    streak = (prev.fail_streak if prev else 0) + 1
    needed = max(1, getattr(cfg.guard, "failure_cycles", 3))
    if streak >= needed:
        catalog.record_anomaly(source, f"fetch failed {streak} cycle(s) in a row: {reason}", observed_at=at,
                               page_url=page_url)
    else:
        log.warning("%s: fetch-failed (cycle %d of %d before an anomaly): %s", source, streak, needed, reason)
    state.source_done(source, "failed", reason, at, fail_streak=streak)
    return SourceOutcome(source, "failed", error=reason)


# -- the cycle ---------------------------------------------------------------------------------

async def run_cycle_async(cfg: Config, catalog, *, sources: list[SourceConfig] | None = None,
                          on_done: Callable[[SourceOutcome], None] | None = None,
                          deliver: bool = True) -> CycleReport:
    started = time.monotonic()
    report = CycleReport(started_at=now_iso())
    state = CrawlState(catalog.conn)
    store = SnapshotStore(cfg.snapshot_dir)
    sources = cfg.sources if sources is None else sources
    if cfg.channels:  # a channel added to config.toml starts from now, this cycle's events included
        from docwatch.alerts.outbox import start_channels

        start_channels(catalog, cfg.channels)
    # a pool pays off only when there is more than one page to parse
    extractor = Extractor(cfg.fetch.parse_workers if len(sources) > 1 else 1)
    timeout = cfg.fetch.cycle_timeout
    try:
        # every fetch ends by the cycle deadline; what is still running just after it is cancelled
        async with F.Fetcher(cfg.fetch, deadline=time.monotonic() + timeout) as fetcher:
            sf = SourceFetcher(fetcher, state, store, cfg)
            streaks = open_streaks(catalog)

            async def one(src: SourceConfig) -> SourceOutcome:
                try:
                    last = catalog.last_version(src.name)
                    b = await sf.bundle(src, last_hash=last["content_hash"] if last else None)
                except FormFailed as exc:
                    return fetch_failed(catalog, cfg, state, src.name, str(exc), src.url, now_iso(),
                                        interrupted=bool(getattr(fetcher, "cancelled", None)))
                try:
                    out = unchanged_bundle(catalog, cfg, state, b, last=last, streaks=streaks)
                    if out is None:
                        if needs_bundle(b):  # stored while it is parsed
                            parts, b.snapshot_id = await asyncio.gather(extractor.extract(b),
                                                                        asyncio.to_thread(bundle_snapshot, store, b))
                        else:
                            parts = await extractor.extract(b)
                        out = ingest_extracted(catalog, cfg, state, b, *parts, store)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a parser/catalog bug must not take the other sources down
                    log.exception("%s: processing failed", src.name)
                    reason = f"processing failed: {type(exc).__name__}: {exc}"
                    state.source_done(src.name, "failed", reason, now_iso())
                    return SourceOutcome(src.name, "failed", error=reason, form=b.form)
                return out

            async def tracked(src: SourceConfig) -> SourceOutcome:
                out = await one(src)
                if on_done:
                    on_done(out)
                return out

            tasks = [asyncio.create_task(tracked(s)) for s in sources]
            tags = asyncio.create_task(_servicetags(cfg, catalog, fetcher, store))  # fetched alongside the pages
            _done, pending = await asyncio.wait([*tasks, tags], timeout=timeout + DEADLINE_GRACE)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for src, t in zip(sources, tasks):
                if t in pending or t.cancelled():
                    reason = f"cycle deadline (fetch.cycle_timeout = {timeout:g} s) reached before this source finished"
                    out = fetch_failed(catalog, cfg, state, src.name, reason, src.url, now_iso())
                    if on_done:
                        on_done(out)
                else:
                    out = t.result()
                report.outcomes.append(out)
            if tags in pending or tags.cancelled():
                log.warning("service-tag files not done by the cycle deadline (fetch.cycle_timeout = %g s)", timeout)
            else:
                for out in tags.result():  # same shape as a page's outcome, same change stream
                    report.outcomes.append(out)
                    if on_done:
                        on_done(out)
    finally:
        extractor.close()
        state.flush(prune_days=cfg.fetch.fetch_log_days)
    if report.changed:
        report.extras.extend(_exports(cfg, catalog))
    if deliver:
        report.delivery = deliver_alerts(catalog, cfg)
    report.seconds = time.monotonic() - started
    return report


async def _servicetags(cfg: Config, catalog, fetcher, store) -> list:
    """The ``[[servicetags]]`` files (issue 11), each cycle: one outcome per entry."""
    if not getattr(cfg, "servicetags", None):
        return []
    from docwatch.servicetags_fetch import run_servicetags

    try:
        return list(await run_servicetags(cfg, catalog, fetcher, store) or [])
    except Exception:  # a tag-file problem must not undo the page sources' cycle
        log.exception("service-tag fetch failed")
        return []


def _exports(cfg: Config, catalog) -> list:
    """The ``[[exports]]`` files (issue 12), rewritten after a cycle that changed something."""
    if not getattr(cfg, "exports", None):
        return []
    from docwatch.exports import write_configured_exports

    try:
        return list(write_configured_exports(cfg, catalog) or [])
    except Exception:  # a stale export is logged; it must not fail the cycle
        log.exception("writing the configured exports failed")
        return []


def run_cycle(cfg: Config, catalog, **kw) -> CycleReport:
    return asyncio.run(run_cycle_async(cfg, catalog, **kw))


def deliver_alerts(catalog, cfg: Config):
    """Send what the configured channels have pending; none configured: nothing to do (not even
    the alert modules and an HTTP client, whose TLS context alone costs a no-change cycle 0.1 s)."""
    if not cfg.channels:
        return None
    from docwatch.alerts import deliver_pending

    try:
        return deliver_pending(catalog, cfg.channels)
    except Exception as exc:  # alert trouble must not undo or fail a completed ingest
        log.error("alert delivery failed: %s", exc)
        return None


# -- offline replay ----------------------------------------------------------------------------

def replay(cfg: Config, catalog, snap_dir: str | Path, *, on_done=None, deliver: bool = True) -> CycleReport:
    """Run recorded snapshots (``<snap_dir>/recorded.json``) through the cycle's processing, in
    observed_at order. Snapshots not newer than what the catalog already holds for their
    source are skipped, so replaying twice adds nothing."""
    from docwatch.catalog import parse_time
    from docwatch.snapshots import load_manifest, read_recorded

    started = time.monotonic()
    report = CycleReport(started_at=now_iso(), unit="snapshots")
    state = CrawlState(catalog.conn)
    try:
        for rec in load_manifest(snap_dir):
            last = catalog.last_version(rec.source)
            at = parse_time(rec.observed_at)
            if last and at <= last["observed_at"]:
                out = SourceOutcome(rec.source, "skipped", form=rec.form)
            else:
                try:
                    data = read_recorded(snap_dir, rec)
                except CorruptSnapshot as exc:
                    catalog.record_anomaly(rec.source, str(exc), observed_at=at, page_url=rec.page_url or rec.url)
                    state.source_done(rec.source, "failed", str(exc), at)
                    out = SourceOutcome(rec.source, "failed", error=str(exc))
                else:
                    text, diags = F.decode_body(data, None)
                    b = Bundle(rec.source, rec.page_url or rec.url, rec.form, text,
                               path=F.url_path(rec.url) if rec.form == "markdown" else None,
                               content_hash=rec.sha256, snapshot_id=rec.sha256, observed_at=at, diagnostics=diags)
                    out = process_bundle(catalog, cfg, state, b)
            report.outcomes.append(out)
            if on_done:
                on_done(out)
    finally:
        state.flush()
    if report.changed:  # a bulk load: leave the catalog compact (full-text merged, VACUUMed)
        catalog.compact()
    if deliver:
        report.delivery = deliver_alerts(catalog, cfg)
    report.seconds = time.monotonic() - started
    return report
