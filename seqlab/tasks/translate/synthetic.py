"""Synthetic translation pairs that need no data: digit strings and their reversal or sorted order.

``reverse``: ``"3 1 4"`` -> ``"4 1 3"``; ``sort``: ``"3 1 4"`` -> ``"1 3 4"``. Lengths are uniform in
[min_len, max_len]; the same seed gives the same pairs. With attention a model learns either to near-perfect
accuracy in a few hundred CPU steps, which makes them the task's smoke test and a check of the search.
"""

from __future__ import annotations

import random

SYNTHETIC = ("reverse", "sort")


def digit_pairs(kind: str, count: int, min_len: int = 3, max_len: int = 8, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` (source, target) pairs of space-separated digits."""
    if kind not in SYNTHETIC:
        raise ValueError(f"unknown synthetic pairs '{kind}' (allowed: {', '.join(SYNTHETIC)})")
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        digits = [str(rng.randrange(10)) for _ in range(rng.randint(min_len, max_len))]
        target = digits[::-1] if kind == "reverse" else sorted(digits)
        pairs.append((" ".join(digits), " ".join(target)))
    return pairs
