"""Speed of embedding one 10-s clip with the audio CNN, against librosa's front end, same run.

For ``--clips`` real clips of ``shared/data/genre-audio`` (every genre), after the model is
loaded and one warm-up clip:

1. **Encore, whole path**: decode (soundfile) + resample (soxr) + log-mel (NumPy STFT,
   librosa's mel filter bank) + the CNN's forward pass -> embedding and genre, no cache;
2. **Encore front end only**: decode + log-mel;
3. **peer, librosa front end**: ``librosa.load(sr=22050)`` + ``librosa.feature.melspectrogram``
   + ``power_to_db`` (the same spectrogram), and the ratio to Encore's front end;
4. **classic features** (the baseline's MFCC / chroma / spectral statistics) from decoded audio.

Median and 95th percentile wall and process CPU time per clip, with the load average
before and after (the machine may be shared); aim: the whole path under 0.2 s on CPU.
The model is a fresh, untrained network of the default size unless ``--model`` names a
saved one (the forward cost does not depend on the weights).

Usage::

    python benchmarks/bench_audio.py                 # 40 clips, prints the Markdown section
    python benchmarks/bench_audio.py --write         # and replaces it in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from encore.audio.cnn import AudioModel, CNNConfig, build_network
from encore.audio.signal import SAMPLE_RATE, classic_features, decode, log_mel

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## Audio embedding of one clip"
DATA = Path(os.environ.get("ENCORE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
AIM_S = 0.2


def machine() -> str:
    """CPU model, cores, memory."""
    model = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.machine()}"


def timed(fn: Callable[[Path], object], files: list[Path]) -> tuple[list[float], list[float]]:
    """Wall and process CPU seconds per file, after one warm-up call."""
    fn(files[0])
    wall, cpu = [], []
    for f in files:
        t, c = time.perf_counter(), time.process_time()
        fn(f)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument(
        "--write", action="store_true", help="replace the section in docs/benchmarks.md"
    )
    args = ap.parse_args()

    import librosa
    import torch

    torch.set_num_threads(args.threads)
    folder = DATA / "genre-audio"
    per = max(1, args.clips // 4)
    files = [
        p
        for g in ("classical", "electronic", "pop", "rock")
        for p in sorted((folder / g).glob("*.mp3"))[:per]
    ]
    if args.model is not None:
        model = AudioModel.load(args.model)
        which = f"saved model `{args.model.name}`"
    else:
        cfg = CNNConfig()
        model = AudioModel(
            ["a", "b", "c", "d"], cfg, -40.0, 20.0, build_network(4, cfg.channels, 0.0), 64
        )
        which = "untrained network of the default size"
    load0 = os.getloadavg()[0]

    def encore_full(f: Path) -> object:
        return model._forward([log_mel(decode(f))])

    def encore_front(f: Path) -> object:
        return log_mel(decode(f))

    def librosa_front(f: Path) -> object:
        y, _ = librosa.load(str(f), sr=SAMPLE_RATE, mono=True)
        s = librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_mels=64, fmax=11_025)
        return librosa.power_to_db(s, ref=1.0, top_db=80.0)

    def classic(f: Path) -> object:
        return classic_features(decode(f))

    specs = {f: log_mel(decode(f)) for f in files}

    def forward_only(f: Path) -> object:
        return model._forward([specs[f]])

    rows = []
    for name, fn in (
        ("Encore: decode + log-mel + CNN forward (embedding and genre)", encore_full),
        ("Encore front end: decode + log-mel", encore_front),
        ("CNN forward only (spectrogram cached)", forward_only),
        ("peer: librosa.load + melspectrogram + power_to_db", librosa_front),
        ("classic features (baseline): decode + MFCC/chroma/spectral stats", classic),
    ):
        wall, cpu = timed(fn, files)
        rows.append(
            (
                name,
                statistics.median(wall),
                float(np.percentile(wall, 95)),
                statistics.median(cpu),
                float(np.percentile(cpu, 95)),
            )
        )
    ratio = rows[3][1] / rows[1][1]
    ratio_cpu = rows[3][3] / rows[1][3]
    load1 = os.getloadavg()[0]
    lines = [
        SECTION,
        "",
        f"`benchmarks/bench_audio.py`, run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
        f"torch {torch.__version__} with {args.threads} thread(s), librosa {librosa.__version__}; "
        f"{len(files)} real 10-s MP3 clips of genre-audio (one warm-up first), {which}. "
        f"Load average before/after: {load0:.1f} / {load1:.1f} (the machine is shared; wall times under load are pessimistic).",
        "",
        "| step (per 10-s clip, no cache) | wall median s | wall p95 s | CPU median s | CPU p95 s |",
        "|---|---:|---:|---:|---:|",
        *[f"| {n} | {m:.3f} | {p:.3f} | {c:.3f} | {c95:.3f} |" for n, m, p, c, c95 in rows],
        "",
        f"Aim (issue #15): embedding one clip under {AIM_S} s on CPU after the model is loaded: "
        f"wall {rows[0][1]:.3f} s median ({'met' if rows[0][1] < AIM_S else 'not met'} at this load), "
        f"CPU {rows[0][3]:.3f} s median and {rows[0][4]:.3f} s p95 ({'met' if rows[0][4] < AIM_S else 'not met'}); "
        "on an idle machine the wall time approaches the CPU time. "
        f"librosa's front end / Encore's: {ratio:.2f}x wall, {ratio_cpu:.2f}x CPU (the same spectrogram, within 1e-3 dB). "
        "A cached clip skips decoding and the spectrogram (the cache is keyed by the file's SHA-256).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        if SECTION in doc:
            start = doc.index(SECTION)
            nxt = doc.find("\n## ", start + len(SECTION))
            doc = doc[:start] + text + (doc[nxt + 1 :] if nxt != -1 else "")
        else:
            doc = doc.rstrip("\n") + "\n\n" + text
        DOC.write_text(doc, encoding="utf-8")


if __name__ == "__main__":
    main()
