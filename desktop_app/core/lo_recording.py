"""The LO's voicemail-drop message: PCM takes, level, MP3 encoding, file import and storage."""

from __future__ import annotations

import array
import logging
import math
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import lameenc
import miniaudio

from desktop_app.core import models

log = logging.getLogger(__name__)

# Drop providers cut messages off after 30 seconds.
MAX_SECONDS = 30.0
# MP3 decoders return the encoder's delay and end padding as extra samples (about 50 ms
# for LAME at 44.1 kHz), so a file cut at exactly 30 s decodes a little longer.
MP3_PADDING_SECONDS = 0.1
# Shorter than this is a slip of the mouse, not a message.
MIN_SECONDS = 0.5
SAMPLE_RATE = 44100
# Voice, mono, played to a phone line that carries 8 kHz audio: 64 kbit/s keeps speech clear
# and a 30 s file near 240 KB.
MP3_BITRATE_KBPS = 64
RECORDINGS_DIR = "recordings"
# A 30 s WAV at 192 kHz, 8 channels, 32-bit is about 184 MB; larger files cannot be within
# the limit at any common format, so they are rejected before reading.
MAX_IMPORT_BYTES = 200 * 1024 * 1024
SILENCE_DBFS = -90.0

SAMPLE_FORMATS = ("u8", "s16", "s32", "f32")
_SAMPLE_WIDTHS = {"u8": 1, "s16": 2, "s32": 4, "f32": 4}


class RecordingError(ValueError):
    """A recording that cannot be used or stored. The message gives the reason and the fix."""


@dataclass(frozen=True)
class PcmFormat:
    """Raw PCM layout: frames per second, interleaved channels, one of SAMPLE_FORMATS."""

    sample_rate: int
    channels: int
    sample_format: str

    @property
    def bytes_per_frame(self) -> int:
        return _SAMPLE_WIDTHS[self.sample_format] * self.channels


MONO_S16 = PcmFormat(SAMPLE_RATE, 1, "s16")


@dataclass(frozen=True)
class Level:
    """Loudness of a stretch of audio in dB relative to full scale (0 is the loudest)."""

    rms_dbfs: float
    peak_dbfs: float


@dataclass(frozen=True)
class DecodedAudio:
    """Mono 16-bit PCM decoded from a file, with what the file was."""

    pcm: bytes
    sample_rate: int
    seconds: float
    source_format: str  # "MP3" or "WAV"


def to_mono_s16(data: bytes, fmt: PcmFormat) -> bytes:
    """Convert interleaved PCM in any of SAMPLE_FORMATS to mono signed 16-bit by averaging channels."""
    if fmt.sample_format not in SAMPLE_FORMATS:
        raise RecordingError(f"sample format {fmt.sample_format!r} is not one of "
                             f"{', '.join(SAMPLE_FORMATS)}")
    usable = len(data) - len(data) % fmt.bytes_per_frame
    data = data[:usable]
    if fmt.sample_format == "s16" and fmt.channels == 1:
        return bytes(data)

    if fmt.sample_format == "u8":
        samples = [(value - 128) << 8 for value in data]
    elif fmt.sample_format == "s16":
        samples = array.array("h", data)
    elif fmt.sample_format == "s32":
        samples = [value >> 16 for value in array.array("i", data)]
    else:
        samples = [max(-32768, min(32767, int(value * 32767.0))) for value in array.array("f", data)]

    channels = fmt.channels
    if channels == 1:
        return array.array("h", samples).tobytes()
    mixed = array.array("h", (
        sum(samples[i:i + channels]) // channels for i in range(0, len(samples), channels)))
    return mixed.tobytes()


def _dbfs(value: float) -> float:
    if value <= 0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * math.log10(value / 32768.0))


def measure_level(pcm: bytes) -> Level:
    """Measure RMS and peak of mono signed 16-bit PCM."""
    samples = array.array("h", pcm[:len(pcm) - len(pcm) % 2])
    if not samples:
        return Level(SILENCE_DBFS, SILENCE_DBFS)
    square_sum = math.fsum(float(s) * s for s in samples)
    rms = math.sqrt(square_sum / len(samples))
    peak = max(abs(max(samples)), abs(min(samples)))
    return Level(_dbfs(rms), _dbfs(peak))


class Take:
    """One recording in memory: mono 16-bit PCM that stops growing at max_seconds."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, max_seconds: float = MAX_SECONDS):
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {max_seconds!r}")
        self.sample_rate = sample_rate
        self.max_seconds = max_seconds
        self.max_bytes = int(round(max_seconds * sample_rate)) * 2
        self._chunks: list[bytes] = []
        self._size = 0

    @property
    def seconds(self) -> float:
        return self._size / 2 / self.sample_rate

    @property
    def full(self) -> bool:
        return self._size >= self.max_bytes

    @property
    def empty(self) -> bool:
        return self._size == 0

    def append(self, pcm: bytes) -> bytes:
        """Add mono 16-bit PCM up to the limit and return the part that was accepted."""
        room = self.max_bytes - self._size
        accepted = bytes(pcm[:max(0, room - room % 2)])
        if accepted:
            self._chunks.append(accepted)
            self._size += len(accepted)
        return accepted

    def pcm(self) -> bytes:
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0] if self._chunks else b""


def encode_mp3(pcm: bytes, sample_rate: int = SAMPLE_RATE,
               bitrate_kbps: int = MP3_BITRATE_KBPS) -> bytes:
    """Encode mono signed 16-bit PCM as a constant-bitrate MP3."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(2)  # LAME's "high quality" setting: 30 s encodes in about 0.15 s
    return bytes(encoder.encode(pcm) + encoder.flush())


def _sniff(head: bytes) -> str | None:
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:3] == b"ID3":
        return "MP3"
    # An MPEG audio frame starts with 11 set sync bits.
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "MP3"
    return None


def _info(data: bytes, kind: str) -> miniaudio.SoundFileInfo:
    if kind == "WAV":
        return miniaudio.wav_get_info(data)
    return miniaudio.mp3_get_info(data)


def decode_file(path: Path, max_seconds: float = MAX_SECONDS) -> DecodedAudio:
    """Decode an MP3 or WAV file to mono 16-bit PCM at SAMPLE_RATE, checking its length.

    The length is the decoder's count of PCM frames, so it is exact even for a
    variable-bitrate MP3 without a Xing header. The length is checked before the full
    decode. Raises RecordingError for a file that is missing, not MP3 or WAV, not
    decodable, shorter than MIN_SECONDS or longer than max_seconds.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            raise RecordingError(f"{path.name} is {size / 1e6:.0f} MB, too large to be a message of "
                                 f"{max_seconds:g} s or less. Choose a shorter file.")
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecordingError(f"{path} was not found. Choose the file again.") from None
    except IsADirectoryError:
        raise RecordingError(f"{path} is a folder. Choose an MP3 or WAV file.") from None
    except PermissionError:
        raise RecordingError(f"{path} cannot be read (permission denied). Copy it to a folder "
                             f"you own and import it from there.") from None

    kind = _sniff(data[:16])
    if kind is None:
        raise RecordingError(f"{path.name} is not an MP3 or WAV file. Export the message as "
                             f"MP3 or WAV and import that.")
    try:
        info = _info(data, kind)
    except miniaudio.DecodeError:
        raise RecordingError(f"{path.name} looks like {kind} but could not be decoded. It may be "
                             f"damaged or use an unusual encoding. Re-export it as MP3 or 16-bit "
                             f"PCM WAV.") from None
    if info.num_frames <= 0 or info.sample_rate <= 0:
        raise RecordingError(f"{path.name} contains no audio. Choose another file.")
    seconds = info.num_frames / info.sample_rate
    limit = max_seconds + (MP3_PADDING_SECONDS if kind == "MP3" else 0.0)
    if seconds > limit:
        raise RecordingError(f"{path.name} is {seconds:.1f} s long, but a voicemail drop can be at "
                             f"most {max_seconds:g} s. Trim it and import it again.")
    if seconds < MIN_SECONDS:
        raise RecordingError(f"{path.name} is only {seconds:.2f} s long. Record a message of at "
                             f"least {MIN_SECONDS:g} s.")

    try:
        decoded = miniaudio.decode(data, output_format=miniaudio.SampleFormat.SIGNED16,
                                   nchannels=1, sample_rate=SAMPLE_RATE)
    except miniaudio.DecodeError:
        raise RecordingError(f"{path.name} could not be decoded past its header. It may be "
                             f"damaged. Re-export it and import it again.") from None
    pcm = decoded.samples.tobytes()
    # A file that was just within the limit can grow by a frame or two while resampling.
    pcm = pcm[:int(round(max_seconds * SAMPLE_RATE)) * 2]
    return DecodedAudio(pcm=pcm, sample_rate=SAMPLE_RATE, seconds=len(pcm) / 2 / SAMPLE_RATE,
                        source_format=kind)


def mp3_seconds(path: Path) -> float | None:
    """Return the decoded length of an MP3 file, or None when it is missing or not decodable."""
    try:
        info = miniaudio.mp3_get_info(Path(path).read_bytes())
    except (OSError, miniaudio.DecodeError):
        return None
    return info.num_frames / info.sample_rate if info.sample_rate else None


# -- storage ---------------------------------------------------------------------------------

def relative_path(lo_id: int) -> str:
    """Return the path stored in LoanOfficer.recording_file, relative to the data folder."""
    return f"{RECORDINGS_DIR}/lo-{lo_id}.mp3"


@dataclass(frozen=True)
class SavedRecording:
    """An LO's saved recording: absolute path (None when nothing is saved), length and URL token."""

    lo_id: int
    lo_name: str
    path: Path | None
    seconds: float | None
    token: str | None


def _loan_officer(db, lo_id: int) -> models.LoanOfficer:
    with db.read() as session:
        lo = session.get(models.LoanOfficer, lo_id)
    if lo is None:
        raise RecordingError(f"No loan officer has id {lo_id}. Reopen the recorder from the "
                             f"list of loan officers.")
    return lo


def current(db, data_dir: Path, lo_id: int) -> SavedRecording:
    """Look up an LO's saved recording. Raises RecordingError for an unknown LO."""
    lo = _loan_officer(db, lo_id)
    name, stored, token = lo.name, lo.recording_file, lo.recording_token
    path = Path(data_dir) / stored if stored else None
    if path is not None and not path.is_file():
        log.warning("Recording %r of LO %d is missing from the data folder", stored, lo_id)
        path = None
    seconds = mp3_seconds(path) if path is not None else None
    return SavedRecording(lo_id, name, path, seconds, token)


def _write_replacing(target: Path, data: bytes) -> None:
    """Write data to a temporary file beside target, flush it to disk, then rename it over target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    if sys.platform != "win32":
        # The rename is durable only once the folder entry is on disk too.
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _link_recording(uow, lo_id: int, relative: str) -> str:
    lo = uow.session.get(models.LoanOfficer, lo_id)
    if lo is None:
        raise RecordingError(f"Loan officer {lo_id} was deleted while the recording was saved.")
    lo.recording_file = relative
    if not lo.recording_token:
        lo.recording_token = secrets.token_urlsafe(24)
    uow.add(lo)
    return lo.recording_token


def save(db, data_dir: Path, lo_id: int, mp3: bytes) -> str:
    """Store an MP3 as the LO's recording, replacing any earlier one, and return its relative path.

    The file is renamed into place in one step, so a crash or a full disk leaves either the
    old recording or the new one, never half a file.
    """
    _loan_officer(db, lo_id)  # fails before writing anything for an unknown LO
    relative = relative_path(lo_id)
    target = Path(data_dir) / relative
    try:
        _write_replacing(target, mp3)
    except PermissionError as exc:
        raise RecordingError(f"Could not replace {target}: {exc.strerror}. Another program may "
                             f"have the file open. Close it and save again.") from None
    except OSError as exc:
        raise RecordingError(f"Could not write {target}: {exc.strerror or exc}. Free some disk "
                             f"space or check the data folder's permissions, then save again.") from None
    db.write(_link_recording, lo_id, relative)
    log.info("Saved LO %d's voicemail recording to %s (%d bytes)", lo_id, relative, len(mp3))
    return relative
