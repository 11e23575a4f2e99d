"""Wakes the dispatcher at each due time. The database is the schedule; the job is only an alarm."""

from __future__ import annotations

import itertools
import logging
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

log = logging.getLogger(__name__)

JOB_ID = "wake"


class Alarm:
    """APScheduler jobs for the earliest time anyone asked to be woken.

    A request for a time at or after the pending wake-up adds nothing, so a burst of due
    times adds one job, not one per step. After a job fires, the callback runs and asks
    for the next time itself.
    """

    def __init__(self, callback, clock):
        self._callback = callback
        self._clock = clock
        self._scheduler = BackgroundScheduler(timezone=timezone.utc,
                                              job_defaults={"coalesce": True,
                                                            "misfire_grace_time": None,
                                                            # A wake-up due while a run is under
                                                            # way waits for it (see _fire), not skipped.
                                                            "max_instances": 4})
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._running = False
        self._next: datetime | None = None
        self._ids = itertools.count(1)

    def start(self) -> None:
        self._scheduler.start()
        self._running = True

    def wake_at(self, when: datetime) -> None:
        if not self._running:
            return
        if when.tzinfo is None:
            raise ValueError("wake_at needs an aware datetime")
        with self._lock:
            if self._next is not None and self._next <= when:
                return
            # Jobs are only ever added, each with a fresh id: APScheduler removes a fired date
            # job by id right after starting it, and removing one ourselves at that moment
            # would kill its scheduler thread. A later job left behind just runs an extra,
            # harmless tick.
            self._next = when
            self._scheduler.add_job(self._fire, DateTrigger(run_date=when),
                                    id=f"{JOB_ID}-{next(self._ids)}")

    @property
    def next_wake(self) -> datetime | None:
        with self._lock:
            return self._next

    def jobs(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    def _fire(self) -> None:
        with self._lock:
            self._next = None
        with self._run_lock:
            try:
                self._callback()
            except Exception:
                log.exception("Scheduled run failed")

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._scheduler.shutdown(wait=True)
