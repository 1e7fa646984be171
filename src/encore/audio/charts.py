"""Pictures of what the CNN sees: log-mel spectrograms of a few clips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from encore.audio.signal import HOP, SAMPLE_RATE, AudioCache


def spectrogram_grid(
    files: Sequence[Path], titles: Sequence[str], out: Path, cache: AudioCache | None = None
) -> Path:
    """One PNG with the log-mel spectrogram (dB) of each file, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cache = cache or AudioCache.default()
    specs = [cache.spectrogram(f) for f in files]
    fig, axes = plt.subplots(1, len(specs), figsize=(3.6 * len(specs), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    im = None
    for ax, spec, title in zip(axes, specs, titles, strict=True):
        seconds = spec.shape[1] * HOP / SAMPLE_RATE
        im = ax.imshow(
            spec, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, spec.shape[0])
        )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("seconds")
    axes[0].set_ylabel("mel band")
    if im is not None:
        fig.colorbar(im, ax=list(axes), label="dB", shrink=0.8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out
