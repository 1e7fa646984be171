"""Regex tokenisation of lyrics (NLTK's punkt data is not shipped, and lyrics have no
sentences anyway: the line is the unit)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (apostrophes inside words kept: ``can't``, ``i'm``)."""
    return _WORD.findall(text.lower())


def norm(text: str) -> str:
    """A line reduced to its words, for comparing repeated lines."""
    return " ".join(words(text))


def lines(text: str) -> list[str]:
    """The non-empty lines of a text, stripped (lines with no word at all dropped)."""
    return [ln.strip() for ln in text.splitlines() if words(ln)]
