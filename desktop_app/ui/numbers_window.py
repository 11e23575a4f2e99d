"""The Numbers window: KPI tiles, reply rate by lead source and missed calls by hour of the week."""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import shiboken6
from PySide6.QtCharts import (QBarCategoryAxis, QBarSeries, QBarSet, QChart, QChartView,
                              QHorizontalBarSeries, QValueAxis)
from PySide6.QtCore import QAbstractTableModel, QDate, QMargins, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QDateEdit, QFrame,
                               QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy,
                               QTableView, QToolButton, QVBoxLayout, QWidget)

from desktop_app.core import stats
from desktop_app.core.board import source_text
from desktop_app.ui.heat_map import HourOfWeekHeatMap
from desktop_app.ui.workers import run_task

log = logging.getLogger(__name__)

COL_SOURCE, COL_TEXTED, COL_REPLIED, COL_RATE = range(4)
HEADERS = ("Lead source", "Texted", "Replied", "Reply rate")
SourceRole = Qt.ItemDataRole.UserRole + 1
MAX_TABLE_ROWS = 8
_BAR_COLOR = QColor("#1F4E79")
_TILE_STYLE = ("QFrame#tile { background: #FFFFFF; border: 1px solid #E0E4E8; border-radius: 6px; }"
               " QLabel#tileTitle { color: #546E7A; }"
               " QLabel#tileDetail { color: #607D8B; }")


class ReplyRateModel(QAbstractTableModel):
    """Rows of stats.SourceRate: lead source, texted, replied and reply rate."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[stats.SourceRate] = []

    def set_rows(self, rows: list[stats.SourceRate]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[stats.SourceRate]:
        return list(self._rows)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            if 0 <= section < len(HEADERS):
                return HEADERS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == COL_SOURCE:
                return source_text(row.source)
            if column == COL_TEXTED:
                return f"{row.texted:,}"
            if column == COL_REPLIED:
                return f"{row.replied:,}"
            if column == COL_RATE:
                return stats.percent_text(row.rate, 1)
        if role == Qt.ItemDataRole.TextAlignmentRole and column != COL_SOURCE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == SourceRole:
            return row.source
        return None


class KpiTile(QFrame):
    """A headline figure with a title above and a detail line below."""

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setObjectName("tile")
        self.setStyleSheet(_TILE_STYLE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(2)
        self.title = QLabel(title, self)
        self.title.setObjectName("tileTitle")
        self.value = QLabel("\u2014", self)
        self.value.setObjectName("tileValue")
        font = QFont(self.value.font())
        font.setPointSizeF(font.pointSizeF() * 1.9)
        font.setBold(True)
        self.value.setFont(font)
        self.detail = QLabel("", self)
        self.detail.setObjectName("tileDetail")
        self.detail.setWordWrap(True)
        for label in (self.title, self.value, self.detail):
            layout.addWidget(label)
        layout.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_figure(self, value: str, detail: str) -> None:
        self.value.setText(value)
        self.detail.setText(detail)


def _chart(title: str) -> QChart:
    chart = QChart()
    chart.setTitle(title)
    title_font = QFont(chart.titleFont())
    title_font.setBold(True)
    title_font.setPointSizeF(title_font.pointSizeF() * 1.1)
    chart.setTitleFont(title_font)
    chart.legend().hide()
    chart.setBackgroundRoundness(6)
    chart.setMargins(QMargins(6, 4, 6, 4))
    return chart


def _nice_ceiling(value: float, steps: int = 5) -> float:
    """Round value up to steps times 1, 2, 2.5 or 5 times a power of ten, so axis ticks are round."""
    if value <= 0:
        return float(steps)
    raw_step = value / steps
    magnitude = 10 ** math.floor(math.log10(raw_step))
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude >= raw_step:
            return float(multiple * magnitude * steps)
    return float(10 * magnitude * steps)


class NumbersWindow(QWidget):
    """Shows the coordinator's numbers for a chosen period, computed off the GUI thread.

    Signals: computed(object) with the stats.Numbers shown; failed(str) with the error
    shown. Public methods: set_preset(days), set_custom_range(first, last), refresh().
    """

    computed = Signal(object)
    failed = Signal(str)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.ctx = ctx
        self.numbers: stats.Numbers | None = None
        self.preset_days: int | None = 30
        self._generation = 0
        self.setWindowTitle("Numbers")
        self.resize(1280, 760)
        self.setMinimumSize(1000, 680)

        self.model = ReplyRateModel(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(10)
        layout.addLayout(self._build_period_bar())
        layout.addLayout(self._build_tiles())
        layout.addLayout(self._build_charts(), 1)
        self.set_preset(30)

    # -- layout -----------------------------------------------------------------------------

    def _build_period_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(4)
        label = QLabel("Period:", self)
        bar.addWidget(label)
        self.period_group = QButtonGroup(self)
        self.period_group.setExclusive(True)
        self.period_buttons: dict[object, QToolButton] = {}
        for key, text in ((7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days"),
                          ("custom", "Custom")):
            button = QToolButton(self)
            button.setText(text)
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setObjectName(f"period_{key}")
            self.period_group.addButton(button)
            self.period_buttons[key] = button
            bar.addWidget(button)
        for days in stats.PRESET_DAYS:
            self.period_buttons[days].clicked.connect(
                lambda _checked=False, d=days: self.set_preset(d))
        self.period_buttons["custom"].clicked.connect(self._custom_chosen)

        bar.addSpacing(8)
        today = self._today()
        self.from_edit = QDateEdit(self)
        self.to_edit = QDateEdit(self)
        for edit, value in ((self.from_edit, today - timedelta(days=29)), (self.to_edit, today)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("MM/dd/yyyy")  # the US form, and easy to type
            edit.setDate(QDate(value.year, value.month, value.day))
            edit.setMaximumDate(QDate(today.year, today.month, today.day))
        self.from_edit.setObjectName("fromDate")
        self.to_edit.setObjectName("toDate")
        bar.addWidget(QLabel("From", self))
        bar.addWidget(self.from_edit)
        bar.addWidget(QLabel("to", self))
        bar.addWidget(self.to_edit)
        self.apply_button = QPushButton("Show", self)
        self.apply_button.setObjectName("applyRange")
        self.apply_button.clicked.connect(self._apply_custom)
        bar.addWidget(self.apply_button)

        bar.addStretch(1)
        self.status = QLabel(self)
        self.status.setObjectName("status")
        self.status.setStyleSheet("color: #546E7A;")
        bar.addWidget(self.status)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setObjectName("refresh")
        self.refresh_button.clicked.connect(self.refresh)
        bar.addWidget(self.refresh_button)
        return bar

    def _build_tiles(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        self.tile_first_text = KpiTile("Time to first text (median)", self)
        self.tile_same_day = KpiTile("Contacted the same day", self)
        self.tile_reply = KpiTile("Reply rate", self)
        self.tile_opt_out = KpiTile("Opt-out rate", self)
        self.tile_missed = KpiTile("Missed calls", self)
        for tile in (self.tile_missed, self.tile_first_text, self.tile_same_day, self.tile_reply,
                     self.tile_opt_out):
            row.addWidget(tile)
        return row

    def _build_charts(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        left = QVBoxLayout()
        left.setSpacing(10)
        right = QVBoxLayout()
        right.setSpacing(10)

        self.reply_chart = _chart("Reply rate by lead source")
        self.reply_view = QChartView(self.reply_chart, self)
        self.reply_view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.reply_view.setObjectName("replyChart")
        left.addWidget(self.reply_view, 1)
        left.addWidget(self._build_source_table())

        right.addWidget(self._build_heat_map())
        self.hour_chart = _chart("Missed calls by hour of the day")
        self.hour_view = QChartView(self.hour_chart, self)
        self.hour_view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.hour_view.setObjectName("hourChart")
        right.addWidget(self.hour_view, 1)

        row.addLayout(left, 5)
        row.addLayout(right, 6)
        return row

    def _build_source_table(self) -> QTableView:
        table = QTableView(self)
        table.setObjectName("sourceTable")
        table.setModel(self.model)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(22)
        table.setShowGrid(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(COL_SOURCE, QHeaderView.ResizeMode.Stretch)
        for column in (COL_TEXTED, COL_REPLIED, COL_RATE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.source_table = table
        self.model.modelReset.connect(self._fit_source_table)
        self._fit_source_table()
        return table

    def _fit_source_table(self) -> None:
        # Tall enough for every source up to MAX_TABLE_ROWS, so the chart keeps the rest.
        table = self.source_table
        rows = max(3, min(MAX_TABLE_ROWS, self.model.rowCount()))
        height = (table.horizontalHeader().sizeHint().height()
                  + rows * table.verticalHeader().defaultSectionSize() + 2 * table.frameWidth())
        table.setFixedHeight(height)

    def _build_heat_map(self) -> QFrame:
        frame = QFrame(self)
        frame.setObjectName("heatFrame")
        frame.setStyleSheet("QFrame#heatFrame { background: #FFFFFF; border: 1px solid "
                            "#E0E4E8; border-radius: 6px; }")
        layout = QVBoxLayout(frame)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(2)
        title = QLabel("Missed calls by hour of the week", frame)
        title_font = QFont(title.font())
        title_font.setBold(True)
        title_font.setPointSizeF(title_font.pointSizeF() * 1.1)
        title.setFont(title_font)
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(title)
        self.zone_label = QLabel(frame)
        self.zone_label.setStyleSheet("color: #607D8B;")
        self.zone_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.zone_label)
        self.heat_map = HourOfWeekHeatMap(frame)
        self.heat_map.setObjectName("heatMap")
        self.heat_map.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.heat_map)
        return frame

    # -- period -----------------------------------------------------------------------------

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.ctx.settings.get("brokerage.time_zone"))

    def _today(self) -> date:
        return self.ctx.clock.now().astimezone(self._zone()).date()

    def set_preset(self, days: int) -> None:
        if days not in stats.PRESET_DAYS:
            raise ValueError(f"days must be one of {stats.PRESET_DAYS}, got {days}")
        self.preset_days = days
        self.period_buttons[days].setChecked(True)
        self._set_custom_enabled(False)
        self.refresh()

    def set_custom_range(self, first: date, last: date) -> None:
        self.from_edit.setDate(QDate(first.year, first.month, first.day))
        self.to_edit.setDate(QDate(last.year, last.month, last.day))
        self.period_buttons["custom"].setChecked(True)
        self._set_custom_enabled(True)
        self._apply_custom()

    def _custom_chosen(self) -> None:
        self._set_custom_enabled(True)
        self._apply_custom()

    def _set_custom_enabled(self, enabled: bool) -> None:
        for widget in (self.from_edit, self.to_edit, self.apply_button):
            widget.setEnabled(enabled)

    def _apply_custom(self) -> None:
        first, last = self.from_edit.date().toPython(), self.to_edit.date().toPython()
        if last < first:
            self._show_error(f"The range ends ({last:%b %d, %Y}) before it starts "
                             f"({first:%b %d, %Y}). Swap the dates.")
            return
        self.preset_days = None
        self.refresh()

    def current_period(self) -> stats.Period:
        zone = self._zone()
        if self.preset_days is not None:
            return stats.Period.last_days(self.preset_days, self.ctx.clock.now(), zone)
        first, last = self.from_edit.date().toPython(), self.to_edit.date().toPython()
        return stats.Period.dates(first, last, zone)

    # -- computing --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Recompute for the current period on the thread pool; results for an older request are dropped."""
        period = self.current_period()
        time_zone = self.ctx.settings.get("brokerage.time_zone")
        self._generation += 1
        generation = self._generation
        self.status.setText("Calculating\u2026")
        self.status.setStyleSheet("color: #546E7A;")
        db = self.ctx.db
        run_task(lambda: stats.compute(db, period, time_zone),
                 lambda result, error: self._computed(generation, result, error))

    def _computed(self, generation: int, numbers, error) -> None:
        if not shiboken6.isValid(self) or generation != self._generation:
            return
        if error is not None:
            log.error("Computing the numbers failed", exc_info=error)
            self._show_error(f"The numbers could not be computed: {error}. Try Refresh; if it "
                             f"fails again, check the log.")
            return
        self.numbers = numbers
        self._show(numbers)
        self.computed.emit(numbers)

    def _show_error(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #B71C1C;")
        self.failed.emit(text)

    # -- display ----------------------------------------------------------------------------

    def _show(self, numbers: stats.Numbers) -> None:
        zone = ZoneInfo(numbers.time_zone)
        first = numbers.period.start.astimezone(zone)
        last = (numbers.period.end - timedelta(microseconds=1)).astimezone(zone)
        self.status.setText(f"{first:%b %d, %Y} \u2013 {last:%b %d, %Y} \u00b7 computed in "
                            f"{numbers.compute_seconds * 1000:.0f} ms")
        self.status.setStyleSheet("color: #546E7A;")

        self.tile_missed.set_figure(f"{numbers.missed_calls:,}",
                                    f"from {numbers.callers:,} callers")
        self.tile_first_text.set_figure(
            stats.duration_text(numbers.first_text_median_seconds),
            f"95th percentile {stats.duration_text(numbers.first_text_p95_seconds)} "
            f"\u00b7 {numbers.texted_calls:,} texts")
        self.tile_same_day.set_figure(stats.percent_text(numbers.same_day_share),
                                      f"{numbers.contacted_same_day:,} of {numbers.callers:,} callers")
        self.tile_reply.set_figure(stats.percent_text(numbers.reply_rate),
                                   f"{numbers.replied_callers:,} of {numbers.texted_callers:,} "
                                   f"texted callers")
        self.tile_opt_out.set_figure(stats.percent_text(numbers.opt_out_rate, 1),
                                     f"{numbers.opted_out_callers:,} of "
                                     f"{numbers.texted_callers:,} texted callers")

        self.model.set_rows(numbers.reply_by_source)
        self._fill_reply_chart(numbers.reply_by_source)
        self.heat_map.set_counts(numbers.hour_of_week)
        self.zone_label.setText(f"Local time, {numbers.time_zone.replace('_', ' ')}; hover a "
                                f"cell for its count")
        self._fill_hour_chart(numbers.hour_of_week)

    def _fill_reply_chart(self, rows: list[stats.SourceRate]) -> None:
        chart = self.reply_chart
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)
        # Bottom to top in a horizontal bar chart, so the largest group is listed first on top.
        shown = [row for row in rows if row.texted][::-1]
        bars = QBarSet("Reply rate")
        bars.setColor(_BAR_COLOR)
        bars.setLabelColor(QColor("#1B1F24"))
        for row in shown:
            bars.append(round(row.rate * 100, 1))
        series = QHorizontalBarSeries()
        series.append(bars)
        series.setLabelsVisible(True)
        series.setLabelsFormat("@value%")
        series.setLabelsPosition(QHorizontalBarSeries.LabelsPosition.LabelsOutsideEnd)
        series.setBarWidth(0.6)
        chart.addSeries(series)

        categories = QBarCategoryAxis()
        categories.append([source_text(row.source) for row in shown] or ["No texted callers"])
        chart.addAxis(categories, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(categories)
        values = QValueAxis()
        top = max((row.rate * 100 for row in shown), default=0.0)
        values.setRange(0, _nice_ceiling(top * 1.15))
        values.setLabelFormat("%.0f%%")
        values.setTickCount(6)
        values.setTitleText("Share of texted callers who replied")
        chart.addAxis(values, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(values)

    def _fill_hour_chart(self, hour_of_week: list[list[int]]) -> None:
        chart = self.hour_chart
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)
        weekday = QBarSet("Mon\u2013Fri")
        weekday.setColor(_BAR_COLOR)
        weekend = QBarSet("Sat\u2013Sun")
        weekend.setColor(QColor("#F5A623"))
        for hour in range(24):
            weekday.append(sum(hour_of_week[day][hour] for day in range(5)))
            weekend.append(sum(hour_of_week[day][hour] for day in (5, 6)))
        series = QBarSeries()
        series.append(weekday)
        series.append(weekend)
        series.setBarWidth(0.85)
        chart.addSeries(series)
        chart.legend().show()
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignTop)

        # 24-hour labels: "12a" and "10p" are too wide for a category and get elided.
        hours = QBarCategoryAxis()
        hours.append([str(hour) for hour in range(24)])
        hours.setTitleText("Hour starting (24-hour clock, local time)")
        chart.addAxis(hours, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(hours)
        counts = QValueAxis()
        top = max(max(weekday.at(h), weekend.at(h)) for h in range(24))
        counts.setRange(0, _nice_ceiling(top))
        counts.setLabelFormat("%.0f")
        counts.setTickCount(6)
        chart.addAxis(counts, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(counts)
