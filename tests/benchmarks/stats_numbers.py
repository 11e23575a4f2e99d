"""Time the Numbers figures on a generated store (default 100,000 contacts).

Run from the repository root:
    .venv/bin/python -m tests.benchmarks.stats_numbers [CONTACTS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from desktop_app.core import stats
from desktop_app.core.app import open_context
from tests.stats_data import fill

ZONE = "America/New_York"


def main(argv: list[str]) -> int:
    contacts = int(argv[1]) if len(argv) > 1 else 100_000
    now = datetime(2026, 6, 15, 18, 0, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory(prefix="mcd-stats-") as folder:
        ctx = open_context(Path(folder), environ={})
        began = time.perf_counter()
        counts = fill(ctx.db, contacts, now, ZONE)
        print(f"generated {counts} in {time.perf_counter() - began:.1f} s")
        for days in (7, 30, 90):
            period = stats.Period.last_days(days, now, ZoneInfo(ZONE))
            timings = []
            for _ in range(3):
                numbers = stats.compute(ctx.db, period, ZONE)
                timings.append(numbers.compute_seconds)
            print(f"{days:>3} days: {numbers.missed_calls:>6} missed calls, "
                  f"{numbers.callers:>6} callers, median of 3 runs "
                  f"{statistics.median(timings) * 1000:.0f} ms "
                  f"(first text p50 {numbers.first_text_median_seconds:.1f} s, "
                  f"p95 {numbers.first_text_p95_seconds:.1f} s; same day "
                  f"{numbers.same_day_share:.0%}; reply {numbers.reply_rate:.0%}; "
                  f"opt-out {numbers.opt_out_rate:.1%})")
        ctx.db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
