"""A small Transformer encoder (Vaswani et al. 2017), pre-LayerNorm (GPT-2 style): the baseline that replaced RNNs.

``h^0_t = W_in x_t + P_t`` (a linear map when ``input_size != hidden_size``; ``P`` sinusoidal or learned positions),
then ``num_layers`` blocks ``h = h + MHA(LN(h))``, ``h = h + FFN(LN(h))`` (``torch.nn.TransformerEncoderLayer`` with
``norm_first=True``, GELU, ``dropout`` on attention, FFN and residuals), and a final LayerNorm.

- ``bidirectional=false`` (default): a causal mask, output t attends to inputs <= t only, so causal tasks (language
  models) may use it; ``bidirectional=true`` attends both ways (a BERT-style encoder; causal tasks refuse it). The
  key is named as the recurrent encoders' so every direction check (causal tasks, TBPTT) reads one key.
- ``lengths``: padded keys are masked out and padded outputs are zero.
- No recurrent state: ``forward`` returns state None and ignores a state passed in; each call (a batch, or a TBPTT
  chunk of a carried stream) is seen on its own, with positions from 0. The class declares ``carries_state = False``
  (:mod:`seqlab.models.capabilities`): truncated BPTT and a decoder bridge from the final state are refused at
  pre-flight; a carried state stays None. Learned positions cap a call at ``max_len`` steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.base import ModelConfig, SequenceModel, State, length_mask
from seqlab.models.step_probe import Record

POSITIONS = ("sinusoidal", "learned")


@dataclass
class TransformerConfig(ModelConfig):
    """Hyper-parameters of :class:`TransformerEncoder`."""

    name: str = "transformer"
    num_layers: int = 2
    num_heads: int = 4
    hidden_size: int = 256
    ffn_size: int = 1024
    dropout: float = 0.1
    positions: str = "sinusoidal"
    max_len: int = 512
    bidirectional: bool = False


def sinusoidal_positions(steps: int, size: int, device: torch.device | None = None) -> torch.Tensor:
    """``(steps, size)``: ``P[t, 2i] = sin(t / 10000^(2i/size))``, ``P[t, 2i+1] = cos(...)``."""
    position = torch.arange(steps, device=device, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(torch.arange(0, size, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / size))
    table = torch.zeros(steps, size, device=device)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : size // 2]
    return table


class TransformerEncoder(SequenceModel):
    """``forward(x (B, T, I), state=None, lengths=None) -> (out (B, T, hidden_size), None)``."""

    Config: ClassVar[type] = TransformerConfig
    carries_state: ClassVar[bool] = False  # see seqlab/models/capabilities.py

    def __init__(self, input_size: int, config: TransformerConfig) -> None:
        super().__init__(input_size, config)
        check_transformer_config(config)
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.bidirectional = bool(config.bidirectional)
        self.output_size = config.hidden_size
        self.max_len = config.max_len
        self.input_proj = (
            nn.Identity() if input_size == config.hidden_size else nn.Linear(input_size, config.hidden_size)
        )
        self.position = nn.Embedding(config.max_len, config.hidden_size) if config.positions == "learned" else None
        if self.position is not None:
            nn.init.normal_(self.position.weight, std=0.02)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            config.hidden_size,
            config.num_heads,
            config.ffn_size,
            config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        # nested tensors are for post-norm layers only (and would warn)
        self.layers = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.hidden_size)

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        steps = x.size(1)
        h = self.input_proj(x)
        if self.position is not None:
            if steps > self.max_len:
                raise ValueError(f"{steps} steps in one call, more than model.max_len={self.max_len} learned positions")
            h = h + self.position.weight[:steps]
        else:
            h = h + sinusoidal_positions(steps, self.hidden_size, x.device).to(h.dtype)
        h = self.dropout(h)
        causal = None
        if not self.bidirectional:
            causal = torch.ones(steps, steps, dtype=torch.bool, device=x.device).triu(1)  # True: may not attend
        valid = None if lengths is None else length_mask(lengths.to(x.device), steps)
        h = self.layers(
            h, mask=causal, src_key_padding_mask=None if valid is None else ~valid, is_causal=causal is not None
        )
        out = self.norm(h)
        if valid is not None:
            out = out.masked_fill(~valid.unsqueeze(-1), 0.0)
        return out, None

    @contextmanager
    def recording_steps(self, record: Record) -> Iterator[None]:
        """Refused: a transformer has no recurrence, so there is no hidden state handed from step to step."""
        raise ValueError("TransformerEncoder carries no state from step to step: it cannot run one step at a time")
        yield  # pragma: no cover


def check_transformer_config(config: TransformerConfig) -> None:
    """Raise ConfigError for values the transformer cannot take."""
    for key in ("num_layers", "num_heads", "hidden_size", "ffn_size", "max_len"):
        if getattr(config, key) < 1:
            raise ConfigError(f"model.{key}", f"must be >= 1, got {getattr(config, key)}")
    if config.hidden_size % config.num_heads:
        raise ConfigError(
            "model.num_heads",
            f"must divide model.hidden_size ({config.hidden_size}), got {config.num_heads}",
        )
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError("model.dropout", f"must be in [0, 1), got {config.dropout}")
    if config.positions not in POSITIONS:
        raise ConfigError("model.positions", f"unknown positions '{config.positions}'", allowed=POSITIONS)
    if not isinstance(config.bidirectional, bool):
        raise ConfigError("model.bidirectional", f"must be true or false, got {config.bidirectional!r}")
