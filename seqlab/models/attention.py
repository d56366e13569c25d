"""Attention over a memory with a padding mask: one module per scoring function.

Every module maps ``(query, memory, mask) -> (context, weights)``:

- ``query`` ``(B, Hq)``, or ``(B, T, Hq)`` for T queries at once (a teacher-forced pass);
- ``memory`` ``(B, S, Hm)``; ``mask`` ``(B, S)`` bool, True on real positions, or None (all real);
- ``weights`` ``(B, S)`` (or ``(B, T, S)``): ``a_s = exp(e_s) / sum_{s' real} exp(e_s')`` over real positions, exactly
  0 on padding; a row without any real position gets all-zero weights (and a zero context), never NaN;
- ``context`` ``(B, Hm)`` (or ``(B, T, Hm)``): ``c = sum_s a_s m_s``.

Scores ``e_s``: additive (Bahdanau et al. 2015) ``v^T tanh(W_q q + W_m m_s)``; dot (Luong et al. 2015) ``q . m_s``;
general (Luong et al. 2015) ``q^T W m_s``.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.errors import ConfigError

__all__ = ["ATTENTION_KINDS", "AdditiveAttention", "Attention", "DotAttention", "GeneralAttention", "build_attention"]

ATTENTION_KINDS = ("none", "bahdanau", "luong_dot", "luong_general")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last dimension of ``scores`` ``(B, [T,] S)`` restricted to ``mask`` ``(B, S)``.

    Padding gets exactly 0; a row with no real position gets all zeros (its scores are zeroed before the softmax so
    neither the values nor the gradients are NaN).
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    if scores.dim() == 3:
        mask = mask[:, None, :]
    scores = scores.masked_fill(~mask, float("-inf"))
    scores = scores.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)  # all-padding rows: finite, zeroed below
    return torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)


class Attention(nn.Module):
    """Base class: subclasses implement ``score(query (B, T, Hq), memory (B, S, Hm), projected) -> (B, T, S)``.

    ``projected`` is what :meth:`project_memory` returned for this memory (None: computed by ``score`` if needed).
    """

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        self.query_size = query_size
        self.memory_size = memory_size

    def project_memory(self, memory: torch.Tensor) -> torch.Tensor | None:
        """The query-independent part of the scores, computed once per memory (None: there is none)."""
        return None

    def score(self, query: torch.Tensor, memory: torch.Tensor, projected: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor | None = None,
        projected: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(context (B, [T,] Hm), weights (B, [T,] S))``; see the module docstring."""
        single = query.dim() == 2
        queries = query[:, None, :] if single else query
        weights = masked_softmax(self.score(queries, memory, projected), mask)  # (B, T, S)
        context = torch.bmm(weights, memory)  # (B, T, Hm)
        if single:
            return context[:, 0], weights[:, 0]
        return context, weights


class AdditiveAttention(Attention):
    """Bahdanau et al. (2015): ``e_s = v^T tanh(W_q q + W_m m_s)``, with hidden size ``hidden``.

    ``W_m m_s`` does not depend on the query: :meth:`project_memory` computes it once, and ``forward``/``score`` take
    it through ``projected`` so a decoder can reuse it across steps.
    """

    def __init__(self, query_size: int, memory_size: int, hidden: int) -> None:
        super().__init__(query_size, memory_size)
        self.query_proj = nn.Linear(query_size, hidden, bias=False)
        self.memory_proj = nn.Linear(memory_size, hidden, bias=True)
        self.v = nn.Linear(hidden, 1, bias=False)

    def project_memory(self, memory: torch.Tensor) -> torch.Tensor:
        """``W_m m`` for every position: ``(B, S, Hm) -> (B, S, hidden)``."""
        return self.memory_proj(memory)

    def score(self, query: torch.Tensor, memory: torch.Tensor, projected: torch.Tensor | None = None) -> torch.Tensor:
        keys = self.project_memory(memory) if projected is None else projected  # (B, S, A)
        hidden = torch.tanh(self.query_proj(query)[:, :, None, :] + keys[:, None, :, :])  # (B, T, S, A)
        return self.v(hidden).squeeze(-1)


class DotAttention(Attention):
    """Luong et al. (2015), dot: ``e_s = q . m_s``; needs ``query_size == memory_size``."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        if query_size != memory_size:
            raise ConfigError(
                "attention", f"luong_dot needs the query size ({query_size}) to equal the memory size ({memory_size})"
            )
        super().__init__(query_size, memory_size)

    def score(self, query: torch.Tensor, memory: torch.Tensor, projected: torch.Tensor | None = None) -> torch.Tensor:
        return torch.bmm(query, memory.transpose(1, 2))


class GeneralAttention(Attention):
    """Luong et al. (2015), general: ``e_s = q^T W m_s`` with ``W`` ``(Hq, Hm)`` (computed as ``(W^T q) . m_s``)."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__(query_size, memory_size)
        self.weight = nn.Linear(query_size, memory_size, bias=False)

    def score(self, query: torch.Tensor, memory: torch.Tensor, projected: torch.Tensor | None = None) -> torch.Tensor:
        return torch.bmm(self.weight(query), memory.transpose(1, 2))


def build_attention(kind: str, query_size: int, memory_size: int, hidden: int) -> Attention | None:
    """The attention module for ``kind`` (``none`` -> None); ``hidden`` is used by ``bahdanau`` only."""
    if kind == "none":
        return None
    if kind == "bahdanau":
        return AdditiveAttention(query_size, memory_size, hidden)
    if kind == "luong_dot":
        return DotAttention(query_size, memory_size)
    if kind == "luong_general":
        return GeneralAttention(query_size, memory_size)
    raise ConfigError("attention", f"unknown attention {kind!r}", ATTENTION_KINDS)
