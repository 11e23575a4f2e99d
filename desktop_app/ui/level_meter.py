"""A horizontal audio level meter: RMS bar, peak tick, and green/amber/red zones in dBFS."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

FLOOR_DBFS = -60.0
AMBER_FROM_DBFS = -12.0
RED_FROM_DBFS = -3.0


class LevelMeter(QWidget):
    """Shows the last level set with set_level(rms_dbfs, peak_dbfs); reset() clears it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rms_dbfs = FLOOR_DBFS
        self.peak_dbfs = FLOOR_DBFS
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Microphone level")

    def sizeHint(self) -> QSize:
        return QSize(320, 18)

    def minimumSizeHint(self) -> QSize:
        return QSize(120, 12)

    def set_level(self, rms_dbfs: float, peak_dbfs: float) -> None:
        self.rms_dbfs = max(FLOOR_DBFS, min(0.0, rms_dbfs))
        self.peak_dbfs = max(FLOOR_DBFS, min(0.0, peak_dbfs))
        self.setAccessibleDescription(f"{self.rms_dbfs:.0f} dB")
        self.update()

    def reset(self) -> None:
        self.set_level(FLOOR_DBFS, FLOOR_DBFS)

    @staticmethod
    def _fraction(dbfs: float) -> float:
        return (dbfs - FLOOR_DBFS) / -FLOOR_DBFS

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(QPen(QColor("#C9CED4"), 1))
        painter.setBrush(QColor("#F1F3F5"))
        painter.drawRoundedRect(area, 3, 3)

        gradient = QLinearGradient(area.left(), 0, area.right(), 0)
        gradient.setColorAt(0.0, QColor("#43A047"))
        gradient.setColorAt(self._fraction(AMBER_FROM_DBFS) - 0.001, QColor("#7CB342"))
        gradient.setColorAt(self._fraction(AMBER_FROM_DBFS), QColor("#F9A825"))
        gradient.setColorAt(self._fraction(RED_FROM_DBFS), QColor("#E53935"))
        gradient.setColorAt(1.0, QColor("#C62828"))
        inner = area.adjusted(1.5, 1.5, -1.5, -1.5)
        filled = QRectF(inner)
        filled.setWidth(inner.width() * self._fraction(self.rms_dbfs))
        if filled.width() > 0:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(gradient)
            painter.drawRoundedRect(filled, 2, 2)

        if self.peak_dbfs > FLOOR_DBFS:
            x = inner.left() + inner.width() * self._fraction(self.peak_dbfs)
            painter.setPen(QPen(QColor("#37474F"), 2))
            painter.drawLine(int(x), int(inner.top()), int(x), int(inner.bottom()))
        painter.end()
