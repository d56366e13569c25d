"""Embedding dropout (Gal & Ghahramani 2016, as AWD-LSTM uses it, Merity et al. 2018): drop whole words.

One mask ``m ~ Bernoulli(1 - p)`` over the vocabulary rows is drawn per forward call, and
``y[b, t] = E[x[b, t]] * m[x[b, t]] / (1 - p)``: every occurrence of a dropped word in the batch is zero, the kept
words are scaled by ``1 / (1 - p)``. Identity in eval mode or with ``p = 0``. The same as AWD-LSTM's
``embedded_dropout`` (which masks the whole matrix), computed on the looked-up rows only.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EmbeddingWithDropout", "embedding_dropout", "word_mask"]


def _check(p: float) -> float:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"embedding dropout probability must be in [0, 1), got {p}")
    return float(p)


def word_mask(num_words: int, p: float, like: Tensor) -> Tensor:
    """``(num_words,)`` of ``m / (1 - p)``, ``m ~ Bernoulli(1 - p)``, with ``like``'s dtype and device."""
    p = _check(p)
    return like.new_empty(num_words).bernoulli_(1.0 - p).div_(1.0 - p)


def embedding_dropout(
    weight: Tensor, ids: Tensor, p: float, training: bool, padding_idx: int | None = None, **embedding_kwargs: object
) -> Tensor:
    """``F.embedding(ids, weight)`` with whole rows of ``weight`` dropped with probability ``p`` (training only).

    ``embedding_kwargs`` go to ``F.embedding`` (``max_norm``, ...). The ``padding_idx`` row gets no gradient, as in
    ``nn.Embedding``.
    """
    p = _check(p)
    out = F.embedding(ids, weight, padding_idx, **embedding_kwargs)
    if not training or p == 0.0:
        return out
    return out * word_mask(weight.size(0), p, weight)[ids].unsqueeze(-1)


class EmbeddingWithDropout(nn.Embedding):
    """``nn.Embedding`` with embedding dropout ``p``: its ``weight`` can be tied like any embedding's."""

    def __init__(self, num_embeddings: int, embedding_dim: int, p: float = 0.0, **kwargs: object) -> None:
        super().__init__(num_embeddings, embedding_dim, **kwargs)
        self.p = _check(p)

    def forward(self, ids: Tensor) -> Tensor:
        return embedding_dropout(
            self.weight,
            ids,
            self.p,
            self.training,
            self.padding_idx,
            max_norm=self.max_norm,
            norm_type=self.norm_type,
            scale_grad_by_freq=self.scale_grad_by_freq,
            sparse=self.sparse,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"
