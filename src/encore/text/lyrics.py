"""Chorus-aware extractive summaries of lyrics.

A summary keeps the chorus once and adds the most central verse lines, in the song's
order, up to a target length:

1. **Units.** Lyrics with line breaks are read line by line. Preprocessed lyrics (one long
   run of lemmatised words, as in tcc_ceds) are read word by word for the chorus and cut
   into windows of :data:`WINDOW` words for the verse.
2. **Chorus.** The repeated block: among runs of consecutive units (lines, or words for
   line-less text) that occur at least twice without overlapping, the one that covers the
   most text beyond its first occurrence, ``(occurrences - 1) x words``; ties go to the
   earlier block. Runs of one repeated line count too (a hook), so a song whose only
   repetition is its title line keeps that line.
3. **Verse lines.** The units outside every occurrence of the chorus, deduplicated, ranked
   by TextRank (PageRank over the cosine similarities of their sentence embeddings,
   damping 0.85), taken best first until the summary reaches the target, then put back
   in the song's order.

Baselines for the evaluation: ``textrank`` (TextRank over all distinct units, no chorus
step) and ``first`` (the first units up to the same length).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from encore.errors import ConfigError, DataError
from encore.text.tokenize import lines as text_lines
from encore.text.tokenize import norm, words

#: Words per verse unit in line-less (preprocessed) lyrics.
WINDOW = 8
#: Longest chorus searched, in lines (line-based) or words (line-less).
MAX_CHORUS_LINES = 12
MAX_CHORUS_WORDS = 60
METHODS = ("chorus", "textrank", "first")


@dataclass
class Chorus:
    """The repeated block: its units, how often it occurs and where (unit indices)."""

    units: list[str]
    count: int
    starts: list[int]

    @property
    def text(self) -> str:
        return "\n".join(self.units)


@dataclass
class Summary:
    """An extractive summary: its units in the song's order and what they came from."""

    units: list[str]
    method: str
    chorus: Chorus | None
    source_words: int
    line_based: bool
    kinds: list[str] = field(default_factory=list)  # 'chorus' or 'verse' per unit

    @property
    def text(self) -> str:
        return "\n".join(self.units)

    @property
    def words(self) -> int:
        return sum(len(u.split()) for u in self.units)

    @property
    def compression(self) -> float:
        """Summary words over source words."""
        return self.words / self.source_words if self.source_words else 0.0


def _occurrences(seq: Sequence[str], n: int) -> dict[tuple[str, ...], list[int]]:
    """Non-overlapping start positions of every n-gram of ``seq`` occurring twice or more."""
    starts: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i in range(len(seq) - n + 1):
        gram = tuple(seq[i : i + n])
        pos = starts[gram]
        if not pos or i >= pos[-1] + n:
            pos.append(i)
    return {g: p for g, p in starts.items() if len(p) >= 2}


def find_repeat(
    seq: Sequence[str], max_n: int, weights: Sequence[int] | None = None
) -> tuple[int, int, list[int]] | None:
    """The repeated run maximising ``(count - 1) x weight``: ``(length, count, starts)``.

    ``weights`` are the words per unit (all 1 for word sequences); empty units never
    form a run.
    """
    w = list(weights) if weights is not None else [1] * len(seq)
    best: tuple[float, int, int, list[int]] | None = None
    for n in range(1, min(max_n, len(seq) // 2) + 1):
        found = _occurrences(seq, n)
        if not found:
            if n > 1:
                break  # no n-gram repeats, so no longer one does either
            continue
        for _gram, pos in found.items():
            size = sum(w[pos[0] : pos[0] + n])
            if size == 0:
                continue
            score = (len(pos) - 1) * size
            key = (score, -pos[0])
            if best is None or key > (best[0], -best[3][0]):
                best = (score, n, len(pos), pos)
    if best is None:
        return None
    return best[1], best[2], best[3]


def detect_chorus(text: str) -> Chorus | None:
    """The chorus of a lyric (see the module docstring), or None when nothing repeats."""
    units = text_lines(text)
    if len(units) >= 4:
        normed = [norm(u) for u in units]
        found = find_repeat(normed, MAX_CHORUS_LINES, [len(u.split()) for u in normed])
        if found is None:
            return None
        n, count, starts = found
        return Chorus(units[starts[0] : starts[0] + n], count, starts)
    toks = words(text)
    found = find_repeat(toks, MAX_CHORUS_WORDS)
    if found is None or found[0] < 3:  # a repeated word or pair is not a chorus
        return None
    n, count, starts = found
    return Chorus([" ".join(toks[starts[0] : starts[0] + n])], count, starts)


def _units(text: str, chorus: Chorus | None) -> tuple[list[str], list[int], bool]:
    """Verse units (outside the chorus's occurrences) and their positions; line-based?"""
    units = text_lines(text)
    if len(units) >= 4:
        n = len(chorus.units) if chorus else 0
        inside = {s + k for s in chorus.starts for k in range(n)} if chorus else set()
        keep = [(i, u) for i, u in enumerate(units) if i not in inside]
        return [u for _, u in keep], [i for i, _ in keep], True
    toks = words(text)
    if chorus:
        n = len(chorus.units[0].split())
        inside = {s + k for s in chorus.starts for k in range(n)}
    else:
        inside = set()
    rest = [(i, t) for i, t in enumerate(toks) if i not in inside]
    out, pos = [], []
    for j in range(0, len(rest), WINDOW):
        chunk = rest[j : j + WINDOW]
        out.append(" ".join(t for _, t in chunk))
        pos.append(chunk[0][0])
    return out, pos, False


def textrank(embeddings: np.ndarray, *, damping: float = 0.85, iters: int = 100) -> np.ndarray:
    """PageRank scores over the cosine-similarity graph of unit-length ``embeddings``."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0)
    sim = np.clip(embeddings @ embeddings.T, 0.0, None).astype(np.float64)
    np.fill_diagonal(sim, 0.0)
    rows = sim.sum(axis=1, keepdims=True)
    trans = np.divide(sim, rows, out=np.full_like(sim, 1.0 / n), where=rows > 0)
    score = np.full(n, 1.0 / n)
    for _ in range(iters):
        new = (1 - damping) / n + damping * (trans.T @ score)
        if np.abs(new - score).sum() < 1e-10:
            score = new
            break
        score = new
    return score


def _distinct(units: list[str], pos: list[int], exclude: set[str]) -> tuple[list[str], list[int]]:
    """Units in order with repeats (and lines already in the chorus) left out."""
    seen = set(exclude)
    out, out_pos = [], []
    for u, p in zip(units, pos, strict=True):
        key = norm(u)
        if key and key not in seen:
            seen.add(key)
            out.append(u)
            out_pos.append(p)
    return out, out_pos


def summarize(
    text: str,
    *,
    max_words: int | None = None,
    ratio: float = 0.3,
    method: str = "chorus",
    embed_fn: object = None,
) -> Summary:
    """An extractive summary of ``text`` of at most ``max_words`` (default ``ratio`` of it).

    ``method``: ``chorus`` (this module's), ``textrank`` or ``first`` (baselines). The
    chorus is kept whole even when it alone exceeds the target (a summary without it would
    miss what listeners remember); verse units are added while they fit.

    Raises
    ------
    DataError
        The text has no words.
    ConfigError
        Unknown method, or a target that is not positive.
    """
    from encore.text.embed import embed

    if method not in METHODS:
        raise ConfigError(f"unknown summary method {method!r}; use one of {', '.join(METHODS)}")
    if not 0 < ratio <= 1:
        raise ConfigError(f"--ratio must be in (0, 1], not {ratio}")
    if max_words is not None and max_words < 1:
        raise ConfigError(f"--words must be positive, not {max_words}")
    total = len(words(text))
    if total == 0:
        raise DataError("the lyrics have no words")
    target = max_words if max_words is not None else max(1, round(ratio * total))
    encode = embed if embed_fn is None else embed_fn
    chorus = detect_chorus(text) if method == "chorus" else None
    units, pos, line_based = _units(text, chorus)
    in_chorus = {norm(u) for u in chorus.text.splitlines()} if chorus else set()
    units, pos = _distinct(units, pos, in_chorus)
    picked: list[tuple[int, str, str]] = []
    used = 0
    if chorus is not None:
        picked.append((chorus.starts[0], chorus.text, "chorus"))
        used = len(chorus.text.split())
    if method == "first":
        order = list(range(len(units)))
    else:
        scores = textrank(encode(units)) if units else np.zeros(0)  # type: ignore[operator]
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
    for i in order:
        size = len(units[i].split())
        if used + size > target:
            if used == 0:  # never return nothing: the best unit alone
                picked.append((pos[i], units[i], "verse"))
                used += size
            if method == "first":
                break
            continue
        picked.append((pos[i], units[i], "verse"))
        used += size
    picked.sort(key=lambda p: p[0])
    return Summary(
        units=[u for _, u, _ in picked],
        method=method,
        chorus=chorus,
        source_words=total,
        line_based=line_based,
        kinds=[k for _, _, k in picked],
    )


def most_repeated_line(text: str) -> str | None:
    """The most repeated (normalised) unit: a line, or for line-less text the chorus n-gram."""
    units = text_lines(text)
    if len(units) >= 4:
        counts: dict[str, int] = defaultdict(int)
        for u in units:
            counts[norm(u)] += 1
        line, c = max(counts.items(), key=lambda kv: (kv[1], len(kv[0])))
        return line if c >= 2 else None
    chorus = detect_chorus(text)
    return norm(chorus.units[0]) if chorus else None


def redundancy(summary: Summary) -> float:
    """Share of the summary's units that repeat an earlier unit of it (0 is best)."""
    keys = [norm(u) for u in summary.units]
    if not keys:
        return 0.0
    return 1 - len(set(keys)) / len(keys)
