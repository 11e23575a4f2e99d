"""Test audio: tone WAVs written with the standard library, and MP3 decoding for checks."""

from __future__ import annotations

import array
import math
import shutil
import subprocess
import wave
from pathlib import Path

import miniaudio

from desktop_app.core.lo_recording import measure_level


def tone_pcm(seconds: float, rate: int = 44100, channels: int = 1, frequency: float = 440.0,
             amplitude: float = 0.5) -> bytes:
    """Signed 16-bit interleaved PCM of a sine tone (the same sample on every channel)."""
    frames = int(round(seconds * rate))
    scale = amplitude * 32767
    step = 2 * math.pi * frequency / rate
    mono = array.array("h", (int(scale * math.sin(step * i)) for i in range(frames)))
    if channels == 1:
        return mono.tobytes()
    return array.array("h", (value for value in mono for _ in range(channels))).tobytes()


def write_wav(path: Path, seconds: float, rate: int = 44100, channels: int = 1,
              frequency: float = 440.0, amplitude: float = 0.5) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(tone_pcm(seconds, rate, channels, frequency, amplitude))
    return path


def decode_mp3(path: Path) -> tuple[float, float, bytes]:
    """Return (seconds, RMS in dBFS, mono PCM) of an MP3 file, decoded in full."""
    decoded = miniaudio.decode(Path(path).read_bytes(), output_format=miniaudio.SampleFormat.SIGNED16,
                               nchannels=1, sample_rate=44100)
    pcm = decoded.samples.tobytes()
    return len(pcm) / 2 / 44100, measure_level(pcm).rms_dbfs, pcm


def virtual_microphone_problem() -> str | None:
    """Why the PulseAudio test microphone (sink `mic`, source `virtmic`) is missing, or None."""
    if shutil.which("pactl") is None or shutil.which("paplay") is None:
        return "pactl/paplay not installed (apt-get install pulseaudio-utils)"
    info = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=10)
    if info.returncode != 0:
        return "no PulseAudio server is running (tests/run.sh starts one)"
    sources = subprocess.run(["pactl", "list", "short", "sources"], capture_output=True,
                             text=True, timeout=10).stdout
    if "virtmic" not in sources.split():
        return "PulseAudio has no `virtmic` source (tests/run.sh creates it)"
    if "Default Source: virtmic" not in info.stdout:
        return "`virtmic` is not PulseAudio's default source (pactl set-default-source virtmic)"
    return None
