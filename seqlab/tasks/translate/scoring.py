"""Corpus BLEU and chrF through sacrebleu, with every reference of a source sentence.

``score(hypotheses, references)``: ``references[i]`` is the list of all reference translations of sentence i (their
number may vary); sacrebleu takes reference *streams*, so sentence i's missing references are ``None``. The texts are
the task's normalised strings (e.g. lower-cased, punctuation split); sacrebleu's default ``13a`` tokenisation is
applied on top, as its signature (recorded in results.json) says.
"""

from __future__ import annotations

from dataclasses import dataclass

from sacrebleu.metrics import BLEU, CHRF


@dataclass
class Scores:
    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    sentences: int


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """Per-sentence reference lists -> sacrebleu's streams (stream k holds every sentence's k-th reference)."""
    width = max((len(r) for r in references), default=0)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]


def score(hypotheses: list[str], references: list[list[str]]) -> Scores:
    """Corpus BLEU (0-100) and chrF (0-100) of ``hypotheses`` against all their ``references``."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} reference lists")
    if not hypotheses or any(not refs for refs in references):
        raise ValueError("every sentence needs at least one reference")
    streams = reference_streams(references)
    bleu, chrf = BLEU(), CHRF()
    b = bleu.corpus_score(hypotheses, streams)
    c = chrf.corpus_score(hypotheses, streams)
    return Scores(
        bleu=float(b.score),
        chrf=float(c.score),
        bleu_signature=str(bleu.get_signature()),
        chrf_signature=str(chrf.get_signature()),
        sentences=len(hypotheses),
    )
