"""Decode audio files and turn them into log-mel spectrograms and classic feature vectors.

Decoding uses ``soundfile`` (libsndfile >= 1.1 reads MP3, WAV, FLAC, OGG); files it cannot
read fall back to ``librosa.load`` (audioread / ffmpeg). Audio is downmixed to mono and
resampled to 22,050 Hz (soxr). The STFT is computed here with NumPy (Hann window, centred,
reflect padding, as librosa does) and projected on librosa's Slaney mel filter bank; this
avoids librosa's numba start-up cost on every call. Both the spectrogram and the classic
features (MFCC, chroma, spectral statistics) are cached on disk under the file's SHA-256
digest, so a clip is decoded once however often it is evaluated.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encore.config import Settings
from encore.errors import DataError, MissingDependencyError

log = logging.getLogger(__name__)

SAMPLE_RATE = 22_050
N_FFT = 2048
HOP = 512
N_MELS = 64
FMAX = 11_025.0
#: Spectrogram settings, part of the cache key (a change recomputes).
SPEC_VERSION = f"v1-sr{SAMPLE_RATE}-fft{N_FFT}-hop{HOP}-mel{N_MELS}"
FEAT_VERSION = "v1"
AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".m4a", ".opus")


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (the cache key)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$ENCORE_CACHE/audio`` (default ``~/.cache/encore/audio``)."""
    return Settings.from_env().cache_dir / "audio"


def decode(path: Path, sr: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``sr`` Hz.

    Raises
    ------
    DataError
        The file does not exist, cannot be decoded, or holds no samples.
    """
    if not path.is_file():
        raise DataError("no such audio file", file=str(path))
    try:
        import soundfile as sf
        import soxr
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("soundfile", "audio") from exc
    try:
        frames = -1
        if max_seconds is not None:
            frames = int(sf.info(str(path)).samplerate * max_seconds)
        data, native = sf.read(str(path), dtype="float32", always_2d=True, frames=frames)
        mono = data.mean(axis=1)
    except Exception as first:  # libsndfile could not read it: try librosa/audioread
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mono, native = librosa.load(str(path), sr=None, mono=True, duration=max_seconds)
        except Exception as exc:
            raise DataError(f"cannot decode audio ({first}; {exc})", file=str(path)) from exc
    if mono.size == 0:
        raise DataError("the file holds no audio samples", file=str(path))
    if not np.all(np.isfinite(mono)):
        raise DataError("the decoded audio holds NaN or infinite samples", file=str(path))
    if native != sr:
        mono = soxr.resample(mono, native, sr)
    return np.ascontiguousarray(mono, dtype=np.float32)


@functools.cache
def mel_filters(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa's Slaney mel filter bank, ``(n_mels, n_fft // 2 + 1)`` float32."""
    try:
        import librosa
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError("librosa", "audio") from exc
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmax=FMAX).astype(np.float32)


def power_spectrogram(y: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """|STFT|^2, ``(n_fft // 2 + 1, frames)``: Hann window, centred with zero padding."""
    if y.size < 2:
        y = np.pad(y, (0, 2 - y.size))
    pad = n_fft // 2
    padded = np.pad(y.astype(np.float32), (pad, pad), mode="constant")
    if padded.size < n_fft:
        padded = np.pad(padded, (0, n_fft - padded.size))
    frames = 1 + (padded.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    spec = np.fft.rfft(padded[idx] * window, axis=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32).T


def log_mel(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Log-mel spectrogram in dB (``10 log10(max(S, 1e-10))``, top 80 dB kept), ``(N_MELS, frames)``."""
    mel = (power_spectrogram(y).T @ mel_filters(sr).T).T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db, db.max() - 80.0).astype(np.float32)


def classic_features(y: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, list[str]]:
    """The classic hand-made summary (the FMA / GTZAN baseline family): mean and std of
    20 MFCCs, 12 chroma bins, spectral centroid, bandwidth, roll-off, 7 contrast bands,
    zero-crossing rate and RMS, plus the tempo estimate (89 values)."""
    try:
        import librosa
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError("librosa", "audio") from exc
    S = power_spectrogram(y)
    mag = np.sqrt(S)
    melspec = librosa.feature.melspectrogram(S=S, sr=sr, n_mels=128)
    blocks: list[tuple[str, np.ndarray]] = [
        ("mfcc", librosa.feature.mfcc(S=librosa.power_to_db(melspec), n_mfcc=20)),
        ("chroma", librosa.feature.chroma_stft(S=S, sr=sr)),
        ("centroid", librosa.feature.spectral_centroid(S=mag, sr=sr)),
        ("bandwidth", librosa.feature.spectral_bandwidth(S=mag, sr=sr)),
        ("rolloff", librosa.feature.spectral_rolloff(S=mag, sr=sr)),
        ("contrast", librosa.feature.spectral_contrast(S=mag, sr=sr)),
        ("zcr", librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)),
        ("rms", librosa.feature.rms(S=mag, frame_length=N_FFT)),
    ]
    values: list[float] = []
    names: list[str] = []
    for name, m in blocks:
        for stat, fn in (("mean", np.mean), ("std", np.std)):
            v = fn(m, axis=1)
            values.extend(float(x) for x in v)
            names.extend(
                f"{name}{i + 1}_{stat}" if m.shape[0] > 1 else f"{name}_{stat}"
                for i in range(m.shape[0])
            )
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(melspec), sr=sr)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=sr))[0])
    values.append(tempo)
    names.append("tempo")
    return np.asarray(values, dtype=np.float32), names


@dataclass(frozen=True)
class AudioCache:
    """Spectrograms and classic features on disk, one ``.npy`` per file digest."""

    root: Path

    @classmethod
    def default(cls) -> AudioCache:
        return cls(default_cache_dir())

    def _path(self, kind: str, digest: str) -> Path:
        return self.root / kind / digest[:2] / f"{digest}.npy"

    def _get(self, kind: str, digest: str) -> np.ndarray | None:
        p = self._path(kind, digest)
        if p.is_file():
            try:
                return np.load(p, allow_pickle=False)
            except (OSError, ValueError):
                log.warning("damaged cache file %s: recomputing", p)
        return None

    def _put(self, kind: str, digest: str, value: np.ndarray) -> None:
        p = self._path(kind, digest)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp.npy")
        np.save(tmp, value, allow_pickle=False)
        tmp.replace(p)

    def spectrogram(self, path: Path, digest: str | None = None) -> np.ndarray:
        """The log-mel spectrogram of ``path`` (cached)."""
        key = f"{SPEC_VERSION}-{digest or file_digest(path)}"
        hit = self._get("mel", key)
        if hit is None:
            hit = log_mel(decode(path))
            self._put("mel", key, hit)
        return hit

    def features(self, path: Path, digest: str | None = None) -> np.ndarray:
        """The classic feature vector of ``path`` (cached)."""
        key = f"{FEAT_VERSION}-{digest or file_digest(path)}"
        hit = self._get("feat", key)
        if hit is None:
            hit, _ = classic_features(decode(path))
            self._put("feat", key, hit)
        return hit


def feature_names() -> list[str]:
    """Names of :func:`classic_features`' values, in order."""
    _, names = classic_features(np.zeros(SAMPLE_RATE, dtype=np.float32) + 1e-3)
    return names


def audio_files(folder: Path) -> list[Path]:
    """Every audio file under ``folder`` (recursive, sorted)."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    )
