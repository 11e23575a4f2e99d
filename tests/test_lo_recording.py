"""The LO's voicemail recording without Qt: conversion, level, limits, import and atomic saving."""

from __future__ import annotations

import array
import os
import struct
import wave

import pytest

from desktop_app.core import directory, lo_recording, models
from desktop_app.core.app import open_context
from desktop_app.core.lo_recording import (MONO_S16, PcmFormat, RecordingError, Take, decode_file,
                                           encode_mp3, measure_level, to_mono_s16)
from tests.audio import decode_mp3, tone_pcm, write_wav


@pytest.fixture
def ctx(data_dir):
    context = open_context(data_dir, environ={})
    yield context
    context.db.close()


def add_lo(ctx, name="Dana Reyes") -> int:
    return ctx.db.write(lambda uow: directory.save_lo(uow, directory.LoanOfficerInput(name)).id)


def test_mono_s16_passes_through():
    pcm = tone_pcm(0.01)
    assert to_mono_s16(pcm, MONO_S16) == pcm


def test_stereo_s16_is_averaged():
    stereo = array.array("h", [1000, 3000, -2000, -4000, 32767, 32767]).tobytes()
    mono = array.array("h", to_mono_s16(stereo, PcmFormat(44100, 2, "s16")))
    assert list(mono) == [2000, -3000, 32767]


def test_float_u8_and_s32_convert():
    floats = array.array("f", [0.5, -0.5, 1.5]).tobytes()
    assert list(array.array("h", to_mono_s16(floats, PcmFormat(48000, 1, "f32")))) == [16383, -16383, 32767]
    assert list(array.array("h", to_mono_s16(bytes([128, 255, 0]), PcmFormat(8000, 1, "u8")))) == [
        0, 127 << 8, -128 << 8]
    ints = array.array("i", [1 << 30, -(1 << 30)]).tobytes()
    assert list(array.array("h", to_mono_s16(ints, PcmFormat(44100, 1, "s32")))) == [1 << 14, -(1 << 14)]


def test_partial_frame_is_dropped():
    stereo = array.array("h", [10, 20, 30]).tobytes()
    assert list(array.array("h", to_mono_s16(stereo, PcmFormat(44100, 2, "s16")))) == [15]


def test_level_of_tone_and_silence():
    loud = measure_level(tone_pcm(0.1, amplitude=0.5))
    # A sine's RMS is its amplitude / sqrt(2): 0.354 of full scale, about -9 dBFS.
    assert loud.rms_dbfs == pytest.approx(-9.03, abs=0.1)
    assert loud.peak_dbfs == pytest.approx(-6.02, abs=0.1)
    silent = measure_level(bytes(2000))
    assert silent.rms_dbfs == lo_recording.SILENCE_DBFS
    assert measure_level(b"").peak_dbfs == lo_recording.SILENCE_DBFS


def test_take_stops_at_limit():
    take = Take(sample_rate=8000, max_seconds=2.0)
    accepted = take.append(bytes(8000 * 2 * 3 // 2))  # 1.5 s
    assert len(accepted) == 8000 * 3
    assert not take.full
    accepted = take.append(bytes(8000 * 2))  # 1 s more, only 0.5 s fits
    assert len(accepted) == 8000
    assert take.full
    assert take.seconds == pytest.approx(2.0)
    assert take.append(b"\x01\x00") == b""
    assert len(take.pcm()) == 2 * 8000 * 2


def test_mp3_round_trip_keeps_length_and_loudness(tmp_path):
    pcm = tone_pcm(3.0)
    mp3 = encode_mp3(pcm)
    assert mp3[:2] == b"\xff\xfb"  # MPEG-1 Layer III frame sync, no CRC
    # 64 kbit/s for 3 s is 24 kB, give or take a frame.
    assert 23000 < len(mp3) < 26000
    path = tmp_path / "tone.mp3"
    path.write_bytes(mp3)
    seconds, rms, _ = decode_mp3(path)
    assert seconds == pytest.approx(3.0, abs=0.06)
    assert rms == pytest.approx(-9.03, abs=0.6)  # lossy coding and the padding cost a little


def test_decode_wav_10s_accepted(tmp_path):
    decoded = decode_file(write_wav(tmp_path / "hello.wav", 10.0))
    assert decoded.source_format == "WAV"
    assert decoded.seconds == pytest.approx(10.0, abs=0.001)
    assert decoded.sample_rate == 44100
    assert measure_level(decoded.pcm).rms_dbfs == pytest.approx(-9.03, abs=0.2)


def test_decode_stereo_48k_wav_resamples(tmp_path):
    decoded = decode_file(write_wav(tmp_path / "stereo.wav", 2.0, rate=48000, channels=2))
    assert decoded.sample_rate == 44100
    assert decoded.seconds == pytest.approx(2.0, abs=0.01)
    assert measure_level(decoded.pcm).rms_dbfs == pytest.approx(-9.03, abs=0.3)


def test_decode_wav_31s_rejected(tmp_path):
    with pytest.raises(RecordingError) as caught:
        decode_file(write_wav(tmp_path / "long.wav", 31.0))
    message = str(caught.value)
    assert "long.wav is 31.0 s long" in message
    assert "at most 30 s" in message


def test_decode_mp3_31s_rejected(tmp_path):
    path = tmp_path / "long.mp3"
    path.write_bytes(encode_mp3(tone_pcm(31.0)))
    with pytest.raises(RecordingError, match=r"long.mp3 is 31\.0 s long"):
        decode_file(path)


def test_decode_own_30s_mp3_accepted(tmp_path):
    # The encoder's padding makes a 30.000 s take decode a little longer; it must still pass.
    path = tmp_path / "limit.mp3"
    path.write_bytes(encode_mp3(tone_pcm(30.0)))
    decoded = decode_file(path)
    assert decoded.source_format == "MP3"
    assert decoded.seconds == pytest.approx(30.0, abs=0.001)


def test_injected_limit_applies(tmp_path):
    with pytest.raises(RecordingError, match="at most 5 s"):
        decode_file(write_wav(tmp_path / "six.wav", 6.0), max_seconds=5.0)


@pytest.mark.parametrize("name, content, expected", [
    ("notes.mp3", b"Call Dana back about the refi\n" * 50, "is not an MP3 or WAV file"),
    ("picture.wav", b"\x89PNG\r\n\x1a\n" + os.urandom(4000), "is not an MP3 or WAV file"),
    ("empty.wav", b"", "is not an MP3 or WAV file"),
    ("broken.wav", b"RIFF\x24\x00\x00\x00WAVEjunk" + os.urandom(64), "could not be decoded"),
    ("noise.mp3", b"\xff\xfb" + bytes(3000), "could not be decoded"),
])
def test_non_audio_rejected(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=expected):
        decode_file(path)


def test_too_short_rejected(tmp_path):
    with pytest.raises(RecordingError, match="only 0.20 s long"):
        decode_file(write_wav(tmp_path / "blip.wav", 0.2))


def test_missing_file_rejected(tmp_path):
    with pytest.raises(RecordingError, match="was not found"):
        decode_file(tmp_path / "nowhere.wav")


def test_float_wav_accepted(tmp_path):
    # 32-bit float WAV (format tag 3), which the standard library's wave module cannot read.
    rate, seconds = 22050, 1.0
    samples = array.array("h", tone_pcm(seconds, rate))
    floats = array.array("f", (s / 32768 for s in samples)).tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(floats)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 3, 1, rate, rate * 4, 4, 32)
    header += b"data" + struct.pack("<I", len(floats))
    path = tmp_path / "float.wav"
    path.write_bytes(header + floats)
    decoded = decode_file(path)
    assert decoded.seconds == pytest.approx(1.0, abs=0.01)


def test_save_stores_file_path_and_token(ctx):
    lo_id = add_lo(ctx)
    relative = lo_recording.save(ctx.db, ctx.data_dir, lo_id, encode_mp3(tone_pcm(2.0)))
    assert relative == f"recordings/lo-{lo_id}.mp3"
    with ctx.db.read() as session:
        lo = session.get(models.LoanOfficer, lo_id)
    assert lo.recording_file == relative
    assert lo.recording_token and len(lo.recording_token) >= 32
    seconds, rms, _ = decode_mp3(ctx.data_dir / relative)
    assert seconds == pytest.approx(2.0, abs=0.06)
    assert rms > -12
    saved = lo_recording.current(ctx.db, ctx.data_dir, lo_id)
    assert saved.path == ctx.data_dir / relative
    assert saved.seconds == pytest.approx(2.0, abs=0.06)


def test_save_replaces_and_keeps_token(ctx):
    lo_id = add_lo(ctx)
    lo_recording.save(ctx.db, ctx.data_dir, lo_id, encode_mp3(tone_pcm(2.0)))
    with ctx.db.read() as session:
        first_token = session.get(models.LoanOfficer, lo_id).recording_token
    lo_recording.save(ctx.db, ctx.data_dir, lo_id, encode_mp3(tone_pcm(5.0)))
    with ctx.db.read() as session:
        assert session.get(models.LoanOfficer, lo_id).recording_token == first_token
    folder = ctx.data_dir / "recordings"
    assert sorted(p.name for p in folder.iterdir()) == [f"lo-{lo_id}.mp3"]
    assert decode_mp3(folder / f"lo-{lo_id}.mp3")[0] == pytest.approx(5.0, abs=0.06)


def test_save_creates_missing_token(ctx):
    lo_id = add_lo(ctx)

    def clear_token(uow):
        uow.session.get(models.LoanOfficer, lo_id).recording_token = None

    ctx.db.write(clear_token)
    lo_recording.save(ctx.db, ctx.data_dir, lo_id, encode_mp3(tone_pcm(1.0)))
    with ctx.db.read() as session:
        assert session.get(models.LoanOfficer, lo_id).recording_token


def test_failed_write_keeps_old_file(ctx):
    lo_id = add_lo(ctx)
    lo_recording.save(ctx.db, ctx.data_dir, lo_id, encode_mp3(tone_pcm(2.0)))
    target = ctx.data_dir / "recordings" / f"lo-{lo_id}.mp3"
    before = target.read_bytes()
    # A released buffer makes the write fail after the temporary file exists, as a full
    # disk would, and works the same when the tests run as root.
    broken = memoryview(encode_mp3(tone_pcm(4.0)))
    broken.release()
    with pytest.raises(ValueError, match="released"):
        lo_recording._write_replacing(target, broken)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_save_unknown_lo_rejected(ctx):
    with pytest.raises(RecordingError, match="No loan officer has id 99"):
        lo_recording.save(ctx.db, ctx.data_dir, 99, encode_mp3(tone_pcm(1.0)))
    assert not (ctx.data_dir / "recordings").exists()


def test_current_without_recording(ctx):
    lo_id = add_lo(ctx)
    saved = lo_recording.current(ctx.db, ctx.data_dir, lo_id)
    assert saved.lo_name == "Dana Reyes"
    assert saved.path is None
    assert saved.seconds is None


def test_wav_written_by_wave_module_is_sniffed(tmp_path):
    path = tmp_path / "x.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(tone_pcm(1.0, 16000))
    assert lo_recording._sniff(path.read_bytes()[:16]) == "WAV"
