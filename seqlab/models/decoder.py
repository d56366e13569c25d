"""The decoder contract: one step API that serves teacher forcing, greedy decoding, sampling and beam search.

A decoder emits tokens one at a time, conditioned on an optional *memory* (an encoder's per-position outputs, or
image-region features) through attention, and on a state it carries between steps:

- ``init_state(memory, memory_mask, encoder_state) -> state``
- ``step(prev_tokens, state, memory, memory_mask) -> (logits, state, attention)``
- ``reorder_state(state, index) -> state`` (beam search: pick, reorder or duplicate batch rows)
- ``forward(tokens, state, memory, memory_mask) -> (logits, state, attention)`` (teacher forcing; equal to stepping)

Shapes: ``memory`` ``(B, S, H_mem)`` or None; ``memory_mask`` ``(B, S)`` bool, True on real positions, or None (all
real); ``prev_tokens`` ``(B,)`` long; ``logits`` ``(B, V)``; ``attention`` ``(B, S)`` (sums to 1 over real positions,
0 on padding) or None for a decoder without attention. ``state`` is any nested structure of Tensors (Tensor, tuple as
an LSTM's ``(h, c)``, list, dict, None) whose batch dimension is ``state_batch_dim`` in every Tensor.

Token ids of the vocabulary (``<bos>``, ``<eos>``, ``<pad>``) are not decoder attributes: they belong to the
vocabulary, so the search functions take ``bos_id`` and ``eos_id`` as arguments. A decoder knows ``vocab_size`` only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from seqlab.models.base import State, select_state
from seqlab.old_paths import keep_old_paths

__all__ = ["Decoder", "DecoderOutput", "State"]

DecoderOutput = tuple[torch.Tensor, State, torch.Tensor | None]


class Decoder(nn.Module, ABC):
    """Base class of decoders; subclasses implement ``init_state`` and ``step`` (and may override the rest).

    Capabilities (class attributes, read by pre-flight checks and the search):

    - ``causal``: logits at step t depend on tokens up to t only. Always True for a decoder; declared so a role
      check can read it like an encoder's ``bidirectional``.
    - ``uses_memory``: the decoder attends over ``memory``; False means ``memory`` may be None (e.g. a captioning
      decoder initialised from a pooled image feature through ``encoder_state``).
    - ``state_batch_dim``: the batch dimension of every state Tensor; 1 is ``torch.nn.{RNN,LSTM,GRU}``'s
      ``(layers, B, H)``. A decoder whose state mixes layouts overrides ``reorder_state``.
    """

    causal: ClassVar[bool] = True
    uses_memory: ClassVar[bool] = True
    state_batch_dim: ClassVar[int] = 1

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size

    @abstractmethod
    def init_state(
        self, memory: torch.Tensor | None, memory_mask: torch.Tensor | None, encoder_state: State = None
    ) -> State:
        """The state before the first step, from the memory ``(B, S, H_mem)`` and/or the encoder's final state."""

    @abstractmethod
    def step(
        self,
        prev_tokens: torch.Tensor,
        state: State,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> DecoderOutput:
        """One step: previous tokens ``(B,)`` -> ``(logits (B, V), state, attention (B, S) or None)``.

        Rows are independent: row b of the outputs depends on row b of the inputs only.
        """

    def reorder_state(self, state: State, index: torch.Tensor) -> State:
        """Rows ``index`` ``(B',)`` of the state (may repeat rows): ``state'[b] = state[index[b]]``."""
        return select_state(state, index, self.state_batch_dim)

    def forward(
        self,
        tokens: torch.Tensor,
        state: State,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> DecoderOutput:
        """Teacher forcing: inputs ``(B, T)`` -> ``(logits (B, T, V), final state, attention (B, T, S) or None)``.

        Contract: equal to calling ``step`` on ``tokens[:, t]`` for t = 0..T-1. This default does exactly that; a
        subclass may override it with a fused pass (e.g. one ``nn.GRU`` call when there is no input feeding).
        """
        logits, attention = [], []
        for t in range(tokens.size(1)):
            step_logits, state, attn = self.step(tokens[:, t], state, memory, memory_mask)
            logits.append(step_logits)
            attention.append(attn)
        if not logits:
            return tokens.new_zeros(tokens.size(0), 0, self.vocab_size, dtype=torch.float), state, None
        stacked = None if any(a is None for a in attention) else torch.stack(attention, dim=1)
        return torch.stack(logits, dim=1), state, stacked

    def num_parameters(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("Decoder", "DecoderOutput"))
