"""Elman RNN, LSTM and GRU encoders: any depth, uni- or bidirectional, dropout between layers.

The recurrent core is ``self.rnn``: PyTorch's fused ``nn.RNN/LSTM/GRU`` (``impl=fused``). Parameter names follow
``torch.nn`` (``rnn.weight_ih_l0``, ``rnn.weight_hh_l0_reverse``, ...), so a state_dict moves between
implementations unchanged. Dropout is applied between stacked layers, never on the recurrent path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.errors import ConfigError
from seqlab.models.base import ModelConfig, SequenceModel, State

IMPLS = ("fused",)
INITS = ("default", "orthogonal")
NONLINEARITIES = ("tanh", "relu")


@dataclass
class RecurrentConfig(ModelConfig):
    """Hyper-parameters shared by the Elman RNN, LSTM and GRU."""

    name: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 2
    bidirectional: bool = False
    dropout: float = 0.0
    impl: str = "fused"
    nonlinearity: str = "tanh"
    init: str = "default"
    forget_bias: float | None = None


class RecurrentEncoder(SequenceModel):
    """A stack of recurrent layers; ``cell`` is one of ``rnn``, ``lstm``, ``gru``."""

    Config: ClassVar[type] = RecurrentConfig
    cell: ClassVar[str] = "lstm"
    _fused: ClassVar[dict[str, type[nn.Module]]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

    def __init__(self, input_size: int, config: RecurrentConfig) -> None:
        super().__init__(input_size, config)
        check_recurrent_config(config, self.cell)
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.bidirectional = config.bidirectional
        self.output_size = config.hidden_size * (2 if config.bidirectional else 1)
        kwargs = dict(
            input_size=input_size,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        if self.cell == "rnn":
            kwargs["nonlinearity"] = config.nonlinearity
        self.rnn = self._fused[self.cell](**kwargs)
        initialize(self.rnn, config.init, config.forget_bias if self.cell == "lstm" else None)

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        if lengths is None:
            return self.rnn(x, state)
        total = x.size(1)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=total)
        return out, state


class ElmanRNN(RecurrentEncoder):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (``nonlinearity=relu`` for ReLU)."""

    cell = "rnn"


class LSTM(RecurrentEncoder):
    """Long short-term memory: input, forget, output gates and a cell state (Hochreiter & Schmidhuber 1997)."""

    cell = "lstm"


class GRU(RecurrentEncoder):
    """Gated recurrent unit with update and reset gates, as ``torch.nn.GRU`` (Cho et al. 2014)."""

    cell = "gru"


def check_recurrent_config(config: RecurrentConfig, cell: str) -> None:
    """Raise ConfigError for values no recurrent encoder accepts."""
    if config.hidden_size < 1:
        raise ConfigError("model.hidden_size", f"must be >= 1, got {config.hidden_size}")
    if config.num_layers < 1:
        raise ConfigError("model.num_layers", f"must be >= 1, got {config.num_layers}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError("model.dropout", f"must be in [0, 1), got {config.dropout}")
    if config.impl not in IMPLS:
        raise ConfigError("model.impl", f"unknown implementation '{config.impl}'", allowed=IMPLS)
    if config.init not in INITS:
        raise ConfigError("model.init", f"unknown initialization '{config.init}'", allowed=INITS)
    if cell == "rnn" and config.nonlinearity not in NONLINEARITIES:
        raise ConfigError("model.nonlinearity", f"unknown '{config.nonlinearity}'", allowed=NONLINEARITIES)


def initialize(rnn: nn.Module, scheme: str, forget_bias: float | None = None) -> None:
    """``default`` keeps PyTorch's U(-1/sqrt(H), 1/sqrt(H)); ``orthogonal`` makes each gate's W_hh block
    orthogonal and W_ih Xavier-uniform, biases zero. ``forget_bias`` sets the LSTM forget-gate biases
    (b_ih + b_hh) to that value."""
    hidden = rnn.hidden_size
    for name, param in rnn.named_parameters():
        if scheme == "orthogonal":
            with torch.no_grad():
                if name.startswith("weight_hh"):
                    for block in param.split(hidden, dim=0):
                        nn.init.orthogonal_(block)
                elif name.startswith("weight_ih"):
                    for block in param.split(hidden, dim=0):
                        nn.init.xavier_uniform_(block)
                elif name.startswith("bias"):
                    param.zero_()
        if forget_bias is not None and name.startswith("bias"):
            with torch.no_grad():
                # gate order i, f, g, o; the two biases add up, so each carries half
                param[hidden : 2 * hidden].fill_(forget_bias / 2)
