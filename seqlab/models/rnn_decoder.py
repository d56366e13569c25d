"""``RNNDecoder``: an embedding, a stacked Elman RNN / LSTM / GRU, optional attention and input feeding.

One step (``h_t`` is the top layer's output, ``c_t`` the attention context over the memory):

- input: ``x_t = E[y_{t-1}]``, with input feeding ``x_t = [E[y_{t-1}]; a_{t-1}]`` (Luong et al. 2015);
- recurrence: ``h_t = RNN(x_t, state)`` (``nn.RNN/LSTM/GRU``, ``num_layers``, dropout between layers);
- attention (``attention != none``): ``c_t, alpha_t = Attention(h_t, memory, mask)``, queried with the *current*
  top hidden state for every scoring function (Luong's order; Bahdanau's original queries ``h_{t-1}``);
- output: with attention, Luong's attentional layer ``a_t = tanh(W_c [h_t; c_t])`` and ``logits = W_o a_t`` (the
  same for every scoring function, so ``a_t`` is also what input feeding feeds); without attention
  ``logits = W_o h_t``.

State: ``{"rnn": h or (h, c), "feed": a_{t-1}}`` (``"feed"`` only with input feeding). ``h``/``c`` are
``(layers, B, H)``; ``feed`` is stored as ``(1, B, H)`` so that every state tensor has its batch on dimension 1
(``state_batch_dim``) and the default ``reorder_state`` applies.

Without input feeding, ``forward`` (teacher forcing) is one fused ``nn.RNN/LSTM/GRU`` call and one batched attention;
with it each step needs the previous step's output, so it loops ``step`` (the base class's ``forward``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.attention import ATTENTION_KINDS, build_attention
from seqlab.models.base import State
from seqlab.models.decoder import Decoder, DecoderOutput
from seqlab.models.fused_stack import FUSED

__all__ = ["RNNDecoder", "RNNDecoderConfig"]

CELLS = ("rnn", "lstm", "gru")


@dataclass
class RNNDecoderConfig:
    """Hyper-parameters of :class:`RNNDecoder`."""

    cell: str = "gru"
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.0  # between stacked layers
    embedding_dim: int = 256
    attention: str = "bahdanau"  # none | bahdanau | luong_dot | luong_general
    input_feeding: bool = False  # needs attention


def check_decoder_config(config: RNNDecoderConfig, memory_size: int | None) -> None:
    """Raise ConfigError for an impossible configuration."""
    if config.cell not in CELLS:
        raise ConfigError("decoder.cell", f"unknown cell {config.cell!r}", CELLS)
    if config.attention not in ATTENTION_KINDS:
        raise ConfigError("decoder.attention", f"unknown attention {config.attention!r}", ATTENTION_KINDS)
    for key in ("hidden_size", "num_layers", "embedding_dim"):
        if int(getattr(config, key)) < 1:
            raise ConfigError(f"decoder.{key}", f"must be >= 1, got {getattr(config, key)}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError("decoder.dropout", f"must be in [0, 1), got {config.dropout}")
    if config.attention != "none" and memory_size is None:
        raise ConfigError("decoder.attention", f"{config.attention} attention needs a memory (memory_size)")
    if config.attention == "luong_dot" and memory_size is not None and memory_size != config.hidden_size:
        raise ConfigError(
            "decoder.attention",
            f"luong_dot needs the hidden size ({config.hidden_size}) to equal the memory size ({memory_size})",
            ["bahdanau", "luong_general", "none"],
        )
    if config.input_feeding and config.attention == "none":
        raise ConfigError("decoder.input_feeding", "input feeding feeds the attentional vector: it needs attention")


class RNNDecoder(Decoder):
    """A recurrent decoder: see the module docstring for the equations and the state."""

    Config: ClassVar[type] = RNNDecoderConfig
    causal: ClassVar[bool] = True
    _fused: ClassVar[dict[str, type[nn.RNNBase]]] = FUSED

    def __init__(self, vocab_size: int, memory_size: int | None, config: RNNDecoderConfig | None = None) -> None:
        super().__init__(vocab_size)
        config = config if config is not None else RNNDecoderConfig()
        check_decoder_config(config, memory_size)
        self.config = config
        self.memory_size = memory_size
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.lstm = config.cell == "lstm"
        self.input_feeding = bool(config.input_feeding)
        self.uses_memory = config.attention != "none"  # instance attribute: depends on the config

        self.embedding = nn.Embedding(vocab_size, config.embedding_dim)
        rnn_input = config.embedding_dim + (config.hidden_size if self.input_feeding else 0)
        self.rnn = self._fused[config.cell](
            rnn_input,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.attention = build_attention(config.attention, config.hidden_size, memory_size or 0, config.hidden_size)
        if self.attention is not None:
            self.combine = nn.Linear(config.hidden_size + (memory_size or 0), config.hidden_size, bias=False)
        self.out = nn.Linear(config.hidden_size, vocab_size)

    # ---- state -------------------------------------------------------------------------------------------------
    def _fits(self, tensor: object, batch: int | None) -> bool:
        return (
            isinstance(tensor, torch.Tensor)
            and tensor.dim() == 3
            and tensor.size(0) == self.num_layers
            and tensor.size(2) == self.hidden_size
            and (batch is None or tensor.size(1) == batch)
        )

    def init_state(
        self, memory: torch.Tensor | None, memory_mask: torch.Tensor | None = None, encoder_state: State = None
    ) -> State:
        """The encoder's final state when its shape fits ``(layers, B, hidden)``, else zeros.

        LSTM: a ``(h, c)`` tuple of fitting tensors is used as is; a single fitting tensor is taken as ``h`` with
        ``c = 0``. A state of another shape (other depth or width, a bidirectional encoder's ``(2 * layers, B, H)``)
        is ignored: bridging it (a projection, merging directions) is, for now, the task's job. The batch size comes
        from ``memory``, else from ``encoder_state``.
        """
        param = self.out.weight
        batch = memory.size(0) if memory is not None else None
        parts = list(encoder_state) if isinstance(encoder_state, tuple | list) else [encoder_state]
        if batch is None:
            found = [p for p in parts if isinstance(p, torch.Tensor) and p.dim() == 3]
            if not found:
                raise ValueError("RNNDecoder.init_state needs a memory or an encoder_state to know the batch size")
            batch = found[0].size(1)
        zeros = param.new_zeros(self.num_layers, batch, self.hidden_size)
        if self.lstm:
            if len(parts) == 2 and all(self._fits(p, batch) for p in parts):
                rnn: State = (parts[0], parts[1])
            elif len(parts) == 1 and self._fits(parts[0], batch):
                rnn = (parts[0], torch.zeros_like(parts[0]))
            else:
                rnn = (zeros, zeros.clone())
        else:
            h = parts[0] if parts and self._fits(parts[0], batch) else None
            rnn = h if h is not None else zeros
        state = {"rnn": rnn}
        if self.input_feeding:
            state["feed"] = param.new_zeros(1, batch, self.hidden_size)
        return state

    # ---- steps -------------------------------------------------------------------------------------------------
    def _check_memory(self, memory: torch.Tensor | None) -> None:
        if self.attention is not None and memory is None:
            raise ValueError(f"RNNDecoder with {self.config.attention} attention needs a memory")

    def _output(
        self, hidden: torch.Tensor, memory: torch.Tensor | None, memory_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``hidden`` ``(B, [T,] H)`` -> logits, attentional vector ``a`` (or ``hidden``), attention weights."""
        if self.attention is None:
            return self.out(hidden), hidden, None
        context, weights = self.attention(hidden, memory, memory_mask)
        attentional = torch.tanh(self.combine(torch.cat([hidden, context], dim=-1)))
        return self.out(attentional), attentional, weights

    def step(
        self,
        prev_tokens: torch.Tensor,
        state: State,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> DecoderOutput:
        self._check_memory(memory)
        x = self.embedding(prev_tokens)  # (B, E)
        if self.input_feeding:
            x = torch.cat([x, state["feed"][0]], dim=-1)
        output, rnn = self.rnn(x[:, None, :], state["rnn"])  # (B, 1, H)
        logits, attentional, weights = self._output(output[:, 0], memory, memory_mask)
        new_state = {"rnn": rnn}
        if self.input_feeding:
            new_state["feed"] = attentional[None]
        return logits, new_state, weights

    def forward(
        self,
        tokens: torch.Tensor,
        state: State,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> DecoderOutput:
        """Teacher forcing ``(B, T)``: one fused pass without input feeding, ``step`` by ``step`` with it."""
        if self.input_feeding or tokens.size(1) == 0:
            return super().forward(tokens, state, memory, memory_mask)
        self._check_memory(memory)
        output, rnn = self.rnn(self.embedding(tokens), state["rnn"])  # (B, T, H)
        logits, _, weights = self._output(output, memory, memory_mask)
        return logits, {"rnn": rnn}, weights
