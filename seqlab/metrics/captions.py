"""Captioning metrics as the MS-COCO caption evaluation code computes them: BLEU-1..4 and CIDEr-D, no Java.

Inputs are already-normalised strings, one hypothesis per image and one or more references per image; tokens are
``str.split()``. coco-caption first runs the Stanford PTB tokenizer (lower-cases, drops punctuation); pass text
normalised the same way if scores are to be compared with papers.

**BLEU-n** (Papineni et al. 2002; coco-caption's ``BleuScorer`` with ``option="closest"``), corpus level:

- per image, ``correct_k = sum_g min(count_hyp(g), max_r count_r(g))`` over the hypothesis k-grams g (clipped
  counts) and ``guess_k = max(0, len(hyp) - k + 1)``; both summed over the corpus;
- ``r`` = sum over images of the reference length closest to the hypothesis length (ties: the shorter one),
  ``c`` = total hypothesis length; brevity penalty ``BP = exp(1 - r/c)`` if ``c < r`` else 1;
- ``BLEU-n = BP * (prod_{k<=n} p_k)^(1/n)`` with ``p_k = (correct_k + 1e-15) / (guess_k + 1e-9)`` and
  ``c/r`` computed as ``(c + 1e-15) / (r + 1e-9)``: coco's constants, kept so that the numbers agree with it to
  rounding; a zero k-gram precision gives a tiny positive BLEU-n (about 1e-4 for n = 4), not exactly 0.

Relation to sacrebleu: ``sacrebleu.corpus_bleu(hyps, ref_streams, tokenize="none")`` (missing references as ``None``,
``BLEU(max_ngram_order=n)`` for BLEU-n) uses the same clipping, closest-reference rule with the same tie-break and
brevity penalty, so it equals ``100 * BLEU-n`` here whenever every k-gram precision is non-zero. They differ only
when some ``correct_k`` is 0: sacrebleu's default ``smooth_method="exp"`` then gives ``p_k = 1 / (2^i * guess_k)``
(a sizeable score), ``"none"`` gives 0, coco gives the near-zero value above.

**CIDEr-D** (Vedantam et al. 2015; coco-caption's ``CiderScorer``, which is the CIDEr-D of ``pyciderevalcap``'s
``CiderD`` with ``df_mode="corpus"``), over N images with reference sets R_i:

- ``df(g)`` = number of images whose reference set contains the n-gram g (references of the evaluated corpus);
- weight of g in a sentence s: ``w_s(g) = count_s(g) * (log N - log max(1, df(g)))`` (raw counts; an n-gram
  found in no reference gets the full ``log N``);
- for each order k = 1..n, hypothesis h and reference r:
  ``sim_k(h, r) = sum_{g in h, |g|=k} min(w_h(g), w_r(g)) * w_r(g) / (||w_h^k|| * ||w_r^k||)`` (clipping; the
  norms are of the unclipped k-gram vectors, and a zero norm leaves the sum undivided, i.e. 0), times the Gaussian
  length penalty ``exp(-(len(h) - len(r))^2 / (2 sigma^2))`` with sigma = 6;
- ``CIDEr-D_i = 10 / (n * |R_i|) * sum_{r in R_i} sum_k sim_k(h_i, r)``; the corpus score is the mean over images.

coco measures lengths in bigrams, ``max(0, len - 1)``; for n >= 2 that gives the same difference as word counts
except against an empty sentence, where every sim is 0 anyway. With N = 1 every idf is 0 and CIDEr-D is 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

BLEU_KEYS = ("bleu1", "bleu2", "bleu3", "bleu4")
"""Keys of :func:`bleu_n`'s result for ``max_n = 4``: ``bleu{n}`` for BLEU-n."""

_TINY = 1e-15  # coco-caption's BleuScorer: added to matches and to the hypothesis length
_SMALL = 1e-9  # ... and to the totals and the reference length

NGram = tuple[str, ...]


def ngram_counts(tokens: Sequence[str], max_n: int) -> Counter[NGram]:
    """Counts of every k-gram of ``tokens`` for k = 1..max_n."""
    counts: Counter[NGram] = Counter()
    for k in range(1, max_n + 1):
        counts.update(tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1))
    return counts


def _check(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if isinstance(hypotheses, str) or any(isinstance(refs, str) for refs in references):
        raise TypeError("hypotheses must be a list of strings and references a list of lists of strings")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference sets")
    if not hypotheses:
        raise ValueError("no hypotheses to score")
    empty = [i for i, refs in enumerate(references) if not refs]
    if empty:
        raise ValueError(f"images without references: {empty[:10]}")


def bleu_n(hypotheses: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> dict[str, float]:
    """Corpus BLEU-1..BLEU-``max_n`` in [0, 1] as coco-caption computes them (see the module docstring).

    ``hypotheses[i]`` is image i's caption, ``references[i]`` its reference captions. Returns
    ``{"bleu1": ..., ..., f"bleu{max_n}": ...}``.
    """
    _check(hypotheses, references)
    if max_n < 1:
        raise ValueError(f"max_n must be >= 1, got {max_n}")
    correct = [0] * max_n
    guess = [0] * max_n
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references, strict=True):
        tokens = hyp.split()
        ref_tokens = [r.split() for r in refs]
        max_ref: dict[NGram, int] = {}
        for rt in ref_tokens:
            for g, c in ngram_counts(rt, max_n).items():
                max_ref[g] = max(max_ref.get(g, 0), c)
        for g, c in ngram_counts(tokens, max_n).items():
            correct[len(g) - 1] += min(c, max_ref.get(g, 0))
        for k in range(max_n):
            guess[k] += max(0, len(tokens) - k)
        hyp_len += len(tokens)
        ref_len += min((abs(len(rt) - len(tokens)), len(rt)) for rt in ref_tokens)[1]
    ratio = (hyp_len + _TINY) / (ref_len + _SMALL)
    brevity = math.exp(1 - 1 / ratio) if ratio < 1 else 1.0
    scores: dict[str, float] = {}
    product = 1.0
    for k in range(max_n):
        product *= (correct[k] + _TINY) / (guess[k] + _SMALL)
        scores[f"bleu{k + 1}"] = brevity * product ** (1 / (k + 1))
    return scores


def _tfidf(
    counts: Counter[NGram], df: dict[NGram, int], log_n: float, n: int
) -> tuple[list[dict[NGram, float]], list[float]]:
    """The per-order weight vectors ``w(g) = count(g) * (log N - log max(1, df(g)))`` and their L2 norms."""
    vecs: list[dict[NGram, float]] = [{} for _ in range(n)]
    squares = [0.0] * n
    for g, c in counts.items():
        w = c * (log_n - math.log(max(1, df.get(g, 0))))
        vecs[len(g) - 1][g] = w
        squares[len(g) - 1] += w * w
    return vecs, [math.sqrt(s) for s in squares]


def cider_d(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0
) -> tuple[float, list[float]]:
    """CIDEr-D as coco-caption computes it (see the module docstring): ``(corpus mean, per-image scores)``.

    Document frequencies come from ``references`` themselves, so the score of an image depends on the whole
    evaluated corpus: score the full split at once, not in batches.
    """
    _check(hypotheses, references)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    hyp_counts = [ngram_counts(h.split(), n) for h in hypotheses]
    ref_counts = [[ngram_counts(r.split(), n) for r in refs] for refs in references]
    df: Counter[NGram] = Counter()
    for refs in ref_counts:
        df.update(set().union(*refs))
    log_n = math.log(len(references))
    two_var = 2 * sigma * sigma
    per_image: list[float] = []
    for hyp, h_counts, refs, r_counts in zip(hypotheses, hyp_counts, references, ref_counts, strict=True):
        h_vecs, h_norms = _tfidf(h_counts, df, log_n, n)
        h_len = len(hyp.split())
        total = 0.0
        for ref, counts in zip(refs, r_counts, strict=True):
            r_vecs, r_norms = _tfidf(counts, df, log_n, n)
            penalty = math.exp(-((h_len - len(ref.split())) ** 2) / two_var)
            for k in range(n):
                rv = r_vecs[k]
                val = sum(min(w, rv.get(g, 0.0)) * rv.get(g, 0.0) for g, w in h_vecs[k].items())
                if h_norms[k] != 0 and r_norms[k] != 0:
                    val /= h_norms[k] * r_norms[k]
                total += val * penalty
        per_image.append(10.0 * total / (n * len(refs)))
    return sum(per_image) / len(per_image), per_image
