"""The encoder contract every sequence model (built-in or plugin) keeps.

``forward(x, state=None, lengths=None) -> (outputs, state)``

- ``x``: ``(batch, time, input_size)`` float.
- ``state``: ``None`` (zeros) or what a previous call returned; a Tensor or a tuple of Tensors.
- ``lengths``: optional ``(batch,)`` valid lengths; padded steps never change the state and give zero outputs.
- ``outputs``: ``(batch, time, output_size)``; ``state``: the state after each sequence's last valid step.

A model also states ``output_size``, ``bidirectional`` (a bidirectional model cannot serve a causal task) and
``num_parameters()``. Its hyper-parameters are a dataclass named ``Config`` on the class; the task builds it with
``Model(input_size, config)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

State = Any  # Tensor | tuple[Tensor, ...] | None


@dataclass
class ModelConfig:
    """Fields every model config has."""

    name: str = "???"


class SequenceModel(nn.Module):
    """Base class of sequence encoders; subclasses set ``Config`` and implement ``forward``."""

    Config: ClassVar[type] = ModelConfig
    output_size: int
    bidirectional: bool = False
    # optional, read by tasks with these defaults:
    # "ids": x is (B, T) long token ids and input_size is the vocabulary size (e.g. the bag-of-words baseline)
    input_kind: ClassVar[str] = "embeddings"
    # True: outputs are (B, 1, F) whole-sequence summaries and the state is None (nothing to carry or pool)
    pooled: ClassVar[bool] = False

    def __init__(self, input_size: int, config: Any) -> None:
        super().__init__()
        self.input_size = input_size
        self.config = config

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def num_parameters(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def detach_state(state: State) -> State:
    """Cut the graph behind a state of any shape (Tensor, tuple/list of Tensors, nested, or None)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(detach_state(s) for s in state)
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    raise TypeError(f"cannot detach a state of type {type(state).__name__}")


def select_state(state: State, index: torch.Tensor, batch_dim: int = 1) -> State:
    """Rows ``index`` of a state whose batch dimension is ``batch_dim`` (for a smaller last batch)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(batch_dim, index)
    return type(state)(select_state(s, index, batch_dim) for s in state)
