"""The bridge: a decoder's initial state from a sequence encoder's final state (the encoder-decoder's hand-over).

The encoder's state is ``h`` or ``(h, c)`` with ``h`` of shape ``(L * D, B, H)`` in ``torch.nn``'s layer-major
layout (D = 2 directions for a bidirectional encoder: rows ``2l`` and ``2l + 1`` are layer l forward and backward).
First the directions of each layer are concatenated, ``(L, B, D * H)``; then the decoder's N layers take the
encoder's top N layers (N <= L) or, when the encoder is shallower, its top layer for every missing lower layer.

- ``zero``: no hand-over; the decoder starts from zeros.
- ``last``: ``s_0 = h_T`` as is (Sutskever et al. 2014); needs ``D * H`` = the decoder's hidden size.
- ``project``: ``s_0 = tanh(W h_T + b)`` per layer (Bahdanau et al. 2015 use ``tanh(W_s h_1^<-)``), any sizes.

An LSTM decoder takes ``c`` the same way from an LSTM encoder and zeros otherwise; a GRU/RNN decoder ignores ``c``.
The result is what :meth:`seqlab.models.decoder.Decoder.init_state` accepts as ``encoder_state``.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.base import State

BRIDGES = ("zero", "last", "project")


def merge_directions(h: torch.Tensor, directions: int) -> torch.Tensor:
    """``(L * D, B, H)`` -> ``(L, B, D * H)``: each layer's directions side by side (forward first)."""
    layers_dirs, batch, hidden = h.shape
    if layers_dirs % directions:
        raise ValueError(f"a state of {layers_dirs} rows cannot hold {directions} directions per layer")
    merged = h.reshape(layers_dirs // directions, directions, batch, hidden).permute(0, 2, 1, 3)
    return merged.reshape(layers_dirs // directions, batch, directions * hidden)


def align_layers(h: torch.Tensor, layers: int) -> torch.Tensor:
    """The top ``layers`` of ``h`` ``(L, B, F)``; the top layer repeated below when ``L < layers``."""
    if h.size(0) >= layers:
        return h[h.size(0) - layers :]
    missing = h[-1:].expand(layers - h.size(0), -1, -1)
    return torch.cat([missing, h], dim=0)


class Bridge(nn.Module):
    """Maps an encoder's final state to a decoder's initial ``encoder_state`` (see the module docstring)."""

    def __init__(
        self,
        kind: str,
        encoder_size: int,
        bidirectional: bool,
        decoder_size: int,
        decoder_layers: int,
        decoder_lstm: bool,
    ) -> None:
        super().__init__()
        if kind not in BRIDGES:
            raise ConfigError("task.bridge", f"unknown bridge '{kind}'", allowed=BRIDGES)
        if kind == "last" and encoder_size != decoder_size:
            raise ConfigError(
                "task.bridge",
                f"'last' hands the encoder's {encoder_size} state units to a decoder of hidden size "
                f"{decoder_size}; make them equal or use project",
                allowed=["project", "zero"],
            )
        self.kind = kind
        self.directions = 2 if bidirectional else 1
        self.layers = decoder_layers
        self.lstm = decoder_lstm
        self.project_h = nn.Linear(encoder_size, decoder_size) if kind == "project" else None
        self.project_c = nn.Linear(encoder_size, decoder_size) if kind == "project" and decoder_lstm else None

    def _prepare(self, h: torch.Tensor) -> torch.Tensor:
        if not isinstance(h, torch.Tensor) or h.dim() != 3:
            raise ValueError(
                f"task.bridge={self.kind} needs an encoder state of shape (layers * directions, B, H); "
                "this encoder returns another kind (use task.bridge=zero)"
            )
        return align_layers(merge_directions(h, self.directions), self.layers)

    def forward(self, encoder_state: State) -> State:
        """The decoder's ``encoder_state``: None (``zero``), ``h`` or ``(h, c)`` of ``(N, B, decoder_size)``."""
        if self.kind == "zero":
            return None
        h, c = encoder_state if isinstance(encoder_state, tuple | list) else (encoder_state, None)
        h = self._prepare(h)
        c = self._prepare(c) if c is not None and self.lstm else None
        if self.project_h is not None:
            h = torch.tanh(self.project_h(h))
            c = torch.tanh(self.project_c(c)) if c is not None and self.project_c is not None else c
        if not self.lstm:
            return h
        return (h.contiguous(), (c if c is not None else torch.zeros_like(h)).contiguous())
