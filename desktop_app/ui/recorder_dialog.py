"""The voicemail recorder: record, play back, re-record, import and save an LO's drop message."""

from __future__ import annotations

import logging
import tempfile
import wave
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QDialog, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel,
                               QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from desktop_app.core import lo_recording
from desktop_app.core.db import StorageError
from desktop_app.core.lo_recording import MAX_SECONDS, RecordingError, Take
from desktop_app.ui.level_meter import LevelMeter
from desktop_app.ui.microphone import MULTIMEDIA_ERROR, Microphone
from desktop_app.ui.workers import run_task

if MULTIMEDIA_ERROR is None:
    from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

log = logging.getLogger(__name__)

# States, as stateChanged reports them.
IDLE = "idle"  # nothing recorded in this session (a saved file may exist)
STARTING = "starting"  # waiting for the microphone's first audio
RECORDING = "recording"
RECORDED = "recorded"  # an unsaved take is ready to play or save
PLAYING = "playing"
BUSY = "busy"  # importing or saving off the GUI thread

_BANNER_STYLE = ("QLabel#banner { background: #FFF8E1; color: #5D4300; border: 1px solid #F3D98B;"
                 " border-radius: 4px; padding: 6px 8px; }")
_MESSAGE_COLORS = {"info": "#37474F", "ok": "#1B5E20", "error": "#B71C1C"}


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}.{int((seconds - whole) * 10)}"


class RecorderDialog(QDialog):
    """Records, imports, plays and saves one LO's voicemail-drop message.

    Signals:
    - stateChanged(str) with one of the state names above.
    - recordingStarted() when the microphone's first audio arrives.
    - recordingFinished(float) with the take's length in seconds.
    - importFinished(bool, str) with success and the message shown.
    - saveFinished(bool, str) with success and the relative path, or the error message.
    - playbackFinished().
    """

    stateChanged = Signal(str)
    recordingStarted = Signal()
    recordingFinished = Signal(float)
    importFinished = Signal(bool, str)
    saveFinished = Signal(bool, str)
    playbackFinished = Signal()

    def __init__(self, ctx, lo_id: int, parent: QWidget | None = None, *,
                 max_seconds: float = MAX_SECONDS, microphone: Microphone | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.lo_id = lo_id
        self.max_seconds = max_seconds
        self.state = IDLE
        self.take: Take | None = None
        self.take_saved = False
        self._close_warned = False
        self._resume_state = IDLE  # where playback returns to
        self._temp_dir = tempfile.TemporaryDirectory(prefix="mcd-recorder-")
        self.saved = lo_recording.current(ctx.db, ctx.data_dir, lo_id)

        self.microphone = microphone if microphone is not None else Microphone(parent=self)
        self.microphone.started.connect(self._on_microphone_started)
        self.microphone.chunk.connect(self._on_chunk)
        self.microphone.failed.connect(self._on_microphone_failed)
        self.player = None
        if MULTIMEDIA_ERROR is None:
            self.player = QMediaPlayer(self)
            self.audio_output = QAudioOutput(self)
            self.player.setAudioOutput(self.audio_output)
            self.player.mediaStatusChanged.connect(self._on_media_status)
            self.player.errorOccurred.connect(self._on_player_error)

        self.setWindowTitle(f"Voicemail message \u2013 {self.saved.lo_name}")
        self.setMinimumWidth(560)
        self._build()
        self._update_saved_line()
        self._set_state(IDLE)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.setSpacing(10)

        title = QLabel(f"Voicemail drop for {self.saved.lo_name}", self)
        title_font = QFont(title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.25)
        title_font.setBold(True)
        title.setFont(title_font)
        layout.addWidget(title)
        hint = QLabel(f"Borrowers whose call you missed find this message in their voicemail. "
                      f"Keep it under {self.max_seconds:g} seconds, because longer drops get cut "
                      f"off.", self)
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #546E7A;")
        layout.addWidget(hint)

        self.banner = QLabel(self)
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(_BANNER_STYLE)
        self.banner.setText(self.microphone.problem)
        self.banner.setVisible(bool(self.microphone.problem))
        layout.addWidget(self.banner)

        layout.addWidget(self._build_meter_panel())
        layout.addLayout(self._build_buttons())

        self.message = QLabel(self)
        self.message.setObjectName("message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)

        footer = QHBoxLayout()
        self.saved_label = QLabel(self)
        self.saved_label.setObjectName("savedLine")
        self.saved_label.setStyleSheet("color: #546E7A;")
        footer.addWidget(self.saved_label, 1)
        self.close_button = QPushButton("Close", self)
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        footer.addWidget(self.close_button)
        layout.addLayout(footer)

    def _build_meter_panel(self) -> QFrame:
        panel = QFrame(self)
        panel.setObjectName("meterPanel")
        panel.setStyleSheet("QFrame#meterPanel { background: #FAFBFC; border: 1px solid #E0E4E8;"
                            " border-radius: 6px; }")
        inner = QVBoxLayout(panel)
        inner.setContentsMargins(14, 10, 14, 12)
        inner.setSpacing(8)

        top = QHBoxLayout()
        self.time_label = QLabel(panel)
        self.time_label.setObjectName("timer")
        time_font = QFont(self.time_label.font())
        time_font.setPointSizeF(time_font.pointSizeF() * 2.0)
        time_font.setStyleHint(QFont.StyleHint.Monospace)
        time_font.setFamily("DejaVu Sans Mono")
        self.time_label.setFont(time_font)
        top.addWidget(self.time_label)
        top.addStretch(1)
        self.state_label = QLabel(panel)
        self.state_label.setObjectName("stateLabel")
        top.addWidget(self.state_label)
        inner.addLayout(top)

        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(6)
        self.meter = LevelMeter(panel)
        self.progress = QProgressBar(panel)
        self.progress.setRange(0, int(self.max_seconds * 10))
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress.setAccessibleName("Recording length")
        for row, (caption, widget) in enumerate((("Level", self.meter), ("Length", self.progress))):
            label = QLabel(caption, panel)
            label.setStyleSheet("color: #546E7A;")
            grid.addWidget(label, row, 0)
            grid.addWidget(widget, row, 1)
        grid.setColumnStretch(1, 1)
        inner.addLayout(grid)
        return panel

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        self.record_button = QPushButton("Record", self)
        self.record_button.setObjectName("primary")
        self.record_button.setAutoDefault(False)
        self.record_button.clicked.connect(self.toggle_recording)
        self.play_button = QPushButton("Play", self)
        self.play_button.setAutoDefault(False)
        self.play_button.clicked.connect(self.toggle_playback)
        self.import_button = QPushButton("Import MP3 or WAV\u2026", self)
        self.import_button.setAutoDefault(False)
        self.import_button.clicked.connect(self.choose_file)
        self.save_button = QPushButton("Save", self)
        self.save_button.setAutoDefault(False)
        self.save_button.clicked.connect(self.save)
        for button in (self.record_button, self.play_button, self.import_button):
            row.addWidget(button)
        spacer = QWidget(self)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(spacer)
        row.addWidget(self.save_button)
        return row

    # -- state ------------------------------------------------------------------------------

    @property
    def has_unsaved_take(self) -> bool:
        return self.take is not None and not self.take.empty and not self.take_saved

    def _set_state(self, state: str) -> None:
        self.state = state
        recording = state in (STARTING, RECORDING)
        idle = state in (IDLE, RECORDED)
        can_record = self.microphone.available
        self.record_button.setEnabled(can_record and (idle or recording))
        if recording:
            self.record_button.setText("Stop")
        elif self.take is not None and not self.take.empty:
            self.record_button.setText("Record again")
        else:
            self.record_button.setText("Record")
        playable = (self.take is not None and not self.take.empty) or self.saved.path is not None
        self.play_button.setEnabled(self.player is not None and playable
                                    and state in (IDLE, RECORDED, PLAYING))
        self.play_button.setText("Stop" if state == PLAYING else "Play")
        self.import_button.setEnabled(idle)
        self.save_button.setEnabled(idle and self.has_unsaved_take)
        self.save_button.setDefault(idle and self.has_unsaved_take)
        words = {IDLE: "", STARTING: "Starting the microphone\u2026",
                 RECORDING: "\u25CF Recording",
                 RECORDED: "Not saved yet" if self.has_unsaved_take else "Saved",
                 PLAYING: "\u25B6 Playing", BUSY: "Working\u2026"}
        self.state_label.setText(words[state])
        self.state_label.setStyleSheet("color: #C62828; font-weight: 600;" if state == RECORDING
                                       else "color: #546E7A;")
        if state not in (RECORDING, PLAYING):
            self.meter.reset()
        self._update_time()
        self.stateChanged.emit(state)

    def _update_time(self) -> None:
        if self.take is not None and not self.take.empty:
            seconds = self.take.seconds
        elif self.state == IDLE and self.saved.seconds is not None:
            seconds = self.saved.seconds
        else:
            seconds = 0.0
        self.time_label.setText(f"{_clock(seconds)} / {_clock(self.max_seconds)[:-2]}")
        self.progress.setValue(min(self.progress.maximum(), int(seconds * 10)))

    def _update_saved_line(self) -> None:
        if self.saved.path is None:
            self.saved_label.setText("No message saved yet.")
            return
        length = f"{self.saved.seconds:.1f} s" if self.saved.seconds is not None else "length unknown"
        self.saved_label.setText(f"Saved: {lo_recording.relative_path(self.lo_id)} ({length})")

    def _show_message(self, text: str, kind: str = "info") -> None:
        self.message.setText(text)
        self.message.setStyleSheet(f"color: {_MESSAGE_COLORS[kind]};")

    # -- recording --------------------------------------------------------------------------

    def toggle_recording(self) -> None:
        if self.state in (STARTING, RECORDING):
            self.stop_recording()
        else:
            self.start_recording()

    def start_recording(self) -> None:
        if not self.microphone.available or self.state not in (IDLE, RECORDED):
            return
        self._release_player()
        self.take = Take(self.microphone.sample_rate, self.max_seconds)
        self.take_saved = False
        self._close_warned = False
        self._show_message(f"Recording from {self.microphone.description or 'the microphone'}. "
                           f"It stops by itself at {self.max_seconds:g} s.")
        self._set_state(STARTING)
        self.microphone.start()

    def stop_recording(self) -> None:
        if self.state not in (STARTING, RECORDING):
            return
        self.microphone.stop()
        # The audio still buffered arrives during stop() and may have filled the take,
        # which finishes it already.
        if self.state in (STARTING, RECORDING):
            self._finish_take()

    def _finish_take(self) -> None:
        seconds = self.take.seconds if self.take is not None else 0.0
        if self.take is None or seconds < lo_recording.MIN_SECONDS:
            self.take = None
            self._show_message("Nothing was recorded. Press Record and speak after the timer "
                               "starts.", "error")
            self._set_state(IDLE)
        else:
            limit = " (the limit)" if self.take.full else ""
            self._show_message(f"Recorded {seconds:.1f} s{limit}. Play it back, then Save, or "
                               f"record again.")
            self._set_state(RECORDED)
        self.recordingFinished.emit(seconds)

    def _on_microphone_started(self) -> None:
        if self.state == STARTING:
            self._set_state(RECORDING)
            self.recordingStarted.emit()

    def _on_chunk(self, pcm: bytes) -> None:
        if self.state not in (STARTING, RECORDING) or self.take is None:
            return
        accepted = self.take.append(pcm)
        if accepted:
            level = lo_recording.measure_level(accepted)
            self.meter.set_level(level.rms_dbfs, level.peak_dbfs)
        self._update_time()
        if self.take.full:
            self.microphone.stop()
            self._finish_take()

    def _on_microphone_failed(self, text: str) -> None:
        if self.state not in (STARTING, RECORDING):
            return
        self.take = None
        self._show_message(text, "error")
        self._set_state(IDLE)
        self.recordingFinished.emit(0.0)

    # -- playback ---------------------------------------------------------------------------

    def toggle_playback(self) -> None:
        if self.state == PLAYING:
            self.stop_playback()
        else:
            self.play()

    def play(self) -> None:
        if self.player is None or self.state not in (IDLE, RECORDED):
            return
        if self.take is not None and not self.take.empty:
            path = self._take_as_wav()
        elif self.saved.path is not None:
            path = self.saved.path
        else:
            return
        self._resume_state = self.state
        self.player.setSource(QUrl.fromLocalFile(str(path)))
        self._set_state(PLAYING)
        self.player.play()

    def stop_playback(self) -> None:
        if self.state != PLAYING:
            return
        self.player.stop()
        self._set_state(self._resume_state)

    def _take_as_wav(self) -> Path:
        # Each take gets a new name so the player never reads a file it has open.
        path = Path(self._temp_dir.name) / f"take-{id(self.take)}-{len(self.take.pcm())}.wav"
        if not path.exists():
            with wave.open(str(path), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(self.take.sample_rate)
                out.writeframes(self.take.pcm())
        return path

    def _on_media_status(self, status) -> None:
        if status == QMediaPlayer.MediaStatus.EndOfMedia and self.state == PLAYING:
            self._set_state(self._resume_state)
            self.playbackFinished.emit()

    def _on_player_error(self, _error, text: str) -> None:
        log.warning("Playback failed: %s", text)
        if self.state == PLAYING:
            self._set_state(self._resume_state)
        self._show_message(f"Playback failed: {text}. Check the system's sound output.", "error")

    def _release_player(self) -> None:
        """Stop playback and let go of the file, so it can be replaced (Windows locks open files)."""
        if self.player is not None:
            self.player.stop()
            self.player.setSource(QUrl())

    # -- import -----------------------------------------------------------------------------

    def choose_file(self) -> None:
        start = str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Import a voicemail message", start,
                                              "Audio (*.mp3 *.wav);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: str | Path) -> None:
        """Decode an MP3 or WAV off the GUI thread; on success it becomes the unsaved take."""
        if self.state not in (IDLE, RECORDED):
            return
        path = Path(path)
        self._release_player()
        self._show_message(f"Reading {path.name}\u2026")
        self._set_state(BUSY)
        limit = self.max_seconds
        run_task(lambda: lo_recording.decode_file(path, limit),
                 lambda result, error: self._import_done(path, result, error))

    def _import_done(self, path: Path, decoded, error) -> None:
        if not shiboken6.isValid(self):
            return
        if error is not None:
            text = str(error) if isinstance(error, RecordingError) else (
                f"Importing {path.name} failed: {error}")
            if not isinstance(error, RecordingError):
                log.error("Importing %r failed", str(path), exc_info=error)
            self._show_message(text, "error")
            self._set_state(RECORDED if self.has_unsaved_take else IDLE)
            self.importFinished.emit(False, text)
            return
        self.take = Take(decoded.sample_rate, self.max_seconds)
        self.take.append(decoded.pcm)
        self.take_saved = False
        self._close_warned = False
        text = (f"Imported {path.name} ({decoded.source_format}, {decoded.seconds:.1f} s). "
                f"Play it back, then Save.")
        self._show_message(text, "ok")
        self._set_state(RECORDED)
        self.importFinished.emit(True, text)

    # -- saving -----------------------------------------------------------------------------

    def save(self) -> None:
        """Encode the take as MP3 and store it as the LO's recording, off the GUI thread."""
        if not self.has_unsaved_take or self.state not in (IDLE, RECORDED):
            return
        self._release_player()
        pcm, rate = self.take.pcm(), self.take.sample_rate
        db, data_dir, lo_id = self.ctx.db, self.ctx.data_dir, self.lo_id
        self._show_message("Saving\u2026")
        self._set_state(BUSY)

        def work() -> str:
            return lo_recording.save(db, data_dir, lo_id, lo_recording.encode_mp3(pcm, rate))

        run_task(work, self._save_done)

    def _save_done(self, relative, error) -> None:
        if not shiboken6.isValid(self):
            return
        if error is not None:
            if isinstance(error, (RecordingError, StorageError)):
                text = str(error)
            else:
                log.error("Saving LO %d's recording failed", self.lo_id, exc_info=error)
                text = f"Saving failed: {error}"
            self._show_message(text, "error")
            self._set_state(RECORDED)
            self.saveFinished.emit(False, text)
            return
        self.take_saved = True
        self.saved = lo_recording.current(self.ctx.db, self.ctx.data_dir, self.lo_id)
        self._update_saved_line()
        self._show_message(f"Saved. Voicemail drops for {self.saved.lo_name} now use this "
                           f"message.", "ok")
        self._set_state(RECORDED)
        self.saveFinished.emit(True, relative)

    # -- closing ----------------------------------------------------------------------------

    def discard_take(self) -> None:
        self.take = None
        self.take_saved = False
        if self.state in (RECORDED, IDLE):
            self._set_state(IDLE)

    def _may_close(self) -> bool:
        if self.state == BUSY:
            self._show_message("Please wait until the file is saved or imported.", "error")
            return False
        if self.has_unsaved_take and not self._close_warned:
            self._close_warned = True
            self._show_message("The new message is not saved. Save it, or press Close again to "
                               "discard it.", "error")
            return False
        return True

    def reject(self) -> None:
        if self._may_close():
            self._shut_down()
            super().reject()

    def closeEvent(self, event) -> None:
        if not self._may_close():
            event.ignore()
            return
        self._shut_down()
        super().closeEvent(event)

    def _shut_down(self) -> None:
        self.microphone.stop()
        self._release_player()
        self._temp_dir.cleanup()
