"""Cell variants that PyTorch's fused ``nn.LSTM``/``nn.GRU`` kernels cannot express (``impl=cells`` only).

They keep the four standard parameters of :mod:`seqlab.models.cells` (same names, shapes, gate order) and add
their own, so the standard part of a state_dict still loads from a fused module (``strict=False``).

- :class:`LayerNormLSTMCell`: Ba, Kiros & Hinton (2016), layer normalization of both gate pre-activations and of
  the cell before its ``tanh``.
- :class:`PeepholeLSTMCell`: Gers & Schmidhuber (2000), gates also look at the cell state.
- :class:`ChoGRUCell`: Cho et al. (2014), the reset gate applied *before* the hidden matmul. Same parameters as
  ``nn.GRUCell`` but a different function: loading ``nn.GRU`` weights gives different outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.models.cells import Params, RecurrentCell, StateTuple

LN_EPS = 1e-5


def layernorm_projection(x: Tensor, p: Params) -> Tensor:
    """``gi = LN(W_ih x; gain a_ih) + b_ih`` (normalized over all 4H gate pre-activations)."""
    w = p["w_ih"]
    gi = F.layer_norm(F.linear(x, w), (w.size(0),), p["ln_ih_weight"], None, LN_EPS)
    return gi if p["b_ih"] is None else gi + p["b_ih"]


def layernorm_lstm_step(gi: Tensor, state: StateTuple, p: Params) -> StateTuple:
    """Layer-normalized LSTM (gate order i, f, g, o)::

        [i, f, g, o] = LN(W_ih x; a_ih) + b_ih + LN(W_hh h; a_hh) + b_hh    (then sigmoid, sigmoid, tanh, sigmoid)
        c' = f * c + i * g
        h' = o * tanh(LN(c'; a_c, b_c))

    ``LN(v; a, b) = a * (v - mean(v)) / sqrt(var(v) + eps) + b`` over the feature dimension; the gate biases play
    the role of the LN biases of the first two normalizations.
    """
    h, c = state
    w_hh = p["w_hh"]
    gh = F.layer_norm(F.linear(h, w_hh), (w_hh.size(0),), p["ln_hh_weight"], None, LN_EPS)
    gates = gi + gh if p["b_hh"] is None else gi + gh + p["b_hh"]
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    c_norm = F.layer_norm(c, (c.size(-1),), p["ln_c_weight"], p["ln_c_bias"], LN_EPS)
    return o * torch.tanh(c_norm), c


def peephole_lstm_step(gi: Tensor, state: StateTuple, p: Params) -> StateTuple:
    """Peephole LSTM (gate order i, f, g, o; ``w_c = [w_ci, w_cf, w_co]`` is ``weight_ch``, shape ``(3H,)``)::

    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi + w_ci * c)
    f = sigmoid(W_if x + b_if + W_hf h + b_hf + w_cf * c)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    c' = f * c + i * g
    o = sigmoid(W_io x + b_io + W_ho h + b_ho + w_co * c')
    h' = o * tanh(c')
    """
    h, c = state
    gates = gi + F.linear(h, p["w_hh"], p["b_hh"])
    i, f, g, o = gates.chunk(4, dim=-1)
    w_ci, w_cf, w_co = p["weight_ch"].chunk(3)
    i = torch.sigmoid(i + w_ci * c)
    f = torch.sigmoid(f + w_cf * c)
    c = f * c + i * torch.tanh(g)
    o = torch.sigmoid(o + w_co * c)
    return o * torch.tanh(c), c


def cho_gru_step(gi: Tensor, state: StateTuple, p: Params) -> StateTuple:
    """GRU of Cho et al. (2014): the reset gate scales ``h`` *before* the hidden matmul (gate order r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
        h' = (1 - z) * n + z * h

    Same parameters as ``nn.GRU`` but not the same function (``nn.GRU`` computes ``r * (W_hn h + b_hn)``).
    """
    h = state[0]
    hidden = h.size(-1)
    w_rz, w_n = p["w_hh"].split((2 * hidden, hidden))
    b_hh = p["b_hh"]
    b_rz, b_n = (None, None) if b_hh is None else b_hh.split((2 * hidden, hidden))
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z = F.linear(h, w_rz, b_rz).chunk(2, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + F.linear(r * h, w_n, b_n))
    return ((1 - z) * n + z * h,)


class LayerNormLSTMCell(RecurrentCell):
    """Layer-normalized LSTM cell; see :func:`layernorm_lstm_step`. Extra parameters ``ln_ih_weight``,
    ``ln_hh_weight`` ``(4H,)`` (ones) and ``ln_c_weight`` (ones), ``ln_c_bias`` (zeros) ``(H,)``."""

    gates = 4
    has_cell_state = True
    step = staticmethod(layernorm_lstm_step)
    projection = staticmethod(layernorm_projection)

    @classmethod
    def extra_parameters(cls, hidden_size: int) -> list[tuple[str, tuple[int, ...], str]]:
        return [
            ("ln_ih_weight", (4 * hidden_size,), "ones"),
            ("ln_hh_weight", (4 * hidden_size,), "ones"),
            ("ln_c_weight", (hidden_size,), "ones"),
            ("ln_c_bias", (hidden_size,), "zeros"),
        ]


class PeepholeLSTMCell(RecurrentCell):
    """Peephole LSTM cell; see :func:`peephole_lstm_step`. Extra parameter ``weight_ch`` ``(3H,)`` (uniform)."""

    gates = 4
    has_cell_state = True
    step = staticmethod(peephole_lstm_step)

    @classmethod
    def extra_parameters(cls, hidden_size: int) -> list[tuple[str, tuple[int, ...], str]]:
        return [("weight_ch", (3 * hidden_size,), "uniform")]


class ChoGRUCell(RecurrentCell):
    """The original GRU of Cho et al. (2014); see :func:`cho_gru_step`. Parameters as ``nn.GRUCell``."""

    gates = 3
    step = staticmethod(cho_gru_step)
