"""Wakes the dispatcher at each due time. The database is the schedule; jobs are only alarms."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger(__name__)


class Alarm:
    """One APScheduler job per distinct wake-up time; setting the same time twice is a no-op."""

    def __init__(self, callback, clock):
        self._callback = callback
        self._clock = clock
        self._scheduler = BackgroundScheduler(timezone=timezone.utc,
                                              job_defaults={"coalesce": True,
                                                            "misfire_grace_time": None,
                                                            "max_instances": 1})
        self._lock = threading.Lock()
        self._running = False

    def start(self) -> None:
        self._scheduler.start()
        self._running = True

    def wake_at(self, when: datetime) -> None:
        if not self._running:
            return
        if when.tzinfo is None:
            raise ValueError("wake_at needs an aware datetime")
        # Round to the second so that many steps due together share one job.
        when = when.replace(microsecond=0)
        job_id = f"wake-{when.isoformat()}"
        with self._lock:
            if self._scheduler.get_job(job_id) is not None:
                return
            self._scheduler.add_job(self._fire, DateTrigger(run_date=when), id=job_id,
                                    replace_existing=True)

    def jobs(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    def _fire(self) -> None:
        try:
            self._callback()
        except Exception:
            log.exception("Scheduled run failed")

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._scheduler.shutdown(wait=True)
