"""The scheduler (APScheduler 3.x) driving the scrape cycle, and the catalog lock.

One writer per catalog: :class:`CatalogLock` holds ``fcntl.flock`` on ``<catalog>.lock``
for as long as a daemon (or a one-off scrape/replay) runs; a second one refuses at once
with a message naming the holder. SIGTERM/SIGINT stop the scheduler cleanly: the running
cycle gets :data:`SHUTDOWN_GRACE_SECONDS` to finish, then its in-flight fetches are
cancelled (they end as failed fetches, never as removals; each ingest is one transaction,
so nothing is ever half-written) and no new cycle starts. Failed alert deliveries are
retried by their own scheduler job (``deliveries``), every few seconds as their backoff
allows, independent of the scrape schedule. The next run time and daemon state live in the
catalog (``daemon_state``) so ``docwatch status`` can show them.
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from docwatch.config import Config
from docwatch.errors import DocwatchError
from docwatch.schedule import make_trigger

log = logging.getLogger(__name__)


SHUTDOWN_GRACE_SECONDS = 5.0  # a running cycle's time to finish after SIGTERM before fetches are cancelled
DELIVERY_POLL_MAX_SECONDS = 60.0  # the delivery job runs at least this often when channels exist


class LockHeld(DocwatchError):
    """Another docwatch process is writing to this catalog (exit code 1)."""


class LockUnavailable(DocwatchError):
    """The lock file cannot be created (read-only or missing directory) (exit code 1)."""


class CatalogLock:
    def __init__(self, catalog_path: str | Path, what: str = "daemon"):
        self.path = Path(f"{catalog_path}.lock")
        self.what = what
        self._fh = None

    def acquire(self) -> "CatalogLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+")
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise LockUnavailable(
                f"cannot create the catalog lock file {self.path} ({why}); the {self.what} needs a writable "
                f"directory beside the catalog - check its permissions or point --db elsewhere") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown process"
            fh.close()
            raise LockHeld(
                f"another docwatch is already running on this catalog ({holder}); lock file {self.path} "
                f"is held - stop it first or use another --db") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{self.what} pid {os.getpid()} on {socket.gethostname()} since "
                 f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            try:
                self._fh.seek(0)
                self._fh.truncate()
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            finally:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> "CatalogLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


class Daemon:
    """Runs cycles on the configured schedule until stopped."""

    def __init__(self, cfg: Config, db_path: str | Path, *, sources=None):
        self.cfg, self.db_path, self.sources = cfg, Path(db_path), sources
        self.stop_event = threading.Event()
        self.signal: int | None = None
        self.last_report = None
        self.cycles = 0
        self.deliveries = 0  # runs of the delivery job
        self.scheduler = None
        self._cycle_running = threading.Event()

    def run_cycle(self) -> None:
        """The job: one full cycle with its own catalog connection (APScheduler thread)."""
        from docwatch.catalog import Catalog
        from docwatch.crawlstate import CrawlState, now_iso
        from docwatch.cycle import run_cycle

        self._cycle_running.set()
        catalog = Catalog(self.db_path)
        try:
            state = CrawlState(catalog.db)
            state.set_daemon(cycle_started=now_iso(), running="yes")
            from docwatch.deadline_store import emit_reminders  # due deadline reminders: this cycle's outbox run sends them
            emit_reminders(catalog, self.cfg)
            report = run_cycle(self.cfg, catalog, sources=self.sources)
            self.last_report = report
            self.cycles += 1
            state.set_daemon(last_cycle=report.started_at, last_cycle_summary=report.summary(),
                             cycle_finished=now_iso(), running="no")
            log.info("cycle done: %s", report.summary())
        except Exception:
            log.exception("cycle failed")
        finally:
            catalog.close()
            self._cycle_running.clear()

    def delivery_interval(self) -> float | None:
        """Seconds between delivery-job runs: the shortest retry base of the enabled channels
        (a retry is never later than its backoff by more than this), 1..60 s; None: no channels."""
        bases = [float(ch.retry_base_seconds) for ch in self.cfg.channels if ch.enabled]
        if not bases:
            return None
        return min(DELIVERY_POLL_MAX_SECONDS, max(1.0, min(bases)))

    def run_deliveries(self) -> None:
        """The delivery job: send whatever is due (retries after their backoff, new events),
        independent of scrape cycles. Claims keep it from racing the cycle's own delivery."""
        from docwatch.alerts.outbox import deliver_pending, db_of

        if not self.db_path.exists():
            return
        db = db_of(self.db_path)
        try:
            if "change_events" not in db.table_names():
                return
            report = deliver_pending(db, self.cfg.channels)
            self.deliveries += 1
            if report.total("sent"):
                log.info("deliveries: %s", report)
        except Exception:
            log.exception("delivery run failed")
        finally:
            db.conn.close()

    def _next_run(self) -> datetime | None:
        """Asked from the main thread only (the scheduler's locks are not re-entrant from jobs)."""
        if self.scheduler is None:
            return None
        job = self.scheduler.get_job("cycle")
        return job.next_run_time if job else None

    def _set_state(self, **values) -> None:
        from docwatch.catalog import Catalog
        from docwatch.crawlstate import CrawlState

        catalog = Catalog(self.db_path)
        try:
            CrawlState(catalog.db).set_daemon(**values)
        finally:
            catalog.close()

    def _stop_running_cycle(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Give a running cycle ``grace`` seconds, then cancel its in-flight fetches (a
        trickling server must not hold the shutdown)."""
        from docwatch.fetch import cancel_all

        if self._cycle_running.is_set():
            end = time.monotonic() + grace
            while self._cycle_running.is_set() and time.monotonic() < end:
                time.sleep(0.05)
        if self._cycle_running.is_set():
            n = cancel_all("daemon shutting down")
            log.warning("cycle still running %.0fs after the stop request: cancelled in-flight fetches (%d fetcher(s))",
                        grace, n)

    def stop(self, signum=None, _frame=None) -> None:
        """Signal handler: only sets flags (logging here could deadlock on its lock)."""
        self.signal = signum
        self.stop_event.set()

    def serve(self, *, once: bool = False) -> int:
        """Hold the lock and run until a signal, or one cycle with ``once`` (then 1 if every
        source failed, like ``scrape``)."""
        from apscheduler.schedulers.background import BackgroundScheduler

        root = logging.getLogger("docwatch")
        if root.getEffectiveLevel() > logging.INFO:  # a daemon reports its cycles (INFO)
            root.setLevel(logging.INFO)
        with CatalogLock(self.db_path, "daemon"):
            started = datetime.now(timezone.utc)
            self._set_state(pid=os.getpid(), started_at=_iso(started), stopped_at=None, running="no")
            if once:
                self.run_cycle()
                self._set_state(stopped_at=_iso(datetime.now(timezone.utc)), pid=None, next_run=None)
                report = self.last_report
                return 1 if report is None or report.all_failed else 0
            old = {s: signal.signal(s, self.stop) for s in (signal.SIGTERM, signal.SIGINT)}
            self.scheduler = BackgroundScheduler(timezone=timezone.utc, job_defaults={
                "coalesce": True, "max_instances": 1,
                "misfire_grace_time": self.cfg.schedule.misfire_grace_seconds or None})
            # the first cycle runs right away; then the trigger (with jitter) takes over
            self.scheduler.add_job(self.run_cycle, make_trigger(self.cfg.schedule), id="cycle",
                                   next_run_time=started + timedelta(seconds=0.1))
            every = self.delivery_interval()
            if every is not None:
                from apscheduler.triggers.interval import IntervalTrigger

                self.scheduler.add_job(self.run_deliveries, IntervalTrigger(seconds=every, timezone=timezone.utc),
                                       id="deliveries", misfire_grace_time=None)
            self.scheduler.start()
            log.info("daemon started (pid %d) on %s", os.getpid(), self.db_path)
            shown = None
            try:
                while not self.stop_event.wait(0.5):
                    nxt = _iso(self._next_run())
                    if nxt != shown:  # keep `docwatch status` current
                        self._set_state(next_run=nxt)
                        log.info("next run %s", nxt)
                        shown = nxt
            finally:
                if self.signal is not None:
                    log.info("received %s: finishing the running cycle, then stopping", signal.Signals(self.signal).name)
                self.scheduler.pause()  # no new cycle or delivery run starts
                self._stop_running_cycle()
                self.scheduler.shutdown(wait=True)  # waits for the running cycle to finish
                for s, h in old.items():
                    signal.signal(s, h)
                self._set_state(stopped_at=_iso(datetime.now(timezone.utc)), pid=None, running="no", next_run=None)
                log.info("daemon stopped after %d cycle(s)", self.cycles)
        return 0
