"""Word vectors to query: a vocabulary, its matrix, and optionally a function that embeds any word.

Lookup (:meth:`WordVectors.find`): the exact form first, else the case-insensitive match, i.e. the first word of
``words`` whose ``str.lower()`` is the query's (``words`` is frequency-ordered in seqlab, so the most frequent
variant). So ``Athens`` finds ``Athens`` in case-keeping WikiText-2 and ``athens`` in lower-cased PTB. A word found
neither way is *unseen*: it is embedded by ``embed`` when the vectors have one (char-aware models), else
:class:`UnknownWordError` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from seqlab.errors import SeqlabError


class UnknownWordError(SeqlabError):
    """A word neither in the vocabulary (in any case) nor embeddable."""

    def __init__(self, word: str, size: int) -> None:
        self.word = word
        super().__init__(
            f"'{word}' is not in the vocabulary ({size:,} words, case-insensitive) and these vectors cannot embed "
            "unseen words"
        )


@dataclass(eq=False)
class WordVectors:
    """``words[i]`` has the vector ``matrix[i]`` ``(len(words), d)``; ``embed(words) -> (n, d)`` embeds any word."""

    words: list[str]
    matrix: torch.Tensor
    embed: Callable[[list[str]], torch.Tensor] | None = None
    _index: dict[str, int] = field(init=False, repr=False)
    _folded: dict[str, int] = field(init=False, repr=False)
    _unit: torch.Tensor | None = field(init=False, repr=False, default=None)
    _groups: torch.Tensor | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.words = list(self.words)
        self.matrix = torch.as_tensor(self.matrix).detach().to("cpu", torch.float32)
        if self.matrix.dim() != 2 or self.matrix.size(0) != len(self.words):
            raise ValueError(f"matrix {tuple(self.matrix.shape)} does not have one row per word ({len(self.words)})")
        self._index, self._folded = {}, {}
        for i, word in enumerate(self.words):
            self._index.setdefault(word, i)
            self._folded.setdefault(word.lower(), i)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return self.matrix.size(1)

    def find(self, word: str) -> int | None:
        """The row of ``word``: its exact form, else its first case-insensitive match, else None."""
        row = self._index.get(word)
        return self._folded.get(word.lower()) if row is None else row

    def has(self, word: str) -> bool:
        """Whether ``word`` is in the vocabulary (exactly or case-insensitively); unseen words may still embed."""
        return self.find(word) is not None

    def vector(self, word: str) -> torch.Tensor:
        """The ``(d,)`` vector of ``word``: its row, else ``embed([word])``, else UnknownWordError."""
        return self.vectors([word])[0]

    def vectors(self, words: Iterable[str]) -> torch.Tensor:
        """``(n, d)`` vectors of ``words``: rows where found; unseen words embedded in one ``embed`` call."""
        words = list(words)
        rows = [self.find(w) for w in words]
        out = torch.empty(len(words), self.dim)
        unseen = [i for i, r in enumerate(rows) if r is None]
        if unseen and self.embed is None:
            raise UnknownWordError(words[unseen[0]], len(self))
        seen = [i for i, r in enumerate(rows) if r is not None]
        if seen:
            out[seen] = self.matrix[[rows[i] for i in seen]]
        if unseen:
            out[unseen] = torch.as_tensor(self.embed([words[i] for i in unseen])).detach().to("cpu", torch.float32)
        return out

    def unit_matrix(self) -> torch.Tensor:
        """Rows scaled to unit length, ``x / max(||x||, eps)`` (cached; a zero row stays zero)."""
        if self._unit is None:
            self._unit = unit(self.matrix)
        return self._unit

    def fold_groups(self) -> torch.Tensor:
        """``(len(words),)``: for each row, the row of its first case-insensitive match (equal ids = same word)."""
        if self._groups is None:
            self._groups = torch.tensor([self._folded[w.lower()] for w in self.words], dtype=torch.long)
        return self._groups


def unit(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``x / ||x||`` along the last dimension."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
