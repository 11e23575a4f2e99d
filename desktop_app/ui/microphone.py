"""Microphone capture with QtMultimedia: mono 16-bit PCM chunks as they arrive, or a clear reason why not."""

from __future__ import annotations

import logging

from PySide6.QtCore import QBuffer, QIODevice, QObject, QTimer, Signal

from desktop_app.core.lo_recording import SAMPLE_RATE, PcmFormat, to_mono_s16

log = logging.getLogger(__name__)

try:
    from PySide6.QtMultimedia import QAudio, QAudioDevice, QAudioFormat, QAudioSource, QMediaDevices
except ImportError as exc:  # Qt Multimedia needs system libraries (libpulse on Linux)
    MULTIMEDIA_ERROR: str | None = str(exc)
    QAudioDevice = None  # type: ignore[assignment,misc]
else:
    MULTIMEDIA_ERROR = None

# PulseAudio delivered the first audio after up to about 2 s in our tests. A device that
# has sent nothing for this long is muted, busy or gone.
NO_DATA_TIMEOUT_MS = 6000

_FORMAT_NAMES = {}
if MULTIMEDIA_ERROR is None:
    _FORMAT_NAMES = {QAudioFormat.SampleFormat.UInt8: "u8", QAudioFormat.SampleFormat.Int16: "s16",
                     QAudioFormat.SampleFormat.Int32: "s32", QAudioFormat.SampleFormat.Float: "f32"}


def multimedia_available() -> bool:
    return MULTIMEDIA_ERROR is None


def default_input():
    """Return the system's default audio input, or None when Qt Multimedia is missing or lists none."""
    if MULTIMEDIA_ERROR is not None:
        return None
    device = QMediaDevices.defaultAudioInput()
    return None if device.isNull() else device


class Microphone(QObject):
    """Captures from one audio input in push mode into a QBuffer.

    Signals:
    - started() when the first audio arrives (PulseAudio takes up to about 2 s).
    - chunk(bytes) with mono signed 16-bit PCM at `sample_rate`.
    - failed(str) when the device reports an error or sends nothing for NO_DATA_TIMEOUT_MS.
    `problem` is non-empty when capture cannot work at all (no Qt Multimedia, no input).
    """

    started = Signal()
    chunk = Signal(bytes)
    failed = Signal(str)

    def __init__(self, device=None, parent: QObject | None = None, *,
                 no_data_timeout_ms: int = NO_DATA_TIMEOUT_MS):
        super().__init__(parent)
        self.problem = ""
        self.device = None
        self.sample_rate = SAMPLE_RATE
        self._format: PcmFormat | None = None
        self._qt_format = None
        self._source = None
        self._buffer: QBuffer | None = None
        self._read_pos = 0
        self._got_data = False
        self._stopping = False
        self._watchdog = QTimer(self)
        self._watchdog.setSingleShot(True)
        self._watchdog.setInterval(no_data_timeout_ms)
        self._watchdog.timeout.connect(self._on_no_data)

        if MULTIMEDIA_ERROR is not None:
            self.problem = ("Recording is unavailable because Qt Multimedia could not load "
                            f"({MULTIMEDIA_ERROR}). You can still import an MP3 or WAV file.")
            return
        if device is None:
            device = default_input()
        if device is None or device.isNull():
            self.problem = ("No microphone was found. Connect one and reopen this window, or "
                            "import an MP3 or WAV file.")
            return
        self.device = device
        self._choose_format(device)

    @property
    def available(self) -> bool:
        return not self.problem

    @property
    def running(self) -> bool:
        return self._source is not None

    @property
    def description(self) -> str:
        return self.device.description() if self.device is not None else ""

    def _choose_format(self, device) -> None:
        requested = QAudioFormat()
        requested.setSampleRate(SAMPLE_RATE)
        requested.setChannelCount(1)
        requested.setSampleFormat(QAudioFormat.SampleFormat.Int16)
        chosen = requested if device.isFormatSupported(requested) else device.preferredFormat()
        name = _FORMAT_NAMES.get(chosen.sampleFormat())
        if name is None or chosen.channelCount() < 1 or not 8000 <= chosen.sampleRate() <= 48000:
            self.problem = (f"The microphone {device.description()!r} offers no format this app "
                            f"can record. Choose another input in the system's sound settings, "
                            f"or import an MP3 or WAV file.")
            return
        self._qt_format = chosen
        self._format = PcmFormat(chosen.sampleRate(), chosen.channelCount(), name)
        self.sample_rate = chosen.sampleRate()

    def start(self) -> None:
        if not self.available:
            raise RuntimeError(self.problem)
        if self._source is not None:
            return
        self._buffer = QBuffer(self)
        self._buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self._buffer.bytesWritten.connect(self._drain)
        self._read_pos = 0
        self._got_data = False
        self._stopping = False
        self._source = QAudioSource(self.device, self._qt_format, self)
        self._source.stateChanged.connect(self._on_state)
        # Push mode into a QBuffer: the pull-mode device that start() returns delivered no
        # data with Qt 6.12 on PulseAudio, and PySide6 6.12.0 crashed when a Python
        # QIODevice subclass was the target.
        self._source.start(self._buffer)
        self._watchdog.start()
        log.debug("Microphone %r started at %d Hz, %d channel(s), %s", self.description,
                  self._format.sample_rate, self._format.channels, self._format.sample_format)

    def stop(self) -> None:
        source = self._source
        if source is None:
            return
        # Cleared first: the last chunk's receiver may call stop() again, which must return.
        self._source = None
        self._stopping = True
        self._watchdog.stop()
        source.stop()
        self._drain()
        source.deleteLater()
        if self._buffer is not None:
            self._buffer.bytesWritten.disconnect(self._drain)
            self._buffer.close()
            self._buffer.deleteLater()
            self._buffer = None
        log.debug("Microphone %r stopped", self.description)

    def _drain(self, _count: int = 0) -> None:
        if self._buffer is None:
            return
        # data() shares the buffer's bytes without copying; only the new tail is copied.
        new = self._buffer.data().mid(self._read_pos)
        if new.isEmpty():
            return
        self._read_pos += new.size()
        raw = new.data()
        if not self._got_data:
            self._got_data = True
            self._watchdog.stop()
            self.started.emit()
        self.chunk.emit(to_mono_s16(raw, self._format))

    def _on_no_data(self) -> None:
        if self._got_data or self._source is None:
            return
        name = self.description
        self.stop()
        seconds = self._watchdog.interval() / 1000
        self.failed.emit(f"The microphone {name!r} sent no sound for {seconds:g} s. Check that "
                         f"it is plugged in, not muted and not used by another program, then "
                         f"record again.")

    def _on_state(self, state) -> None:
        if self._stopping or self._source is None:
            return
        error = self._source.error()
        if state != QAudio.State.StoppedState or error == QAudio.Error.NoError:
            return
        reasons = {
            QAudio.Error.OpenError: "could not be opened (another program may be using it, or "
                                    "the system denied access to the microphone)",
            QAudio.Error.IOError: "stopped delivering audio",
            QAudio.Error.FatalError: "failed and is no longer usable",
        }
        reason = reasons.get(error, f"reported an error ({error.name})")
        name = self.description
        log.warning("Microphone %r %s", name, reason)
        self.stop()
        self.failed.emit(f"The microphone {name!r} {reason}. Check the system's sound settings, "
                         f"then record again.")
