"""A 7 x 24 heat map of counts by weekday and hour, with hover tooltips."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop_app.core.stats import WEEKDAY_NAMES

_LOW = QColor("#EEF3F8")
_HIGH = QColor("#0D3B66")
_EMPTY = QColor("#F7F8FA")


def hour_range_text(hour: int) -> str:
    start = f"{(hour % 12) or 12} {'a.m.' if hour < 12 else 'p.m.'}"
    end_hour = (hour + 1) % 24
    end = f"{(end_hour % 12) or 12} {'a.m.' if end_hour < 12 else 'p.m.'}"
    return f"{start}\u2013{end}"


def _blend(fraction: float) -> QColor:
    fraction = max(0.0, min(1.0, fraction))
    return QColor(int(_LOW.red() + (_HIGH.red() - _LOW.red()) * fraction),
                  int(_LOW.green() + (_HIGH.green() - _LOW.green()) * fraction),
                  int(_LOW.blue() + (_HIGH.blue() - _LOW.blue()) * fraction))


class HourOfWeekHeatMap(QWidget):
    """Heat map of counts[weekday][hour], Monday first. set_counts() replaces the counts."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.counts = [[0] * 24 for _ in range(7)]
        self.unit = ("missed call", "missed calls")  # singular, plural
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Missed calls by hour of the week")

    def sizeHint(self) -> QSize:
        metrics = QFontMetrics(self.font())
        return QSize(640, 7 * 26 + 2 * metrics.height() + 20)

    def minimumSizeHint(self) -> QSize:
        return QSize(420, 170)

    def set_counts(self, counts: list[list[int]]) -> None:
        if len(counts) != 7 or any(len(row) != 24 for row in counts):
            raise ValueError("counts must be 7 rows (Monday first) of 24 hours")
        self.counts = [list(row) for row in counts]
        busiest = max(max(row) for row in self.counts)
        self.setAccessibleDescription(f"Busiest hour: {self._count_text(busiest)}")
        self.update()

    # -- geometry ---------------------------------------------------------------------------

    def _layout(self) -> tuple[float, float, float, float, float]:
        """Return (left, top, cell width, cell height, legend height) for the current size."""
        metrics = QFontMetrics(self.font())
        left = metrics.horizontalAdvance("Wed") + 10
        legend = metrics.height() + 10
        top = 2.0
        bottom = metrics.height() + 6 + legend
        cell_w = max(6.0, (self.width() - left - 2) / 24)
        cell_h = max(6.0, min(cell_w, (self.height() - top - bottom) / 7))
        return left, top, cell_w, cell_h, legend

    def cell_at(self, point: QPoint) -> tuple[int, int] | None:
        left, top, cell_w, cell_h, _ = self._layout()
        column = int((point.x() - left) // cell_w)
        row = int((point.y() - top) // cell_h)
        if point.x() < left or point.y() < top or not (0 <= column < 24 and 0 <= row < 7):
            return None
        return row, column

    def cell_center(self, weekday: int, hour: int) -> QPoint:
        left, top, cell_w, cell_h, _ = self._layout()
        return QPoint(int(left + (hour + 0.5) * cell_w), int(top + (weekday + 0.5) * cell_h))

    def _count_text(self, count: int) -> str:
        return f"{count:,} {self.unit[0] if count == 1 else self.unit[1]}"

    def tooltip_text(self, weekday: int, hour: int) -> str:
        return f"{WEEKDAY_NAMES[weekday]} {hour_range_text(hour)}: {self._count_text(self.counts[weekday][hour])}"

    # -- events -----------------------------------------------------------------------------

    def mouseMoveEvent(self, event) -> None:
        cell = self.cell_at(event.position().toPoint())
        if cell is None:
            QToolTip.hideText()
            return
        QToolTip.showText(event.globalPosition().toPoint(), self.tooltip_text(*cell), self)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        left, top, cell_w, cell_h, legend = self._layout()
        busiest = max(max(row) for row in self.counts)
        text_color = self.palette().color(self.foregroundRole())
        small = QFont(self.font())
        small.setPointSizeF(small.pointSizeF() * 0.9)
        painter.setFont(small)

        for weekday in range(7):
            y = top + weekday * cell_h
            painter.setPen(text_color)
            painter.drawText(QRectF(0, y, left - 6, cell_h),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             WEEKDAY_NAMES[weekday])
            for hour in range(24):
                count = self.counts[weekday][hour]
                color = _EMPTY if count == 0 else _blend(0.12 + 0.88 * count / busiest)
                cell = QRectF(left + hour * cell_w + 1, y + 1, cell_w - 2, cell_h - 2)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(color)
                painter.drawRoundedRect(cell, 2, 2)

        label_top = top + 7 * cell_h + 2
        painter.setPen(text_color)
        for hour in range(0, 24, 3):
            painter.drawText(QRectF(left + hour * cell_w, label_top, cell_w * 3, cell_h),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                             f"{hour}:00")
        self._paint_legend(painter, left, label_top + QFontMetrics(small).height() + 6,
                           busiest, text_color)
        painter.end()

    def _paint_legend(self, painter: QPainter, left: float, top: float, busiest: int,
                      text_color: QColor) -> None:
        metrics = QFontMetrics(painter.font())
        x = left
        painter.setPen(text_color)
        painter.drawText(QPoint(int(x), int(top + metrics.ascent())), "Fewer")
        x += metrics.horizontalAdvance("Fewer") + 6
        for step in range(6):
            painter.setPen(QPen(QColor("#D5D9DE"), 1) if step == 0 else Qt.PenStyle.NoPen)
            painter.setBrush(_EMPTY if step == 0 else _blend(0.12 + 0.88 * step / 5))
            painter.drawRoundedRect(QRectF(x, top + 1, 14, metrics.height() - 2), 2, 2)
            x += 17
        painter.setPen(text_color)
        painter.drawText(QPoint(int(x + 3), int(top + metrics.ascent())),
                         f"More (busiest hour: {self._count_text(busiest)})")
