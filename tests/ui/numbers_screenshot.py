"""The Numbers window with a busy brokerage's generated history, for the README screenshot."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtWidgets import QApplication

from desktop_app.core.app import open_context
from desktop_app.core.clock import ManualClock
from desktop_app.ui.numbers_window import NumbersWindow
from tests.stats_data import fill

NOW = datetime(2026, 6, 15, 21, 30, tzinfo=timezone.utc)


def numbers(out_dir: Path, app: QApplication) -> None:
    from tests.ui.screenshots import settle  # noqa: PLC0415

    data_dir = Path(tempfile.mkdtemp(prefix="mcd-shot-"))
    ctx = open_context(data_dir, clock=ManualClock(NOW), environ={})
    # About 400 missed calls a month: the busy end of a small brokerage.
    fill(ctx.db, 1600, NOW)
    window = NumbersWindow(ctx)
    window.resize(1366, 768)
    window.show()
    window.set_preset(90)
    settle(app, 1500)
    window.grab().save(str(out_dir / "numbers.png"))
    window.close()
    ctx.db.close()
