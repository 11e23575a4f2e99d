"""The Numbers figures, computed from a real SQLite store filled with known calls and contacts."""

from __future__ import annotations

from datetime import date

import pytest

from desktop_app.core import stats
from desktop_app.core.app import open_context
from desktop_app.core.stats import Period, SourceRate
from tests.stats_builder import NEW_YORK, WEEK, ZONE, fill_week, utc


@pytest.fixture
def ctx(data_dir):
    context = open_context(data_dir, environ={})
    yield context
    context.db.close()


@pytest.fixture
def week(ctx):
    return fill_week(ctx)


def test_counts_calls_and_callers(ctx, week):
    numbers = stats.compute(ctx.db, WEEK, ZONE)
    assert numbers.missed_calls == 9
    assert numbers.callers == 7


def test_time_to_first_text(ctx, week):
    numbers = stats.compute(ctx.db, WEEK, ZONE)
    assert numbers.texted_calls == 5  # 10, 15, 20, 30 and 1200 s
    assert numbers.first_text_median_seconds == pytest.approx(20.0, abs=0.01)
    # Position 0.95 * 4 = 3.8, between 30 and 1200 s.
    assert numbers.first_text_p95_seconds == pytest.approx(30 + 0.8 * 1170, abs=0.01)


def test_same_day_contact(ctx, week):
    numbers = stats.compute(ctx.db, WEEK, ZONE)
    # All but the Monday 23:50 caller, whose text went out after local midnight.
    assert numbers.contacted_same_day == 6
    assert numbers.same_day_share == pytest.approx(6 / 7)


def test_reply_and_opt_out_rates(ctx, week):
    numbers = stats.compute(ctx.db, WEEK, ZONE)
    assert numbers.texted_callers == 6
    assert numbers.replied_callers == 2
    assert numbers.reply_rate == pytest.approx(2 / 6)
    assert numbers.opted_out_callers == 1
    assert numbers.opt_out_rate == pytest.approx(1 / 6)


def test_reply_rate_by_source(ctx, week):
    numbers = stats.compute(ctx.db, WEEK, ZONE)
    assert numbers.reply_by_source == [
        SourceRate("zillow", 2, 1),
        SourceRate("client_referral", 1, 1),
        SourceRate("google_ads", 1, 0),
        SourceRate("past_client", 1, 0),
        SourceRate("website", 1, 0),
    ]
    assert numbers.reply_by_source[0].rate == pytest.approx(0.5)


def test_hour_of_week_in_local_time(ctx, week):
    grid = stats.compute(ctx.db, WEEK, ZONE).hour_of_week
    expected = {(0, 9): 1, (0, 17): 1, (0, 23): 1, (1, 10): 1, (2, 10): 1, (2, 15): 1,
                (3, 11): 1, (4, 8): 1, (6, 3): 1}
    actual = {(day, hour): grid[day][hour] for day in range(7) for hour in range(24)
              if grid[day][hour]}
    assert actual == expected


def test_hour_of_week_other_zone(ctx, week):
    grid = stats.compute(ctx.db, WEEK, "America/Los_Angeles").hour_of_week
    assert grid[0][6] == 1  # 14:00 UTC on Monday is 6:00 in Los Angeles
    assert grid[0][20] == 1  # 04:50 UTC on Tuesday is still Monday there
    assert grid[5][23] == 1  # 07:30 UTC on Sunday is 23:30 PST on Saturday
    assert sum(map(sum, grid)) == 9


def test_empty_store(ctx):
    numbers = stats.compute(ctx.db, WEEK, ZONE)
    assert numbers.missed_calls == 0
    assert numbers.callers == 0
    assert numbers.first_text_median_seconds is None
    assert numbers.first_text_p95_seconds is None
    assert numbers.same_day_share is None
    assert numbers.reply_rate is None
    assert numbers.opt_out_rate is None
    assert numbers.reply_by_source == []
    assert sum(map(sum, numbers.hour_of_week)) == 0


def test_period_dates_span_local_days():
    assert WEEK.start == utc("2026-03-02 05:00")
    # The week ends at midnight EDT, an hour earlier in UTC than midnight EST.
    assert WEEK.end == utc("2026-03-09 04:00")
    with pytest.raises(ValueError, match="swap the dates"):
        Period.dates(date(2026, 3, 8), date(2026, 3, 2), NEW_YORK)


def test_period_last_days():
    now = utc("2026-03-05 15:00")
    period = Period.last_days(7, now, NEW_YORK)
    assert period.start == utc("2026-02-27 05:00")
    assert period.end == now
    assert Period.last_days(1, now, NEW_YORK).start == utc("2026-03-05 05:00")


def test_percentile_interpolates():
    assert stats.percentile([], 0.5) is None
    assert stats.percentile([4.0], 0.95) == 4.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert stats.percentile([float(v) for v in range(1, 101)], 0.95) == pytest.approx(95.05)


@pytest.mark.parametrize("seconds, text", [
    (None, "\u2014"), (0, "0 s"), (42.4, "42 s"), (59.6, "1 min 00 s"), (185, "3 min 05 s"),
    (7800, "2 h 10 min"), (3 * 86400 + 7200, "3 d 2 h"),
])
def test_duration_text(seconds, text):
    assert stats.duration_text(seconds) == text


def test_percent_text():
    assert stats.percent_text(None) == "\u2014"
    assert stats.percent_text(0.4166) == "42%"
    assert stats.percent_text(0.04166, 1) == "4.2%"
