"""Word vocabulary built on the training split only: ``<pad>`` = 0, ``<unk>`` = 1, then words by frequency.

Words rarer than ``min_freq`` or beyond the ``max_size`` most frequent map to ``<unk>``; ties in frequency are
broken alphabetically so the same training data always gives the same ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import torch

PAD, UNK = "<pad>", "<unk>"


class Vocab:
    """Token <-> id mapping; ``itos`` (a list of strings) is all a checkpoint needs to rebuild it."""

    def __init__(self, itos: list[str]) -> None:
        if itos[:2] != [PAD, UNK]:
            raise ValueError("a vocabulary starts with <pad>, <unk>")
        self.itos = list(itos)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    pad_id = 0
    unk_id = 1

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], max_size: int | None = None, min_freq: int = 1) -> Vocab:
        """The ``max_size`` (words, specials excluded) most frequent words seen at least ``min_freq`` times."""
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        words = sorted(
            (w for w, c in counts.items() if c >= min_freq and w not in (PAD, UNK)), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            words = words[:max_size]
        return cls([PAD, UNK, *words])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: list[str]) -> torch.Tensor:
        """Ids of ``tokens``; unknown words become ``<unk>``."""
        get = self.stoi.get
        return torch.tensor([get(t, 1) for t in tokens], dtype=torch.long)
