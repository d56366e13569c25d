"""``SoftAttentionDecoder``: Show, Attend and Tell (Xu et al. 2015), soft ("deterministic") attention.

The memory is the image grid ``a`` ``(B, R, D)`` (an image encoder's ``grid``; ``memory_size = D``). One step, with
``h_{t-1}`` the top layer's previous hidden state:

- attention (additive, over real regions): ``e_ti = v^T tanh(W_h h_{t-1} + W_a a_i + b)``,
  ``alpha_t = masked_softmax(e_t)``;
- gating (``gating``): ``beta_t = sigmoid(f_beta(h_{t-1}))``, one scalar per row (paper, sec. 4.2.1); else 1;
- context: ``z_t = beta_t * sum_i alpha_ti a_i``;
- recurrence: ``h_t = RNN([E y_{t-1}; z_t], state)`` (``nn.RNN/LSTM/GRU``, ``num_layers``, dropout between layers);
- output, the paper's deep output (eq. 7): ``logits = L_o dropout(E y_{t-1} + L_h h_t + L_z z_t)``, with ``L_h``,
  ``L_z`` projecting into the embedding space and ``L_o`` to the vocabulary.

``init="mean"``: ``h_0 = tanh(W_init_h mean_i a_i)`` (and ``c_0 = tanh(W_init_c mean_i a_i)`` for an LSTM), one
projection per layer, the mean over real regions; ``init="zero"`` starts from zeros. The encoder state is unused.

State: ``{"rnn": h or (h, c), "keys": W_a a + b}``; ``h``/``c`` are ``(layers, B, H)`` and the attention keys (the
query-independent part of ``e_ti``, computed once per image in ``init_state``) are stored as ``(1, B, R, A)``, so
every state tensor has its batch on dimension 1 and the default ``reorder_state`` moves them with their rows.
``forward`` (teacher forcing) steps, because ``z_t`` depends on ``h_{t-1}``; it returns the attention ``(B, T, R)``
from which the task computes :func:`doubly_stochastic_penalty`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.attention import AdditiveAttention
from seqlab.models.base import State
from seqlab.models.decoder import Decoder, DecoderOutput
from seqlab.models.fused_stack import FUSED

__all__ = ["SoftAttentionDecoder", "SoftAttentionDecoderConfig", "doubly_stochastic_penalty"]

CELLS = ("rnn", "lstm", "gru")
INITS = ("mean", "zero")


@dataclass
class SoftAttentionDecoderConfig:
    """Hyper-parameters of :class:`SoftAttentionDecoder`."""

    cell: str = "lstm"
    hidden_size: int = 512
    num_layers: int = 1
    dropout: float = 0.5  # before the output layer, and between stacked layers
    embedding_dim: int = 256
    attention_size: int = 256
    gating: bool = True  # beta_t = sigmoid(f_beta(h_{t-1})) scales the context
    init: str = "mean"  # mean: h_0 (c_0) = tanh(W mean_i a_i); zero


def check_config(config: SoftAttentionDecoderConfig, memory_size: int | None) -> None:
    """Raise ConfigError for an impossible configuration."""
    if config.cell not in CELLS:
        raise ConfigError("decoder.cell", f"unknown cell {config.cell!r}", CELLS)
    if config.init not in INITS:
        raise ConfigError("decoder.init", f"unknown init {config.init!r}", INITS)
    for key in ("hidden_size", "num_layers", "embedding_dim", "attention_size"):
        if int(getattr(config, key)) < 1:
            raise ConfigError(f"decoder.{key}", f"must be >= 1, got {getattr(config, key)}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError("decoder.dropout", f"must be in [0, 1), got {config.dropout}")
    if memory_size is None or memory_size < 1:
        raise ConfigError("decoder.name", "show_attend_tell attends over image regions: it needs a memory_size")


def masked_mean(memory: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``mean_i a_i`` over real regions: ``(B, R, D)`` -> ``(B, D)`` (0 for a row without any)."""
    if mask is None:
        return memory.mean(dim=1)
    weights = mask.to(memory.dtype)
    return (memory * weights[:, :, None]).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp(min=1.0)


def doubly_stochastic_penalty(
    attention: torch.Tensor,
    mask: torch.Tensor | None = None,
    memory_mask: torch.Tensor | None = None,
    per_region: bool = False,
) -> torch.Tensor:
    """``mean_b sum_i (1 - sum_t alpha_bti)^2``: the regularizer of Xu et al. (eq. 14) without its lambda; with
    ``per_region`` the mean over the regions instead of the sum (``mean_b mean_i``).

    ``attention`` ``(B, T, R)`` from the teacher-forced pass; ``mask`` ``(B, T)`` bool, True at real target steps
    (padding steps do not count in ``sum_t``), or None (all real); ``memory_mask`` ``(B, R)``, True at real regions
    (padded regions are left out of ``sum_i``), or None. Averaged over the batch rows; the task multiplies by lambda.
    Xu et al. add the sum to a loss summed over the caption's words; next to a loss averaged over the words (as
    seqlab's tasks train) the sum over R regions weighs R times more, which is why the caption task uses
    ``per_region`` (as sgrvinod's PyTorch tutorial does).
    """
    if mask is not None:
        attention = attention * mask[:, :, None].to(attention.dtype)
    squares = (1.0 - attention.sum(dim=1)) ** 2  # (B, R)
    if memory_mask is not None:
        squares = squares * memory_mask.to(squares.dtype)
    if not per_region:
        return squares.sum(dim=1).mean()
    regions = squares.new_full(squares.shape[:1], squares.size(1)) if memory_mask is None else memory_mask.sum(1)
    return (squares.sum(dim=1) / regions.clamp(min=1)).mean()


class SoftAttentionDecoder(Decoder):
    """Show, Attend and Tell's decoder; the module docstring states the equations and the state."""

    Config: ClassVar[type] = SoftAttentionDecoderConfig
    causal: ClassVar[bool] = True
    uses_memory: ClassVar[bool] = True

    def __init__(
        self, vocab_size: int, memory_size: int | None, config: SoftAttentionDecoderConfig | None = None
    ) -> None:
        super().__init__(vocab_size)
        config = config if config is not None else SoftAttentionDecoderConfig()
        check_config(config, memory_size)
        assert memory_size is not None
        self.config = config
        self.memory_size = memory_size
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.lstm = config.cell == "lstm"
        hidden, layers, emb = config.hidden_size, config.num_layers, config.embedding_dim

        self.embedding = nn.Embedding(vocab_size, emb)
        self.attention = AdditiveAttention(hidden, memory_size, config.attention_size)
        self.f_beta = nn.Linear(hidden, 1) if config.gating else None
        self.rnn = FUSED[config.cell](
            emb + memory_size,
            hidden,
            num_layers=layers,
            dropout=config.dropout if layers > 1 else 0.0,
            batch_first=True,
        )
        from_mean = config.init == "mean"
        self.init_h = nn.Linear(memory_size, layers * hidden) if from_mean else None
        self.init_c = nn.Linear(memory_size, layers * hidden) if from_mean and self.lstm else None
        self.l_h = nn.Linear(hidden, emb, bias=False)
        self.l_z = nn.Linear(memory_size, emb, bias=False)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(emb, vocab_size)

    # ---- state -------------------------------------------------------------------------------------------------
    def _initial(self, proj: nn.Linear | None, mean: torch.Tensor) -> torch.Tensor:
        """``tanh(W mean_i a_i)`` as ``(layers, B, H)``, or zeros."""
        if proj is None:
            return mean.new_zeros(self.num_layers, mean.size(0), self.hidden_size)
        init = torch.tanh(proj(mean)).view(mean.size(0), self.num_layers, self.hidden_size)
        return init.transpose(0, 1).contiguous()

    def init_state(
        self, memory: torch.Tensor | None, memory_mask: torch.Tensor | None = None, encoder_state: State = None
    ) -> State:
        """``h_0`` (``c_0``) from the mean region (``init``) and the attention keys ``W_a a_i + b``."""
        memory = self._check_memory(memory)
        mean = masked_mean(memory, memory_mask)
        h = self._initial(self.init_h, mean)
        rnn: State = (h, self._initial(self.init_c, mean)) if self.lstm else h
        return {"rnn": rnn, "keys": self.attention.project_memory(memory)[None]}

    def _check_memory(self, memory: torch.Tensor | None) -> torch.Tensor:
        if memory is None or memory.dim() != 3 or memory.size(2) != self.memory_size:
            got = None if memory is None else tuple(memory.shape)
            raise ValueError(f"SoftAttentionDecoder needs a memory (B, R, {self.memory_size}), got {got}")
        return memory

    # ---- one step ----------------------------------------------------------------------------------------------
    def attend(
        self,
        h_prev: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
        keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z_t (B, D), alpha_t (B, R), beta_t (B, 1))`` for the previous top hidden state ``h_prev`` ``(B, H)``;
        ``keys`` ``(B, R, A)`` are ``W_a a + b`` (computed here when None)."""
        context, alpha = self.attention(h_prev, memory, memory_mask, projected=keys)
        beta = torch.sigmoid(self.f_beta(h_prev)) if self.f_beta is not None else context.new_ones(h_prev.size(0), 1)
        return beta * context, alpha, beta

    def step(
        self,
        prev_tokens: torch.Tensor,
        state: State,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> DecoderOutput:
        memory = self._check_memory(memory)
        rnn = state["rnn"]
        h_prev = (rnn[0] if self.lstm else rnn)[-1]  # top layer, (B, H)
        z, alpha, _ = self.attend(h_prev, memory, memory_mask, state["keys"][0])
        embedded = self.embedding(prev_tokens)  # (B, E)
        output, rnn = self.rnn(torch.cat([embedded, z], dim=-1)[:, None, :], rnn)  # (B, 1, H)
        deep = embedded + self.l_h(output[:, 0]) + self.l_z(z)
        logits = self.out(self.dropout(deep))
        return logits, {"rnn": rnn, "keys": state["keys"]}, alpha
