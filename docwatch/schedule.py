"""Schedule triggers: crontab expressions and intervals from ``[schedule]`` as APScheduler 3.x triggers.

Kept apart from the daemon so that validating a config (which checks ``cron``) never imports
the daemon or the scrape cycle; APScheduler itself is imported only when a trigger is built.
"""
from __future__ import annotations

import re
from datetime import timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - types only
    from docwatch.config import ScheduleConfig

_DOW = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def cron_fields(expr: str) -> dict:
    """Crontab fields for APScheduler 3.x, whose numeric weekdays start at Monday: numbers are
    translated to names so ``0``/``7`` mean Sunday as in crontab."""
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(parts)}")
    minute, hour, day, month, dow = parts
    dow = re.sub(r"\d+", lambda m: _DOW[int(m.group())] if int(m.group()) < 8 else m.group(), dow)
    if dow == "sun-sat":
        dow = "*"
    return dict(minute=minute, hour=hour, day=day, month=month, day_of_week=dow)


def cron_trigger(expr: str, jitter: int | None = None):
    """A UTC CronTrigger; raises ValueError on a bad expression."""
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger(**cron_fields(expr), timezone=timezone.utc, jitter=jitter)


def make_trigger(schedule: "ScheduleConfig"):
    """The trigger for ``[schedule]``: cron when set, else every ``interval_minutes``, plus jitter."""
    from apscheduler.triggers.interval import IntervalTrigger

    jitter = schedule.jitter_seconds or None
    if schedule.cron:
        return cron_trigger(schedule.cron, jitter)
    return IntervalTrigger(seconds=schedule.interval_minutes * 60, timezone=timezone.utc, jitter=jitter)
