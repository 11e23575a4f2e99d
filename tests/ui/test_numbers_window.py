"""The Numbers window and its reply-rate model, driven with pytest-qt on a real store."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from PySide6.QtCore import QThreadPool, Qt
from PySide6.QtWidgets import QApplication, QToolTip

from desktop_app.core import stats
from desktop_app.core.app import open_context
from desktop_app.core.clock import ManualClock
from desktop_app.ui.numbers_window import (COL_RATE, COL_SOURCE, NumbersWindow, ReplyRateModel,
                                           SourceRole)
from tests.stats_builder import WEEK, fill_week, utc

pytestmark = pytest.mark.gui

# Wednesday 11 March 2026, 14:00 in New York: the known week is 3 to 9 days back.
NOW = datetime(2026, 3, 11, 18, 0, tzinfo=timezone.utc)


@pytest.fixture
def ctx(data_dir):
    context = open_context(data_dir, clock=ManualClock(NOW), environ={})
    fill_week(context)
    yield context
    context.db.close()


@pytest.fixture
def window(qtbot, ctx):
    win = NumbersWindow(ctx)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.computed, timeout=10000):
        win.show()
    return win


def show_week(qtbot, window) -> stats.Numbers:
    with qtbot.waitSignal(window.computed, timeout=10000) as shown:
        window.set_custom_range(date(2026, 3, 2), date(2026, 3, 8))
    return shown.args[0]


def test_model_passes_qtmodeltester(qtmodeltester):
    model = ReplyRateModel()
    model.set_rows([stats.SourceRate("zillow", 20, 5), stats.SourceRate("past_client", 4, 2),
                    stats.SourceRate("website", 0, 0)])
    qtmodeltester.check(model)
    assert model.index(0, COL_SOURCE).data() == "Zillow"
    assert model.index(0, COL_SOURCE).data(SourceRole) == "zillow"
    assert model.index(1, COL_RATE).data() == "50.0%"
    assert model.index(2, COL_RATE).data() == "\u2014"


def test_opens_on_last_30_days(window):
    assert window.period_buttons[30].isChecked()
    numbers = window.numbers
    assert numbers.period.end == NOW
    assert numbers.period.start == utc("2026-02-10 05:00")
    assert numbers.missed_calls == 11  # the week and the Sunday before and Monday after it
    assert not window.from_edit.isEnabled()


def test_custom_week_fills_tiles(qtbot, window):
    numbers = show_week(qtbot, window)
    assert numbers.period == WEEK
    assert window.tile_missed.value.text() == "9"
    assert window.tile_missed.detail.text() == "from 7 callers"
    assert window.tile_first_text.value.text() == "20 s"
    assert window.tile_first_text.detail.text() == "95th percentile 16 min 06 s \u00b7 5 texts"
    assert window.tile_same_day.value.text() == "86%"
    assert window.tile_same_day.detail.text() == "6 of 7 callers"
    assert window.tile_reply.value.text() == "33%"
    assert window.tile_opt_out.value.text() == "16.7%"
    assert window.status.text().startswith("Mar 02, 2026 \u2013 Mar 08, 2026")


def test_custom_week_fills_charts(qtbot, window):
    show_week(qtbot, window)
    assert window.model.rowCount() == 5
    assert window.model.index(0, COL_SOURCE).data() == "Zillow"

    series = window.reply_chart.series()[0]
    bars = series.barSets()[0]
    # Bottom to top: the chart lists the largest source first at the top.
    assert [bars.at(i) for i in range(bars.count())] == [0.0, 0.0, 0.0, 100.0, 50.0]
    categories = window.reply_chart.axes(Qt.Orientation.Vertical)[0].categories()
    assert categories == ["Website", "Past client", "Google Ads", "Client referral", "Zillow"]

    assert window.heat_map.counts[0][9] == 1
    assert window.heat_map.counts[6][3] == 1
    weekday, weekend = window.hour_chart.series()[0].barSets()
    assert weekday.at(10) == 2  # Tuesday and Wednesday, 10 a.m.
    assert weekend.at(3) == 1  # Sunday 3:30 a.m., just after the clocks changed
    assert sum(weekday.at(h) + weekend.at(h) for h in range(24)) == 9


def test_preset_buttons_recompute(qtbot, window):
    with qtbot.waitSignal(window.computed, timeout=10000) as shown:
        qtbot.mouseClick(window.period_buttons[7], Qt.MouseButton.LeftButton)
    numbers = shown.args[0]
    assert numbers.period.start == utc("2026-03-05 05:00")
    assert numbers.missed_calls == 4  # Thursday, Friday, Sunday and the following Monday
    assert window.period_buttons[7].isChecked()


def test_custom_dates_typed_in(qtbot, window):
    qtbot.mouseClick(window.period_buttons["custom"], Qt.MouseButton.LeftButton)
    qtbot.waitSignal(window.computed, timeout=10000).wait()
    assert window.from_edit.isEnabled()
    assert window.from_edit.date().toPython() == date(2026, 2, 10)  # 30 days back
    # Month up by one with the arrow key, then type the day: 02/10 becomes 03/08.
    window.from_edit.setFocus()
    qtbot.keyClick(window.from_edit, Qt.Key.Key_Home)
    qtbot.keyClick(window.from_edit, Qt.Key.Key_Up)
    qtbot.keyClicks(window.from_edit, "/08")
    window.to_edit.setFocus()
    qtbot.keyClick(window.to_edit, Qt.Key.Key_Home)
    qtbot.keyClicks(window.to_edit, "/08")
    assert window.from_edit.date().toPython() == date(2026, 3, 8)
    assert window.to_edit.date().toPython() == date(2026, 3, 8)
    with qtbot.waitSignal(window.computed, timeout=10000) as shown:
        qtbot.mouseClick(window.apply_button, Qt.MouseButton.LeftButton)
    assert shown.args[0].missed_calls == 1  # the Sunday call
    assert window.heat_map.counts[6][3] == 1


def test_reversed_range_rejected(qtbot, window):
    with qtbot.waitSignal(window.failed, timeout=1000) as failed:
        window.set_custom_range(date(2026, 3, 8), date(2026, 3, 2))
    assert "Swap the dates" in failed.args[0]
    assert window.status.text() == failed.args[0]


def test_compute_runs_off_gui_thread(qtbot, window):
    before = window.numbers
    emitted = []
    window.computed.connect(emitted.append)
    window.refresh()
    # refresh() returns before the figures exist: they come back from the thread pool.
    assert window.numbers is before
    assert window.status.text() == "Calculating\u2026"
    window.refresh()
    assert QThreadPool.globalInstance().waitForDone(10000)
    # Both results are queued for the GUI thread now; deliver them.
    QApplication.processEvents()
    assert len(emitted) == 1  # the first request's result was dropped as stale


def test_heat_map_tooltip(qtbot, window):
    show_week(qtbot, window)
    heat_map = window.heat_map
    assert heat_map.tooltip_text(0, 9) == "Mon 9 a.m.\u201310 a.m.: 1 missed call"
    assert heat_map.tooltip_text(0, 10) == "Mon 10 a.m.\u201311 a.m.: 0 missed calls"
    assert heat_map.cell_at(heat_map.cell_center(6, 3)) == (6, 3)
    if QApplication.platformName() == "offscreen":
        return  # the offscreen platform warns when a tooltip window is raised
    qtbot.mouseMove(heat_map, heat_map.cell_center(0, 9))
    qtbot.waitUntil(lambda: QToolTip.isVisible(), timeout=3000)
    assert QToolTip.text() == "Mon 9 a.m.\u201310 a.m.: 1 missed call"
