"""BLEU-1..4 and CIDEr-D (seqlab.metrics.captions): hand-worked values, sacrebleu and pycocoevalcap."""

from __future__ import annotations

import math
import random

import pytest
from sacrebleu.metrics import BLEU

from seqlab.metrics import BLEU_KEYS, bleu_n, cider_d

# Two images, two references each, all of one to four words.
CIDER_HYPS = ["red circle", "blue blue circle"]
CIDER_REFS = [["red circle", "red square"], ["blue circle", "green circle"]]


def test_cider_d_on_a_hand_worked_example():
    # N = 2 images, so idf(g) = log 2 - log max(1, df(g)) is L = log 2 for an n-gram in one image's references (or in
    # none) and 0 for one in both. df: circle 2 (idf 0); red, square, blue, green and every bigram 1 (idf L).
    # Both hypotheses have no 4-gram and image 1's none beyond bigrams: those orders have a zero norm and add 0.
    #
    # Image 1, h = "red circle": unigram weights red L, circle 0 (norm L); bigram "red circle" L (norm L).
    #   r = "red circle": same vectors, so sim_1 = L*L / (L*L) = 1, sim_2 = 1; equal lengths, penalty 1.
    #   r = "red square": unigrams red L, square L (norm L*sqrt 2): sim_1 = L*L / (L * L*sqrt 2) = 1/sqrt 2;
    #       bigram "red circle" absent: sim_2 = 0.
    #   CIDEr-D_1 = 10 / (n * |R|) * (1 + 1 + 1/sqrt 2) = 10 * (2 + 1/sqrt 2) / 8 = 3.3838834764831844
    # Image 2, h = "blue blue circle": unigrams blue 2L (count 2), circle 0 (norm 2L); bigrams "blue blue" L (found in
    #   no reference: full idf), "blue circle" L (norm L*sqrt 2); trigram "blue blue circle" L.
    #   r = "blue circle": unigrams blue L, circle 0 (norm L). Clipping: sim_1 = min(2L, L) * L / (2L * L) = 1/2
    #       (1 without clipping); sim_2 = min(L, L) * L / (L*sqrt 2 * L) = 1/sqrt 2; no reference trigram: sim_3 = 0.
    #       Lengths 3 and 2: penalty exp(-1 / (2 * 6^2)) = exp(-1/72).
    #   r = "green circle": shares only "circle", whose weight is 0: every sim is 0.
    #   CIDEr-D_2 = 10 * (1/2 + 1/sqrt 2) * exp(-1/72) / 8 = 1.4880716228450181
    first = 10 * (2 + 1 / math.sqrt(2)) / 8
    second = 10 * (0.5 + 1 / math.sqrt(2)) * math.exp(-1 / 72) / 8
    corpus, per_image = cider_d(CIDER_HYPS, CIDER_REFS)
    assert per_image == pytest.approx([first, second], rel=1e-12)
    assert corpus == pytest.approx((first + second) / 2, rel=1e-12)
    assert first == pytest.approx(3.3838834764831844) and second == pytest.approx(1.4880716228450181)


def test_cider_d_of_a_single_image_is_zero():
    # log N = 0: every idf is 0, so every vector is 0 (coco-caption behaves the same way).
    assert cider_d(["a red circle"], [["a red circle", "a blue circle"]]) == (0.0, [0.0])


def test_cider_d_rewards_the_right_caption_over_a_wrong_one():
    refs = [["a red circle left of a blue square"] * 2, ["a green triangle"] * 2, ["a small yellow star"] * 2]
    right, _ = cider_d(["a red circle left of a blue square", "a green triangle", "a small yellow star"], refs)
    wrong, _ = cider_d(["a blue circle left of a red square", "a green star", "a small yellow triangle"], refs)
    assert right > wrong > 0


def test_identical_hypothesis_and_references_give_bleu_one():
    hyps = ["a small red circle left of a large blue square", "two green triangles"]
    refs = [[hyps[0], hyps[0]], [hyps[1]]]
    scores = bleu_n(hyps, refs)
    assert list(scores) == list(BLEU_KEYS)
    # coco's smoothing constants (1e-15 on matches, 1e-9 on totals) keep it a hair below 1.
    assert all(v == pytest.approx(1.0, abs=1e-8) and v <= 1.0 for v in scores.values())


def test_bleu_on_a_hand_worked_partial_match():
    hyps = ["a small red circle", "a big blue square"]
    refs = [["a red circle", "a small red square"], ["a big blue square on the left", "one big blue square here today"]]
    # Image 1: length 4, closest reference "a small red square" (4). Clipped matches: unigrams 4/4; bigrams
    #   "a small", "small red" (ref 2), "red circle" (ref 1): 3/3; trigrams "a small red" yes, "small red circle" no:
    #   1/2; the 4-gram: 0/1.
    # Image 2: length 4, references of 7 and 6 words: the closest is 6. All of its n-grams are in reference 1:
    #   4/4, 3/3, 2/2, 1/1.
    # Corpus: p = 8/8, 6/6, 3/4, 1/2; c = 8, r = 10: BP = exp(1 - 10/8) = exp(-1/4).
    bp = math.exp(-0.25)
    expected = [bp, bp, bp * (3 / 4) ** (1 / 3), bp * (3 / 8) ** (1 / 4)]
    assert list(bleu_n(hyps, refs).values()) == pytest.approx(expected, rel=1e-8)
    assert list(bleu_n(hyps, refs, max_n=2).values()) == pytest.approx(expected[:2], rel=1e-8)


def test_bleu_clips_repeated_words_by_the_reference_count():
    # Papineni's example: "the" four times against a reference with one "the": p_1 = 1/4; c = 4 > r = 2, no penalty.
    assert bleu_n(["the the the the"], [["the cat"]])["bleu1"] == pytest.approx(0.25, rel=1e-8)


def test_bleu_breaks_a_closest_length_tie_towards_the_shorter_reference():
    # Lengths 4 and 6 are both 1 away from 5: r = 4 < c, so no brevity penalty (r = 6 would give exp(1 - 6/5)).
    assert bleu_n(["a b c d e"], [["a b c d", "a b c d e f"]])["bleu1"] == pytest.approx(1.0, abs=1e-8)


def _streams(refs: list[list[str]]) -> list[list[str | None]]:
    """Per-image reference lists -> sacrebleu's reference streams, missing references as None."""
    return [[r[k] if k < len(r) else None for r in refs] for k in range(max(map(len, refs)))]


def _random_corpus(seed: int, images: int = 40) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    vocab = "a the red blue green small large circle square left of right".split()

    def sentence(lo: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(lo, 10)))

    refs = [[sentence(1) for _ in range(rng.randint(1, 5))] for _ in range(images)]
    hyps = [sentence(1) for _ in range(images)]
    for i in range(0, images, 3):  # a third copy a reference with one word changed: long n-grams match too
        words = rng.choice(refs[i]).split()
        words[rng.randrange(len(words))] = rng.choice(vocab)
        hyps[i] = " ".join(words)
    hyps[4] = ""  # an empty caption scores 0 and counts in the lengths
    refs[5].append(hyps[5])  # an exact match
    return hyps, refs


def test_sacrebleu_agrees_when_every_precision_is_nonzero_and_differs_when_one_is_zero():
    hyps, refs = _random_corpus(0)
    ours = bleu_n(hyps, refs)
    for n in range(1, 5):
        theirs = BLEU(tokenize="none", max_ngram_order=n).corpus_score(hyps, _streams(refs))
        assert all(theirs.counts[: n - 1]) and theirs.counts[n - 1] > 0
        assert theirs.score / 100 == pytest.approx(ours[f"bleu{n}"], rel=1e-8)
    # No 4-gram match: coco's constants give a tiny positive BLEU-4, sacrebleu's default "exp" smoothing a large one.
    hyps, refs = ["a small red circle"], [["a red circle", "a small red square"]]
    coco4 = bleu_n(hyps, refs)["bleu4"]
    smoothed = BLEU(tokenize="none").corpus_score(hyps, _streams(refs)).score / 100
    unsmoothed = BLEU(tokenize="none", smooth_method="none").corpus_score(hyps, _streams(refs)).score / 100
    assert 0 < coco4 < 1e-3 and unsmoothed == 0.0 and smoothed == pytest.approx((1 * 1 * 0.5 * 0.5) ** 0.25)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equal_to_pycocoevalcap(seed: int):
    bleu_mod = pytest.importorskip("pycocoevalcap.bleu.bleu", reason="pycocoevalcap is not installed")
    cider_mod = pytest.importorskip("pycocoevalcap.cider.cider", reason="pycocoevalcap is not installed")
    hyps, refs = _random_corpus(seed)
    gts = {i: r for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    coco_bleu, _ = bleu_mod.Bleu(4).compute_score(gts, res, verbose=0)
    assert list(bleu_n(hyps, refs).values()) == pytest.approx(coco_bleu, rel=1e-12, abs=1e-15)
    # pycocoevalcap's `Cider` is CIDEr-D: clipped tf-idf, Gaussian length penalty (sigma 6), corpus df, times 10.
    coco_cider, coco_per_image = cider_mod.Cider().compute_score(gts, res)
    corpus, per_image = cider_d(hyps, refs)
    assert corpus == pytest.approx(float(coco_cider), rel=1e-12)
    assert per_image == pytest.approx([float(s) for s in coco_per_image], rel=1e-12, abs=1e-15)
    # No 4-gram match: coco's near-zero BLEU-4 too.
    no_match = ({0: ["a red circle", "a small red square"]}, {0: ["a small red circle"]})
    assert bleu_n(["a small red circle"], [no_match[0][0]])["bleu4"] == pytest.approx(
        bleu_mod.Bleu(4).compute_score(*no_match, verbose=0)[0][3], rel=1e-12
    )
    hand_coco, _ = cider_mod.Cider().compute_score(
        {0: CIDER_REFS[0], 1: CIDER_REFS[1]}, {0: [CIDER_HYPS[0]], 1: [CIDER_HYPS[1]]}
    )
    assert cider_d(CIDER_HYPS, CIDER_REFS)[0] == pytest.approx(float(hand_coco), rel=1e-12)


@pytest.mark.parametrize(
    ("hyps", "refs", "error"),
    [
        (["a"], [["a"], ["b"]], ValueError),
        ([], [], ValueError),
        (["a"], [[]], ValueError),
        ("a b", [["a b"]], TypeError),
        (["a"], ["a"], TypeError),
    ],
)
def test_bad_input_is_refused(hyps, refs, error):
    with pytest.raises(error):
        bleu_n(hyps, refs)
    with pytest.raises(error):
        cider_d(hyps, refs)
