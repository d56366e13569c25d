"""Non-recurrent baselines for text classification: a bag-of-words linear model and a 1D CNN (Kim 2014).

Both are *whole-sequence* encoders (``pooled = True``): ``forward`` returns ``(B, 1, output_size)``, one summary
of each sequence's valid steps, and ``state = None``; a task uses ``out[:, 0]`` instead of pooling over time.

- :class:`BagOfWords` reads token ids (``input_kind = "ids"``: ``x`` is ``(B, T)`` long, ``input_size`` is the
  vocabulary size) and returns the document's term vector ``phi(d) in R^V``: per word, ``binary`` presence,
  ``count`` or ``log`` (``log(1 + count)``), optionally L2-normalized. It has no parameters: a task's linear head
  on top, ``softmax(W phi(d) + b)``, is exactly (multinomial) logistic regression on bag-of-words features.
- :class:`ConvEncoder` reads embeddings ``(B, T, E)``: for each width ``k``, ``c_t = ReLU(W_k x_{t:t+k-1} + b_k)``
  over the windows inside the sequence, then max over time; the widths' maxima are concatenated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.base import ModelConfig, SequenceModel, State, length_mask

WEIGHTINGS = ("binary", "count", "log")


def _mask(lengths: torch.Tensor | None, batch: int, steps: int, device: torch.device) -> torch.Tensor:
    """``(B, T)`` True at valid steps (all steps when ``lengths`` is None)."""
    if lengths is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    return length_mask(lengths.to(device), steps)


@dataclass
class BagOfWordsConfig(ModelConfig):
    name: str = "bow"
    weighting: str = "binary"
    normalize: bool = True


class BagOfWords(SequenceModel):
    """Term vector of the valid tokens: ``phi(d)_w = f(count of w in d)``, L2-normalized when ``normalize``."""

    Config: ClassVar[type] = BagOfWordsConfig
    input_kind: ClassVar[str] = "ids"
    pooled: ClassVar[bool] = True

    def __init__(self, input_size: int, config: BagOfWordsConfig) -> None:
        super().__init__(input_size, config)
        if config.weighting not in WEIGHTINGS:
            raise ConfigError("model.weighting", f"unknown weighting '{config.weighting}'", allowed=WEIGHTINGS)
        self.output_size = input_size

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        if x.dim() != 2 or x.dtype != torch.long:
            raise ValueError("BagOfWords reads token ids of shape (batch, time), dtype long")
        valid = _mask(lengths, x.size(0), x.size(1), x.device)
        counts = torch.zeros(x.size(0), self.input_size, device=x.device)
        counts.scatter_add_(1, x.masked_fill(~valid, 0), valid.float())
        if self.config.weighting == "binary":
            counts = (counts > 0).float()
        elif self.config.weighting == "log":
            counts = torch.log1p(counts)
        if self.config.normalize:
            counts = F.normalize(counts, dim=1)
        return counts.unsqueeze(1), None


@dataclass
class ConvConfig(ModelConfig):
    name: str = "cnn"
    channels: int = 100
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])


class ConvEncoder(SequenceModel):
    """1D convolutions of several widths over embeddings, ReLU, max over the windows inside each sequence."""

    Config: ClassVar[type] = ConvConfig
    pooled: ClassVar[bool] = True

    def __init__(self, input_size: int, config: ConvConfig) -> None:
        super().__init__(input_size, config)
        if config.channels < 1:
            raise ConfigError("model.channels", f"must be >= 1, got {config.channels}")
        if not config.kernel_sizes or min(config.kernel_sizes) < 1:
            raise ConfigError(
                "model.kernel_sizes", f"must be a non-empty list of widths >= 1, got {list(config.kernel_sizes)}"
            )
        self.convs = nn.ModuleList(nn.Conv1d(input_size, config.channels, k) for k in config.kernel_sizes)
        self.output_size = config.channels * len(config.kernel_sizes)

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        batch, steps, _ = x.shape
        valid = _mask(lengths, batch, steps, x.device)
        n = valid.sum(1)
        width = max(self.config.kernel_sizes)
        x = x.masked_fill(~valid.unsqueeze(-1), 0.0)  # padding reads as zeros, whatever it held
        if steps < width:
            x = F.pad(x, (0, 0, 0, width - steps))
        x = x.transpose(1, 2)  # (B, E, T)
        pooled = []
        for conv, k in zip(self.convs, self.config.kernel_sizes):
            c = torch.relu(conv(x))  # (B, C, T - k + 1): window t covers steps t..t+k-1
            # windows inside the sequence: t <= n - k (a sequence shorter than k keeps its one zero-padded window)
            last = (n - k).clamp(min=0)
            keep = torch.arange(c.size(2), device=x.device).unsqueeze(0) <= last.unsqueeze(1)
            pooled.append(c.masked_fill(~keep.unsqueeze(1), float("-inf")).max(dim=2).values)
        return torch.cat(pooled, dim=1).unsqueeze(1), None
