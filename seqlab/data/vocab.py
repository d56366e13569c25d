"""A token vocabulary built on the training split only: ``<pad>`` = 0, ``<unk>`` = 1, then (for tasks that
generate) ``<bos>`` = 2 and ``<eos>`` = 3, then tokens by frequency. Shared by every task that reads words.

Tokens rarer than ``min_freq`` or beyond the ``max_size`` most frequent map to ``<unk>``; ties in frequency are
broken alphabetically so the same training data always gives the same ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import torch

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
CLASSIFY = (PAD, UNK)  # a vocabulary for reading only
GENERATE = (PAD, UNK, BOS, EOS)  # one for decoders: sequences start with <bos> and end with <eos>


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
    def build(
        cls,
        token_lists: Iterable[list[str]],
        max_size: int | None = None,
        min_freq: int = 1,
        specials: tuple[str, ...] = CLASSIFY,
    ) -> Vocab:
        """``specials``, then the ``max_size`` (specials excluded) most frequent tokens seen at least ``min_freq``
        times."""
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        words = sorted(
            (w for w, c in counts.items() if c >= min_freq and w not in specials), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            words = words[:max_size]
        return cls([*specials, *words])

    @property
    def bos_id(self) -> int:
        """Id of ``<bos>`` (a vocabulary built with ``specials=GENERATE``)."""
        return self._special(BOS)

    @property
    def eos_id(self) -> int:
        return self._special(EOS)

    def _special(self, token: str) -> int:
        if token not in self.stoi:
            raise KeyError(f"this vocabulary has no {token} (build it with specials=GENERATE)")
        return self.stoi[token]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``."""
        return [self.itos[int(i)] for i in ids]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: list[str]) -> torch.Tensor:
        """Ids of ``tokens``; unknown words become ``<unk>``."""
        get = self.stoi.get
        return torch.tensor([get(t, 1) for t in tokens], dtype=torch.long)
