"""An IndRNN decoder (decoder ``indrnn``): one IndRNN layer over the previous token, optional attention.

One step, from the previous token ``y_{t-1}`` and the state ``h_{t-1}``:

- ``h_t = relu(W E[y_{t-1}] + b + u * h_{t-1})`` (an IndRNN layer: ``u`` is one recurrent weight per unit);
- with attention (Luong's "general" score): ``alpha_t = softmax_s(h_t . W_a m_s)`` over the real memory positions,
  ``c_t = sum_s alpha_ts m_s``, ``a_t = tanh(W_c [h_t; c_t])``, ``logits = W_o a_t``;
- without attention: ``logits = W_o h_t`` and no memory is needed (``uses_memory = False``).

The state is ``h`` as ``(1, B, H)``, batch on dimension 1 like ``torch.nn.RNN``'s, so the base class's
``reorder_state`` serves beam search and ``forward`` (teacher forcing) is the base class's loop over ``step``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from seqlab.api import ConfigError, Decoder, DecoderOutput, State


@dataclass
class IndRNNDecoderConfig:
    hidden_size: int = 256
    embedding_dim: int = 128
    attention: bool = True  # attend over the memory (needs memory_size); false: condition on the state only
    recurrent_init: float = 1.0  # u ~ U(0, recurrent_init)


class IndRNNDecoder(Decoder):
    """See the module docstring for the equations and the state."""

    Config: ClassVar[type] = IndRNNDecoderConfig

    def __init__(self, vocab_size: int, memory_size: int | None, config: IndRNNDecoderConfig | None = None) -> None:
        super().__init__(vocab_size)
        config = config if config is not None else IndRNNDecoderConfig()
        for key in ("hidden_size", "embedding_dim"):
            if getattr(config, key) < 1:
                raise ConfigError(f"decoder.{key}", f"must be >= 1, got {getattr(config, key)}")
        if config.attention and memory_size is None:
            raise ConfigError("decoder.attention", "attention needs a memory (memory_size)", allowed=[False])
        self.config = config
        self.hidden_size = config.hidden_size
        self.uses_memory = config.attention  # an instance attribute: it depends on the config
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim)
        self.input = nn.Linear(config.embedding_dim, config.hidden_size)
        self.recurrent = nn.Parameter(torch.empty(config.hidden_size).uniform_(0.0, config.recurrent_init))
        if config.attention:
            self.score = nn.Linear(memory_size, config.hidden_size, bias=False)
            self.combine = nn.Linear(config.hidden_size + memory_size, config.hidden_size)
        self.out = nn.Linear(config.hidden_size, vocab_size)

    def init_state(
        self, memory: torch.Tensor | None, memory_mask: torch.Tensor | None = None, encoder_state: State = None
    ) -> State:
        """The top layer of an encoder state ``(layers, B, hidden_size)`` when one fits, else zeros."""
        if isinstance(encoder_state, torch.Tensor) and encoder_state.dim() == 3:
            if encoder_state.size(2) == self.hidden_size:
                return encoder_state[-1:]
        if memory is None:
            raise ValueError("IndRNNDecoder.init_state needs a memory or an encoder state (layers, B, hidden_size)")
        return memory.new_zeros(1, memory.size(0), self.hidden_size)

    def step(
        self,
        prev_tokens: torch.Tensor,
        state: State,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> DecoderOutput:
        h = torch.relu(self.input(self.embedding(prev_tokens)) + self.recurrent * state[0])  # (B, H)
        if not self.uses_memory:
            return self.out(h), h[None], None
        if memory is None:
            raise ValueError("IndRNNDecoder with attention needs a memory")
        scores = torch.einsum("bsh,bh->bs", self.score(memory), h)  # (B, S)
        if memory_mask is not None:
            scores = scores.masked_fill(~memory_mask, float("-inf"))  # exactly 0 weight on padding
        weights = torch.softmax(scores, dim=-1)
        context = torch.einsum("bs,bsm->bm", weights, memory)
        attentional = torch.tanh(self.combine(torch.cat([h, context], dim=-1)))
        return self.out(attentional), h[None], weights
