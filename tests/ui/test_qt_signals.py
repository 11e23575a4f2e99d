"""Guards against a PySide6 release that breaks signal emission for the whole app."""

from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    pinged = Signal(bytes)


def test_emit_keeps_bool_refcounts(qapp):
    # PySide6 6.12.0 drops a reference to True on every emit(). Python 3.11 does not make
    # True immortal, so the interpreter aborts after a few hundred emits.
    emitter = _Emitter()
    received = []
    emitter.pinged.connect(received.append)
    before = sys.getrefcount(True)
    for _ in range(200):
        emitter.pinged.emit(b"x")
    after = sys.getrefcount(True)
    assert len(received) == 200
    assert after - before > -100, (
        f"PySide6 {PySide6.__version__} lost {before - after} references to True in 200 "
        f"emits; install a release without this bug (see pyproject.toml)")
