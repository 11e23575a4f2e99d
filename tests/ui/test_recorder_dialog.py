"""The voicemail recorder dialog, driven with pytest-qt: recording, limits, import and saving."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, Signal

from desktop_app.core import directory, models
from desktop_app.core.app import open_context
from desktop_app.ui.microphone import MULTIMEDIA_ERROR, Microphone
from desktop_app.ui.recorder_dialog import IDLE, RECORDED, RECORDING, RecorderDialog
from tests.audio import decode_mp3, tone_pcm, virtual_microphone_problem, write_wav

pytestmark = pytest.mark.gui

CHUNK_SECONDS = 0.5


class ScriptedMicrophone(QObject):
    """Stands in for the sound card where a test needs more audio than it can wait for.

    The test emits started and chunk itself; start() and stop() only record the calls.
    """

    started = Signal()
    chunk = Signal(bytes)
    failed = Signal(str)

    def __init__(self, sample_rate: int = 44100):
        super().__init__()
        self.problem = ""
        self.available = True
        self.sample_rate = sample_rate
        self.description = "Scripted microphone"
        self.running = False
        self.stops = 0

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.stops += 1
        self.running = False


@pytest.fixture
def ctx(data_dir):
    context = open_context(data_dir, environ={})
    yield context
    context.db.close()


@pytest.fixture
def lo_id(ctx):
    return ctx.db.write(lambda uow: directory.save_lo(
        uow, directory.LoanOfficerInput("Dana Reyes", phone="+16465550111")).id)


def open_dialog(qtbot, ctx, lo_id, **kwargs) -> RecorderDialog:
    dialog = RecorderDialog(ctx, lo_id, **kwargs)
    qtbot.addWidget(dialog, before_close_func=lambda d: d.discard_take())
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def stored_lo(ctx, lo_id) -> models.LoanOfficer:
    with ctx.db.read() as session:
        return session.get(models.LoanOfficer, lo_id)


def test_auto_stop_at_30_seconds(qtbot, ctx, lo_id):
    microphone = ScriptedMicrophone()
    dialog = open_dialog(qtbot, ctx, lo_id, microphone=microphone)
    click(qtbot, dialog.record_button)
    assert microphone.running
    assert dialog.record_button.text() == "Stop"
    with qtbot.waitSignal(dialog.recordingStarted, timeout=1000):
        microphone.started.emit()
    assert dialog.state == RECORDING

    chunk = tone_pcm(CHUNK_SECONDS)
    with qtbot.waitSignal(dialog.recordingFinished, timeout=1000) as finished:
        for _ in range(int(31 / CHUNK_SECONDS)):
            microphone.chunk.emit(chunk)
    assert finished.args == [pytest.approx(30.0)]
    assert microphone.stops == 1
    assert dialog.state == RECORDED
    assert dialog.take.seconds == pytest.approx(30.0)
    assert dialog.time_label.text() == "0:30.0 / 0:30"
    assert dialog.progress.value() == dialog.progress.maximum()
    assert "Recorded 30.0 s (the limit)" in dialog.message.text()

    microphone.chunk.emit(chunk)  # audio still in flight after the stop is ignored
    assert dialog.take.seconds == pytest.approx(30.0)

    with qtbot.waitSignal(dialog.saveFinished, timeout=10000) as saved:
        click(qtbot, dialog.save_button)
    assert saved.args == [True, f"recordings/lo-{lo_id}.mp3"]
    seconds, rms, _ = decode_mp3(ctx.data_dir / saved.args[1])
    assert seconds == pytest.approx(30.0, abs=0.06)
    assert rms > -12


def test_level_meter_follows_audio(qtbot, ctx, lo_id):
    microphone = ScriptedMicrophone()
    dialog = open_dialog(qtbot, ctx, lo_id, microphone=microphone)
    click(qtbot, dialog.record_button)
    microphone.started.emit()
    microphone.chunk.emit(tone_pcm(0.05, amplitude=0.5))
    assert dialog.meter.rms_dbfs == pytest.approx(-9.0, abs=0.3)
    assert dialog.time_label.text().startswith("0:00.0")
    microphone.chunk.emit(bytes(4410))
    assert dialog.meter.rms_dbfs == -60.0
    click(qtbot, dialog.record_button)
    assert dialog.state == IDLE  # 0.1 s is too short to keep
    assert "Nothing was recorded" in dialog.message.text()


def test_record_again_replaces_take(qtbot, ctx, lo_id):
    microphone = ScriptedMicrophone()
    dialog = open_dialog(qtbot, ctx, lo_id, microphone=microphone)
    click(qtbot, dialog.record_button)
    microphone.started.emit()
    microphone.chunk.emit(tone_pcm(2.0))
    click(qtbot, dialog.record_button)
    assert dialog.record_button.text() == "Record again"
    first = dialog.take
    click(qtbot, dialog.record_button)
    microphone.started.emit()
    microphone.chunk.emit(tone_pcm(1.0))
    click(qtbot, dialog.record_button)
    assert dialog.take is not first
    assert dialog.take.seconds == pytest.approx(1.0)


def test_microphone_failure_is_shown(qtbot, ctx, lo_id):
    microphone = ScriptedMicrophone()
    dialog = open_dialog(qtbot, ctx, lo_id, microphone=microphone)
    click(qtbot, dialog.record_button)
    microphone.failed.emit("The microphone 'USB' sent no sound for 6 s.")
    assert dialog.state == IDLE
    assert dialog.message.text() == "The microphone 'USB' sent no sound for 6 s."
    assert dialog.record_button.isEnabled()
    assert not dialog.save_button.isEnabled()


def test_import_31s_wav_rejected(qtbot, ctx, lo_id, tmp_path):
    dialog = open_dialog(qtbot, ctx, lo_id, microphone=ScriptedMicrophone())
    path = write_wav(tmp_path / "too-long.wav", 31.0)
    with qtbot.waitSignal(dialog.importFinished, timeout=10000) as imported:
        dialog.import_file(path)
    ok, text = imported.args
    assert not ok
    assert "too-long.wav is 31.0 s long" in text
    assert dialog.message.text() == text
    assert dialog.state == IDLE
    assert not dialog.save_button.isEnabled()
    assert stored_lo(ctx, lo_id).recording_file is None


def test_import_non_audio_rejected(qtbot, ctx, lo_id, tmp_path):
    dialog = open_dialog(qtbot, ctx, lo_id, microphone=ScriptedMicrophone())
    path = tmp_path / "rates.mp3"
    path.write_text("30-year fixed 6.25%\n" * 100)
    with qtbot.waitSignal(dialog.importFinished, timeout=10000) as imported:
        dialog.import_file(path)
    assert imported.args[0] is False
    assert "rates.mp3 is not an MP3 or WAV file" in imported.args[1]


def test_import_10s_wav_saved_as_mp3(qtbot, ctx, lo_id, tmp_path):
    dialog = open_dialog(qtbot, ctx, lo_id, microphone=ScriptedMicrophone())
    assert dialog.saved_label.text() == "No message saved yet."
    path = write_wav(tmp_path / "dana.wav", 10.0, rate=48000, channels=2)
    with qtbot.waitSignal(dialog.importFinished, timeout=10000) as imported:
        dialog.import_file(path)
    assert imported.args[0] is True
    assert "Imported dana.wav (WAV, 10.0 s)" in imported.args[1]
    assert dialog.state == RECORDED
    assert dialog.time_label.text() == "0:10.0 / 0:30"

    with qtbot.waitSignal(dialog.saveFinished, timeout=10000) as saved:
        click(qtbot, dialog.save_button)
    assert saved.args[0] is True
    lo = stored_lo(ctx, lo_id)
    assert lo.recording_file == f"recordings/lo-{lo_id}.mp3"
    assert lo.recording_token
    stored = ctx.data_dir / lo.recording_file
    assert stored.read_bytes()[:2] == b"\xff\xfb"
    seconds, rms, _ = decode_mp3(stored)
    assert seconds == pytest.approx(10.0, abs=0.06)
    assert rms == pytest.approx(-9.0, abs=0.5)
    assert dialog.saved_label.text().startswith(f"Saved: recordings/lo-{lo_id}.mp3 (10.0 s")
    assert not dialog.save_button.isEnabled()


def test_close_warns_about_unsaved_take(qtbot, ctx, lo_id):
    microphone = ScriptedMicrophone()
    dialog = open_dialog(qtbot, ctx, lo_id, microphone=microphone)
    click(qtbot, dialog.record_button)
    microphone.started.emit()
    microphone.chunk.emit(tone_pcm(2.0))
    click(qtbot, dialog.record_button)
    click(qtbot, dialog.close_button)
    assert dialog.isVisible()
    assert "not saved" in dialog.message.text()
    with qtbot.waitSignal(dialog.finished, timeout=1000):
        click(qtbot, dialog.close_button)
    assert not dialog.isVisible()


def test_no_microphone_keeps_import(qtbot, ctx, lo_id, tmp_path):
    if MULTIMEDIA_ERROR is not None:
        pytest.skip(f"Qt Multimedia is unavailable here: {MULTIMEDIA_ERROR}")
    from PySide6.QtMultimedia import QAudioDevice

    dialog = open_dialog(qtbot, ctx, lo_id, microphone=Microphone(QAudioDevice()))
    assert dialog.banner.isVisible()
    assert "No microphone was found" in dialog.banner.text()
    assert not dialog.record_button.isEnabled()
    assert dialog.import_button.isEnabled()
    with qtbot.waitSignal(dialog.importFinished, timeout=10000) as imported:
        dialog.import_file(write_wav(tmp_path / "dana.wav", 3.0))
    assert imported.args[0] is True
    with qtbot.waitSignal(dialog.saveFinished, timeout=10000) as saved:
        click(qtbot, dialog.save_button)
    assert saved.args[0] is True


_NO_MULTIMEDIA_SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["PySide6.QtMultimedia"] = None  # as if libpulse were missing
    from pathlib import Path
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication
    from desktop_app.core import directory
    from desktop_app.core.app import open_context
    from desktop_app.ui.recorder_dialog import RecorderDialog

    app = QApplication([])
    ctx = open_context(Path(sys.argv[1]), environ={})
    lo_id = ctx.db.write(lambda uow: directory.save_lo(uow, directory.LoanOfficerInput("Dana")).id)
    dialog = RecorderDialog(ctx, lo_id)
    dialog.show()
    print("banner:", dialog.banner.text())
    print("record enabled:", dialog.record_button.isEnabled())
    print("play enabled:", dialog.play_button.isEnabled())
    loop = QEventLoop()
    results = []
    dialog.importFinished.connect(lambda ok, text: (results.append(("import", ok)), dialog.save()))
    dialog.saveFinished.connect(lambda ok, text: (results.append(("save", ok, text)), loop.quit()))
    QTimer.singleShot(20000, loop.quit)
    dialog.import_file(sys.argv[2])
    loop.exec()
    print("results:", results)
    dialog.discard_take()
    dialog.close()
    ctx.db.close()
""")


def test_without_qt_multimedia_import_works(tmp_path, data_dir):
    wav = write_wav(tmp_path / "dana.wav", 2.0)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", _NO_MULTIMEDIA_SCRIPT, str(data_dir), str(wav)],
                            capture_output=True, text=True, timeout=60, env=env,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert "Qt Multimedia could not load" in result.stdout
    assert "record enabled: False" in result.stdout
    assert "play enabled: False" in result.stdout
    assert "results: [('import', True), ('save', True, 'recordings/lo-1.mp3')]" in result.stdout
    assert decode_mp3(data_dir / "recordings" / "lo-1.mp3")[0] == pytest.approx(2.0, abs=0.06)


@pytest.mark.audio
def test_records_tone_from_virtual_microphone(qtbot, ctx, lo_id, tmp_path):
    problem = virtual_microphone_problem()
    if problem:
        pytest.skip(f"no test microphone: {problem}")
    if MULTIMEDIA_ERROR is not None:
        pytest.skip(f"Qt Multimedia is unavailable here: {MULTIMEDIA_ERROR}")
    tone = write_wav(tmp_path / "tone.wav", 10.0, frequency=523.0, amplitude=0.5)
    dialog = open_dialog(qtbot, ctx, lo_id, max_seconds=3.0)
    assert dialog.microphone.available, dialog.microphone.problem
    assert "Remapped" in dialog.microphone.description or "virtmic" in dialog.microphone.description

    player = None
    try:
        with qtbot.waitSignal(dialog.recordingStarted, timeout=15000):
            click(qtbot, dialog.record_button)
        # Play into the null sink whose monitor is the default source, as a person speaking.
        player = subprocess.Popen(["paplay", "--device=mic", str(tone)])
        with qtbot.waitSignal(dialog.recordingFinished, timeout=20000) as finished:
            pass
        assert finished.args[0] == pytest.approx(3.0)
        assert dialog.state == RECORDED

        with qtbot.waitSignal(dialog.saveFinished, timeout=10000) as saved:
            click(qtbot, dialog.save_button)
        assert saved.args[0] is True
        seconds, rms, _ = decode_mp3(ctx.data_dir / saved.args[1])
        print(f"recorded MP3: {seconds:.3f} s, RMS {rms:.1f} dBFS")
        assert seconds == pytest.approx(3.0, abs=0.06)
        # Silence is -90 dBFS here; the tone alone is -9 dBFS. The first part of the take
        # may predate the tone, so allow for some silence.
        assert rms > -30

        with qtbot.waitSignal(dialog.playbackFinished, timeout=20000):
            click(qtbot, dialog.play_button)
        assert dialog.state == RECORDED
    finally:
        if player is not None:
            player.terminate()
            player.wait(timeout=10)


@pytest.mark.audio
def test_microphone_stop_from_chunk_receiver(qtbot):
    problem = virtual_microphone_problem()
    if problem:
        pytest.skip(f"no test microphone: {problem}")
    if MULTIMEDIA_ERROR is not None:
        pytest.skip(f"Qt Multimedia is unavailable here: {MULTIMEDIA_ERROR}")
    microphone = Microphone()
    chunks = []

    def on_chunk(pcm: bytes) -> None:
        chunks.append(pcm)
        microphone.stop()  # as the recorder does when the take is full

    microphone.chunk.connect(on_chunk)
    with qtbot.waitSignal(microphone.started, timeout=15000):
        microphone.start()
    assert not microphone.running
    # A second stop from outside, as the Stop button would send, is harmless.
    microphone.stop()
    # stop() hands over audio still in the buffer, so a second chunk may follow the first.
    assert 1 <= len(chunks) <= 2
    assert all(len(chunk) % 2 == 0 for chunk in chunks)
