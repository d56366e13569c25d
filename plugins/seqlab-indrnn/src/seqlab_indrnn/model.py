"""IndRNN: independently recurrent neurons (Li, Li, Cook, Zhu, Gao 2018, "Independently Recurrent Neural Network").

One layer, one direction: ``h_t = sigma(W x_t + b + u * h_{t-1})`` where ``u`` is a vector (an elementwise, i.e.
diagonal, recurrent weight) and ``sigma`` is ReLU by default. Layers stack like ``torch.nn.RNN`` (layer ``l`` reads
layer ``l-1``'s outputs, dropout between layers); parameter names follow it too (``weight_ih_l0``, ``bias_ih_l0``,
``weight_hh_l0`` -- here a vector -- and ``*_reverse`` for the backward direction). The state is a Tensor
``(num_layers * num_directions, batch, hidden_size)``, as ``torch.nn.RNN``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from seqlab.api import ConfigError, ModelConfig, SequenceModel, State

NONLINEARITIES = ("relu", "tanh")


@dataclass
class IndRNNConfig(ModelConfig):
    name: str = "indrnn"
    hidden_size: int = 256
    num_layers: int = 2
    bidirectional: bool = False
    dropout: float = 0.0
    nonlinearity: str = "relu"
    recurrent_init: float = 1.0
    recurrent_max: float | None = None


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each row's first ``lengths[i]`` steps along dim 1; padded steps stay where they are."""
    if lengths is None:
        return x.flip(1)
    steps = torch.arange(x.size(1), device=x.device)
    lengths = lengths.to(x.device)
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # (B, T)
    return x.gather(1, index[:, :, None].expand_as(x))


class IndRNN(SequenceModel):
    """A stack of IndRNN layers, uni- or bidirectional; ``lengths`` masks padded steps."""

    Config: ClassVar[type] = IndRNNConfig

    def __init__(self, input_size: int, config: IndRNNConfig) -> None:
        super().__init__(input_size, config)
        check_config(config)
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.bidirectional = config.bidirectional
        self.directions = 2 if config.bidirectional else 1
        self.output_size = config.hidden_size * self.directions
        self.act = torch.relu if config.nonlinearity == "relu" else torch.tanh
        bound = 1.0 / math.sqrt(config.hidden_size)
        for layer in range(config.num_layers):
            layer_input = input_size if layer == 0 else self.output_size
            for suffix in ("", "_reverse")[: self.directions]:
                w = nn.Parameter(torch.empty(config.hidden_size, layer_input).uniform_(-bound, bound))
                b = nn.Parameter(torch.empty(config.hidden_size).uniform_(-bound, bound))
                u = nn.Parameter(torch.empty(config.hidden_size).uniform_(0.0, config.recurrent_init))
                self.register_parameter(f"weight_ih_l{layer}{suffix}", w)
                self.register_parameter(f"bias_ih_l{layer}{suffix}", b)
                self.register_parameter(f"weight_hh_l{layer}{suffix}", u)

    def _direction(
        self, wx: torch.Tensor, u: torch.Tensor, h: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run one direction over ``wx = W x + b`` (B, T, H) from ``h``; padded steps keep h and output 0."""
        outputs = []
        for t in range(wx.size(1)):
            new = self.act(wx[:, t] + u * h)
            if mask is None:
                h = new
                outputs.append(new)
            else:
                valid = mask[:, t, None]
                h = torch.where(valid, new, h)
                outputs.append(torch.where(valid, new, torch.zeros_like(new)))
        return torch.stack(outputs, dim=1), h

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        batch, steps, _ = x.shape
        if state is None:
            state = x.new_zeros(self.num_layers * self.directions, batch, self.hidden_size)
        mask = None
        if lengths is not None:
            mask = torch.arange(steps, device=x.device)[None, :] < lengths.to(x.device)[:, None]
        limit = self.config.recurrent_max
        layer_input, finals = x, []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(("", "_reverse")[: self.directions]):
                inp = layer_input if d == 0 else reverse_padded(layer_input, lengths)
                w, b, u = (getattr(self, f"{k}_l{layer}{suffix}") for k in ("weight_ih", "bias_ih", "weight_hh"))
                wx = F.linear(inp, w, b)
                if limit is not None:
                    u = u.clamp(-limit, limit)
                out, h = self._direction(wx, u, state[layer * self.directions + d], mask)
                outs.append(out if d == 0 else reverse_padded(out, lengths))
                finals.append(h)
            layer_input = torch.cat(outs, dim=-1) if self.directions == 2 else outs[0]
            if layer < self.num_layers - 1 and self.config.dropout > 0:
                layer_input = F.dropout(layer_input, self.config.dropout, self.training)
        return layer_input, torch.stack(finals, dim=0)


def check_config(config: IndRNNConfig) -> None:
    """Raise ConfigError (key, problem, allowed values) for values IndRNN cannot take."""
    if config.hidden_size < 1:
        raise ConfigError("model.hidden_size", f"must be >= 1, got {config.hidden_size}")
    if config.num_layers < 1:
        raise ConfigError("model.num_layers", f"must be >= 1, got {config.num_layers}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError("model.dropout", f"must be in [0, 1), got {config.dropout}")
    if config.nonlinearity not in NONLINEARITIES:
        raise ConfigError("model.nonlinearity", f"unknown '{config.nonlinearity}'", allowed=NONLINEARITIES)
    if config.recurrent_init <= 0:
        raise ConfigError("model.recurrent_init", f"must be > 0, got {config.recurrent_init}")
    if config.recurrent_max is not None and config.recurrent_max <= 0:
        raise ConfigError("model.recurrent_max", f"must be > 0 or null, got {config.recurrent_max}")
