"""Locked (variational) dropout: one mask per sequence, shared by every time step (Gal & Ghahramani 2016).

``y[b, t, :] = x[b, t, :] * m[b, :] / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` drawn once per call; identity in eval
mode or with ``p = 0``. Standard dropout would draw a new mask at every step.
"""

from __future__ import annotations

from torch import Tensor, nn


class LockedDropout(nn.Module):
    """Dropout on ``(B, T, F)`` (batch_first) with one ``(B, 1, F)`` mask per sequence."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1.0 - self.p).div_(1.0 - self.p)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
