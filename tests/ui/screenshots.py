"""Render the app's windows and dialogs with generated data and save PNGs.

Run under Xvfb from the repository root:
    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python -m tests.ui.screenshots OUT_DIR \
        [board|recorder|numbers|tunnel|templates|routing|sequence|settings]
"""

from __future__ import annotations

import array
import math
import random
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.core import directory, lo_recording
from desktop_app.core.app import open_context
from desktop_app.ui.main import ensure_application


EDITORS = ("templates", "routing", "sequence", "settings")


def settle(app: QApplication, milliseconds: int = 300) -> None:
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()
    app.processEvents()


def speech_like(seconds: float, rate: int = 44100, seed: int = 7) -> bytes:
    """A voice-like test signal: a 140 Hz buzz with harmonics under a syllable-rate envelope."""
    rng = random.Random(seed)
    samples = array.array("h")
    syllable = rate // 4
    for start in range(0, int(seconds * rate), syllable):
        loudness = rng.choice((0.05, 0.25, 0.4, 0.55))
        for i in range(start, min(start + syllable, int(seconds * rate))):
            envelope = math.sin(math.pi * (i - start) / syllable)
            t = i / rate
            value = sum(math.sin(2 * math.pi * 140 * k * t) / k for k in (1, 2, 3, 5))
            samples.append(int(32767 * loudness * envelope * value / 2.2))
    return samples.tobytes()


def recorder(out_dir: Path, app: QApplication) -> None:
    from tests.ui.test_recorder_dialog import ScriptedMicrophone

    from desktop_app.ui.recorder_dialog import RecorderDialog

    data_dir = Path(tempfile.mkdtemp(prefix="mcd-shot-"))
    ctx = open_context(data_dir, environ={})
    lo_id = ctx.db.write(lambda uow: directory.save_lo(
        uow, directory.LoanOfficerInput("Dana Reyes", phone="+16465550111")).id)
    lo_recording.save(ctx.db, data_dir, lo_id, lo_recording.encode_mp3(speech_like(24.3, seed=3)))
    microphone = ScriptedMicrophone()
    microphone.description = "Built-in Microphone"
    dialog = RecorderDialog(ctx, lo_id, microphone=microphone)
    dialog.show()
    settle(app)
    dialog.record_button.click()
    microphone.started.emit()
    audio = speech_like(18.45)
    step = 2048
    for offset in range(0, len(audio), step):
        microphone.chunk.emit(audio[offset:offset + step])
    settle(app)
    dialog.grab().save(str(out_dir / "recorder.png"))
    dialog.discard_take()
    dialog.close()
    ctx.db.close()


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else Path("resources/screenshots")
    which = argv[2:] or ["board", "recorder", "numbers", "tunnel", *EDITORS]
    app = ensure_application()
    if "board" in which:
        from tests.ui.board_screenshot import board, test_call_dialog  # noqa: PLC0415

        board(out_dir, app)
        test_call_dialog(out_dir, app)
    if "recorder" in which:
        recorder(out_dir, app)
    if "numbers" in which:
        from tests.ui.numbers_screenshot import numbers  # noqa: PLC0415

        numbers(out_dir, app)
    from tests.ui import editors_screenshot  # noqa: PLC0415

    for name in EDITORS:
        if name in which:
            getattr(editors_screenshot, name)(out_dir, app)
    if "tunnel" in which:
        from tests.ui.tunnel_screenshot import tunnel_problem, tunnel_up  # noqa: PLC0415

        tunnel_up(out_dir, app)
        tunnel_problem(out_dir, app)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
