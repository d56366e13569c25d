"""Pool the encoder's per-step outputs ``h_1..h_n`` (padding excluded) into one vector per sequence.

- ``last``: the final state of each direction, ``[h_n(fwd); h_1(bwd)]`` (from the recurrent state; for a model
  without one, the output at the last valid step).
- ``max``: element-wise max over valid steps.  ``mean``: ``(1/n) sum_t h_t``.
- ``attention``: ``a = softmax_t(v^T tanh(W h_t))`` over valid steps, pooled ``sum_t a_t h_t``.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.models.base import State, length_mask

POOLINGS = ("last", "max", "mean", "attention")


class Pooling(nn.Module):
    """``forward(out (B,T,H), state, lengths (B,)) -> (B, H)``."""

    def __init__(self, kind: str, size: int, bidirectional: bool, attention_size: int = 64) -> None:
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"unknown pooling {kind}")
        self.kind, self.directions = kind, 2 if bidirectional else 1
        if kind == "attention":
            self.proj = nn.Linear(size, attention_size)
            self.score = nn.Linear(attention_size, 1, bias=False)

    def forward(self, out: torch.Tensor, state: State, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(out.device)
        mask = length_mask(lengths, out.size(1)).unsqueeze(-1)
        if self.kind == "last":
            final = self._final_state(state, out.size(0))
            if final is not None:
                return final
            return out[torch.arange(out.size(0), device=out.device), lengths - 1]
        if self.kind == "max":
            return out.masked_fill(~mask, float("-inf")).max(dim=1).values
        if self.kind == "mean":
            return (out * mask).sum(dim=1) / lengths.unsqueeze(1).to(out.dtype)
        scores = self.score(torch.tanh(self.proj(out))).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return (weights * out).sum(dim=1)

    def _final_state(self, state: State, batch: int) -> torch.Tensor | None:
        """Last layer's final hidden state(s) ``(B, D*H)`` from an ``nn.RNN/GRU`` tensor or ``nn.LSTM`` tuple."""
        h = state[0] if isinstance(state, tuple | list) else state
        if not isinstance(h, torch.Tensor) or h.dim() != 3 or h.size(1) != batch:
            return None
        return torch.cat(list(h[-self.directions :]), dim=-1)
