"""Sentence normalisations (``task.data.normalize``), applied before tokenisation.

- ``tutorial``: the PyTorch seq2seq tutorial's ``normalizeString`` as it is published now (the version that prints
  "Trimmed to 11445 sentence pairs"): lower-cased, accents dropped (NFD, marks removed), a space before ``.!?``,
  every run of characters other than ASCII letters, ``!`` and ``?`` (so ``.`` too) made one space, stripped.
  ``"Je suis fatigué."`` -> ``"je suis fatigue"``; ``"I'm OK!"`` -> ``"i m ok !"``.
- ``lower``: lower-cased, accents kept, words and punctuation split into space-separated tokens
  (:func:`seqlab.data.tokenize.tokenize`). ``"Je suis fatigué."`` -> ``"je suis fatigué ."``.
- ``none``: the text, stripped.
"""

from __future__ import annotations

import re
import unicodedata

from seqlab.data.tokenize import tokenize

NORMALIZATIONS = ("tutorial", "lower", "none")

_BEFORE_PUNCT = re.compile(r"([.!?])")
_NOT_KEPT = re.compile(r"[^a-zA-Z!?]+")


def unicode_to_ascii(text: str) -> str:
    """``text`` in NFD with its combining marks (category Mn) removed: ``"é"`` -> ``"e"``."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def tutorial(text: str) -> str:
    """The PyTorch seq2seq tutorial's ``normalizeString``."""
    text = unicode_to_ascii(text.lower().strip())
    text = _BEFORE_PUNCT.sub(r" \1", text)
    text = _NOT_KEPT.sub(" ", text)
    return text.strip()


def lower(text: str) -> str:
    """Lower-cased words and punctuation marks joined by single spaces (accents kept)."""
    return " ".join(tokenize(text, lowercase=True))


def normalize(text: str, kind: str) -> str:
    """``text`` normalised by ``kind`` (one of :data:`NORMALIZATIONS`); a ValueError names an unknown kind."""
    if kind == "tutorial":
        return tutorial(text)
    if kind == "lower":
        return lower(text)
    if kind == "none":
        return text.strip()
    raise ValueError(f"unknown normalisation '{kind}' (allowed: {', '.join(NORMALIZATIONS)})")
