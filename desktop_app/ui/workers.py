"""Run blocking work (database, network) off the GUI thread and get one signal back."""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Relay(QObject):
    finished = Signal(object, object)  # (result, error)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay):
        super().__init__()
        self.fn = fn
        self.relay = relay

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # handed to the caller's callback, which shows it
            log.debug("Background task failed: %r", exc)
            self.relay.finished.emit(None, exc)
        else:
            self.relay.finished.emit(result, None)


_pending: set[_Relay] = set()


def run_task(fn: Callable[[], Any], done: Callable[[Any, BaseException | None], None],
             pool: QThreadPool | None = None) -> None:
    """Run fn() on the pool; call done(result, error) on the GUI thread afterwards."""
    relay = _Relay()
    _pending.add(relay)

    def finish(result, error):
        _pending.discard(relay)
        done(result, error)

    relay.finished.connect(finish)
    (pool or QThreadPool.globalInstance()).start(_Task(fn, relay))
