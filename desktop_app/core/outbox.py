"""Outbound sending: one queue per sender number, about one message per second, with retries."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from desktop_app.core.phones import mask
from desktop_app.core.providers.base import ProviderError, SendResult

log = logging.getLogger(__name__)

_WAKE = object()  # put on a queue to wake its worker at stop


@dataclass
class SendJob:
    step_id: int | None
    contact_id: int | None
    provider: str
    channel: str
    from_number: str
    to_number: str
    body: str
    kind: str = "automated"
    subject: str = ""
    message_id: int | None = None
    status_callback: str | None = None
    attempts: int = 0
    queued_at: float = field(default_factory=time.monotonic)
    extra: dict = field(default_factory=dict)

    @property
    def sender_key(self) -> tuple[str, str, str]:
        return (self.provider, self.channel, self.from_number)


class JobHandler(Protocol):
    """Storage side of a send: the outbox calls these around each provider request."""

    def prepare(self, job: SendJob) -> bool:
        """Mark the job in flight just before the request; False cancels it."""

    def deliver(self, job: SendJob) -> SendResult:
        """Make the provider request; raise ProviderError on failure."""

    def succeeded(self, job: SendJob, result: SendResult) -> None: ...

    def failed(self, job: SendJob, error: ProviderError, final: bool, retry_in: float | None) -> None: ...

    def interrupted(self, job: SendJob, error: ProviderError) -> None:
        """Requeue a job for the next start: the app stopped while waiting to retry, and nothing went out."""

    def reconcile(self, job: SendJob, since_wall) -> str | None:
        """After an ambiguous failure: the provider id if the message did go out, else None.

        Raise ProviderError when the provider cannot tell.
        """


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 120.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a provider's Retry-After is a floor."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay


class Outbox:
    """Per-sender FIFO queues drained by worker threads that pace and retry each send."""

    def __init__(self, handler: JobHandler, *, min_interval: float = 1.0,
                 policy: RetryPolicy | None = None, idle_seconds: float = 30.0,
                 wall_clock: Callable | None = None):
        self.handler = handler
        self.min_interval = min_interval
        self.policy = policy or RetryPolicy()
        self.idle_seconds = idle_seconds
        self._wall_clock = wall_clock
        self._queues: dict[tuple, queue.Queue] = {}
        self._workers: dict[tuple, threading.Thread] = {}
        self._last_send: dict[tuple, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._busy = 0
        self._idle = threading.Condition(self._lock)

    def submit(self, job: SendJob) -> None:
        if self._stop.is_set():
            log.warning("Outbox stopped; job for step %s stays queued for the next start", job.step_id)
            return
        key = job.sender_key
        with self._lock:
            self._busy += 1
            jobs = self._queues.get(key)
            if jobs is None:
                jobs = self._queues[key] = queue.Queue()
            jobs.put(job)
            worker = self._workers.get(key)
            if worker is None or not worker.is_alive():
                worker = threading.Thread(target=self._run, args=(key, jobs), daemon=True,
                                          name=f"send-{key[0]}-{key[1]}-{mask(key[2])}")
                self._workers[key] = worker
                worker.start()

    def pending(self) -> int:
        with self._lock:
            return self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every submitted job has finished (tests and orderly shutdown)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking jobs; a request already under way finishes, queued jobs stay queued."""
        self._stop.set()
        with self._lock:
            workers = list(self._workers.values())
            for jobs in self._queues.values():
                jobs.put(_WAKE)
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def _done(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy <= 0:
                self._busy = 0
                self._idle.notify_all()

    def _run(self, key: tuple, jobs: queue.Queue) -> None:
        while not self._stop.is_set():
            try:
                job = jobs.get(timeout=self.idle_seconds)
                if job is _WAKE:
                    return
            except queue.Empty:
                with self._lock:
                    if jobs.empty():
                        self._workers.pop(key, None)
                        return
                continue
            try:
                self._pace(key)
                if self._stop.is_set():
                    return
                self._process(job)
            except Exception:
                log.exception("Sending job for step %s crashed", job.step_id)
            finally:
                self._done()

    def _pace(self, key: tuple) -> None:
        last = self._last_send.get(key)
        if last is None:
            return
        wait = last + self.min_interval - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)

    def _process(self, job: SendJob) -> None:
        if not self.handler.prepare(job):
            return
        key = job.sender_key
        while True:
            job.attempts += 1
            started_wall = self._wall_clock() if self._wall_clock else None
            try:
                result = self.handler.deliver(job)
            except ProviderError as error:
                self._last_send[key] = time.monotonic()
                if error.retryable and error.ambiguous:
                    try:
                        found = self.handler.reconcile(job, started_wall)
                    except ProviderError as check_error:
                        error = ProviderError(
                            error.provider,
                            f"{error.message}; could not check whether it was delivered "
                            f"({check_error.message}), so it is not resent",
                            code=error.code, http_status=error.http_status,
                            retryable=False, ambiguous=True)
                        self.handler.failed(job, error, final=True, retry_in=None)
                        return
                    if found:
                        self.handler.succeeded(job, SendResult(job.provider, found, "queued",
                                                               detail="found after a lost answer"))
                        return
                if error.retryable and job.attempts < self.policy.max_attempts:
                    delay = self.policy.delay(job.attempts, error.retry_after)
                    self.handler.failed(job, error, final=False, retry_in=delay)
                    log.info("Retrying %s send to %s in %.1f s (attempt %d): %s", job.channel,
                             mask(job.to_number), delay, job.attempts, error)
                    if self._stop.wait(delay):
                        self.handler.interrupted(job, error)
                        return
                    continue
                self.handler.failed(job, error, final=True, retry_in=None)
                return
            except Exception as exc:  # a bug in a provider client: fail the job, keep the worker
                self._last_send[key] = time.monotonic()
                log.exception("Unexpected error sending %s to %s", job.channel, mask(job.to_number))
                self.handler.failed(job, ProviderError(job.provider, f"internal error: {exc!r}"),
                                    final=True, retry_in=None)
                return
            self._last_send[key] = time.monotonic()
            self.handler.succeeded(job, result)
            return
