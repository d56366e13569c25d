"""``ResidualFusedStack``: fused ``nn.RNN/LSTM/GRU`` layers with skip connections, one fused module per layer.

A multi-layer fused module cannot add a layer's input to its output, so ``residual=True`` with ``impl=fused`` runs
``num_layers`` single-layer fused modules (``self.layers[l]``) and adds ``x^{l+1} = f_l(x^l) + x^l`` from the second
layer on, with dropout on each layer's input after the first (as the fused module does between layers).

Keys: inside, parameters are ``layers.{l}.weight_ih_l0``; the state_dict is renamed on save and load to the keys
of one multi-layer fused module (``weight_ih_l{l}``, ``bias_hh_l{l}_reverse``, ...). A checkpoint therefore moves
unchanged between ``residual`` true/false and between ``impl`` fused/cells. ``named_parameters()`` (and so
optimizer parameter groups) shows the inner names.
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.models.varlen import run_fused

FUSED: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
_INNER = re.compile(r"^layers\.(\d+)\.(\w+)_l0(_reverse)?$")
_OUTER = re.compile(r"^(\w+)_l(\d+)(_reverse)?$")


def fused_module(
    mode: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bias: bool = True,
    bidirectional: bool = False,
    dropout: float = 0.0,
    nonlinearity: str = "tanh",
) -> nn.RNNBase:
    """A batch-first ``nn.RNN/LSTM/GRU`` (``mode``) with the arguments of :class:`ResidualFusedStack` and
    :class:`~seqlab.models.cell_stack.CellStack` (``nonlinearity`` is read for ``rnn`` only)."""
    extra = {"nonlinearity": nonlinearity} if mode == "rnn" else {}
    return FUSED[mode](
        input_size,
        hidden_size,
        num_layers=num_layers,
        bias=bias,
        batch_first=True,
        bidirectional=bidirectional,
        dropout=dropout,
        **extra,
    )


class ResidualFusedStack(nn.Module):
    """``forward(x (B, T, I), hx=None, lengths=None) -> (out (B, T, D*H), h_n)`` like the multi-layer module."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.bidirectional, self.dropout = bias, bidirectional, float(dropout)
        self.num_directions = 2 if bidirectional else 1
        self.layers = nn.ModuleList(
            fused_module(
                mode,
                input_size if layer == 0 else hidden_size * self.num_directions,
                hidden_size,
                bias=bias,
                bidirectional=bidirectional,
                nonlinearity=nonlinearity,
            )
            for layer in range(num_layers)
        )
        self.register_state_dict_post_hook(_to_outer_keys)
        self.register_load_state_dict_pre_hook(_to_inner_keys)

    def forward(
        self, x: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        per = self.num_directions
        states: list[Any] = []
        inp = x
        for layer, module in enumerate(self.layers):
            if layer > 0 and self.dropout > 0 and self.training:
                inp = F.dropout(inp, self.dropout, training=True)
            h0 = None if hx is None else _slice(hx, layer * per, (layer + 1) * per)
            out, state = _run(module, inp, h0, lengths)
            states.append(state)
            inp = out + inp if layer > 0 else out
        if self.mode == "lstm":
            return inp, (torch.cat([s[0] for s in states]), torch.cat([s[1] for s in states]))
        return inp, torch.cat(states)


def _run(module: nn.Module, x: Tensor, hx: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
    if lengths is None:
        return module(x, hx)
    return run_fused(module, x, hx, lengths)


def _slice(hx: Tensor | tuple[Tensor, Tensor], start: int, stop: int) -> Any:
    if isinstance(hx, tuple | list):
        return tuple(h[start:stop].contiguous() for h in hx)
    return hx[start:stop].contiguous()


def _to_outer_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """``layers.2.weight_ih_l0_reverse`` -> ``weight_ih_l2_reverse`` (under ``prefix``)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        match = _INNER.match(key[len(prefix) :])
        if match:
            layer, name, rev = match.groups()
            state_dict[f"{prefix}{name}_l{layer}{rev or ''}"] = state_dict.pop(key)


def _to_inner_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """``weight_ih_l2_reverse`` -> ``layers.2.weight_ih_l0_reverse`` before loading."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        match = _OUTER.match(key[len(prefix) :])
        if match:
            name, layer, rev = match.groups()
            state_dict[f"{prefix}layers.{layer}.{name}_l0{rev or ''}"] = state_dict.pop(key)
