"""What a captioning evaluation reports beyond BLEU and CIDEr-D (seqlab/metrics/captions.py):

- ``attributes``: on generated scenes, the share of images whose caption names exactly the attribute words (sizes,
  colours, shapes, with repeats) of one of its references: did the model see what is there, whatever the phrasing;
- ``attention_in_box``: for each generated word that names an object (its size, colour and shape words), the
  attention mass of that step inside the object's box (the object of that shape, and of the colour just before it
  when several match), averaged: does the attention land on the object being named (Xu et al.'s pictures,
  measured); ``attention_in_box_chance`` is what uniform attention would score on the same words (the named boxes'
  share of the image).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from seqlab.metrics import bleu_n, cider_d


def attribute_words(caption: str, vocabulary: set[str]) -> Counter[str]:
    return Counter(w for w in caption.split() if w in vocabulary)


def attributes_match(hypothesis: str, references: list[str], vocabulary: set[str]) -> bool:
    """The caption's attribute words equal (as a multiset) those of one reference."""
    mine = attribute_words(hypothesis, vocabulary)
    return any(mine == attribute_words(r, vocabulary) for r in references)


def region_boxes(grid_shape: tuple[int, int], image_size: int) -> torch.Tensor:
    """``(R, 4)`` pixel boxes ``(x0, y0, x1, y1)`` of the grid regions (row-major, as the encoder flattens them)."""
    rows, cols = grid_shape
    ys = torch.arange(rows).repeat_interleave(cols)
    xs = torch.arange(cols).repeat(rows)
    h, w = image_size / rows, image_size / cols
    return torch.stack([xs * w, ys * h, (xs + 1) * w, (ys + 1) * h], dim=1)


def mass_in_box(weights: torch.Tensor, regions: torch.Tensor, box: tuple[int, int, int, int]) -> float:
    """Attention mass of ``weights`` ``(R,)`` inside ``box``, each region's weight spread evenly over its pixels:
    ``sum_i alpha_i |region_i & box| / |region_i|`` (a region half inside the box brings half its weight)."""
    x0, y0, x1, y1 = box
    width = (regions[:, 2].clamp(max=x1) - regions[:, 0].clamp(min=x0)).clamp(min=0)
    height = (regions[:, 3].clamp(max=y1) - regions[:, 1].clamp(min=y0)).clamp(min=0)
    area = (regions[:, 2] - regions[:, 0]) * (regions[:, 3] - regions[:, 1])
    return float((weights * width * height / area).sum())


def box_share(box: tuple[int, int, int, int], image_size: int) -> float:
    """The share of the image inside ``box``: what :func:`mass_in_box` gives for uniform attention (chance)."""
    x0, y0, x1, y1 = box
    return (x1 - x0) * (y1 - y0) / image_size**2


def named_boxes(tokens: list[str], boxes: list[Any], steps: int) -> list[tuple[int, Any]]:
    """``(step, object)`` per generated word that names one drawn object: each shape word of one drawn object (of that
    shape, and of the colour just before it when several match), and the colour and size words just before it that
    are that object's ("a small red circle": small, red and circle all name the red circle)."""
    named = []
    for t, word in enumerate(tokens[:steps]):
        candidates = [b for b in boxes if b.shape == word]
        if len(candidates) > 1 and t > 0:
            candidates = [b for b in candidates if b.colour == tokens[t - 1]] or candidates
        if len(candidates) != 1:
            continue
        obj, first = candidates[0], t
        if first > 0 and tokens[first - 1] == obj.colour:
            first -= 1
        if first > 0 and tokens[first - 1] == obj.size:
            first -= 1
        named += [(s, obj) for s in range(first, t + 1)]
    return named


def attention_in_box(tokens: list[str], weights: torch.Tensor, boxes: list[Any], regions: torch.Tensor) -> list[float]:
    """Per generated word naming a drawn object (its size, colour and shape words): that step's attention mass
    inside the object's box."""
    return [mass_in_box(weights[t], regions, obj.box) for t, obj in named_boxes(tokens, boxes, weights.size(0))]


def caption_scores(hypotheses: list[str], references: list[list[str]]) -> dict[str, float]:
    """BLEU-1..4 and CIDEr-D of one set of images (scored together: CIDEr-D's weights come from the set)."""
    scores = bleu_n(hypotheses, references)
    scores["cider"] = cider_d(hypotheses, references)[0] if len(hypotheses) > 1 else float("nan")
    return scores
