"""Schedule triggers (docwatch/schedule.py): crontab weekdays as crontab means them, interval and
jitter from [schedule], bad expressions as ValueError (the config turns it into a keyed error)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from docwatch.config import ScheduleConfig
from docwatch.schedule import cron_fields, cron_trigger, make_trigger

T0 = datetime(2026, 3, 18, 12, 0, tzinfo=timezone.utc)  # a Wednesday


@pytest.mark.parametrize("dow, weekday", [("0", 6), ("7", 6), ("1", 0), ("6", 5)])
def test_numeric_weekdays_mean_what_crontab_means(dow, weekday):
    fire = cron_trigger(f"0 6 * * {dow}").get_next_fire_time(None, T0)
    assert fire.weekday() == weekday and (fire.hour, fire.minute) == (6, 0) and fire.tzinfo is not None


def test_ranges_and_every_day():
    assert cron_fields("*/15 1-5 * * 1-5")["day_of_week"] == "mon-fri"
    assert cron_fields("0 0 * * 0-6")["day_of_week"] == "*"


@pytest.mark.parametrize("expr", ["every six hours", "0 6 * *", "0 25 * * *", "61 * * * *"])
def test_bad_expressions_raise_value_error(expr):
    with pytest.raises(ValueError):
        cron_trigger(expr)


def test_make_trigger_prefers_cron_and_keeps_jitter():
    cron = make_trigger(ScheduleConfig(cron="30 2 * * *", jitter_seconds=0))
    assert cron.get_next_fire_time(None, T0) == datetime(2026, 3, 19, 2, 30, tzinfo=timezone.utc)
    every = make_trigger(ScheduleConfig(interval_minutes=90, jitter_seconds=120))
    assert every.interval.total_seconds() == 5400 and every.jitter == 120
