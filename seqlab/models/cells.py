"""Textbook recurrent cells, written from the equations, with the parameters of ``torch.nn.{RNN,LSTM,GRU}Cell``.

Every cell keeps PyTorch's names, shapes and gate order: ``weight_ih`` ``(G*H, I)``, ``weight_hh`` ``(G*H, H)``,
``bias_ih`` and ``bias_hh`` ``(G*H,)`` with ``G`` = 1 (Elman), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n). A
state_dict therefore moves between these cells and ``torch.nn`` cells unchanged, and they give the same outputs.

Each cell is split in two pure functions, which :class:`~seqlab.models.cell_stack.CellStack` reuses:

- a *projection* of the input, ``gi = W_ih x + b_ih``, that does not depend on the state, so a stack computes it
  for all time steps in one matrix product;
- a *step* ``step(gi_t, state, p) -> state'`` holding the recurrence (``p`` maps short names to parameters:
  ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh`` and a variant's extras). The new hidden state is ``state'[0]``.

Variants that fused kernels cannot express (layer-normalized and peephole LSTM, Cho's GRU) live in
:mod:`seqlab.models.cell_variants`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Params = dict[str, Tensor | None]
StateTuple = tuple[Tensor, ...]
Step = Callable[[Tensor, StateTuple, Params], StateTuple]
Projection = Callable[[Tensor, Params], Tensor]


def linear_projection(x: Tensor, p: Params) -> Tensor:
    """``gi = W_ih x + b_ih`` (any leading dimensions)."""
    return F.linear(x, p["w_ih"], p["b_ih"])


def rnn_tanh_step(gi: Tensor, state: StateTuple, p: Params) -> StateTuple:
    """Elman: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``."""
    return (torch.tanh(gi + F.linear(state[0], p["w_hh"], p["b_hh"])),)


def rnn_relu_step(gi: Tensor, state: StateTuple, p: Params) -> StateTuple:
    """Elman with ReLU: ``h' = relu(W_ih x + b_ih + W_hh h + b_hh)``."""
    return (torch.relu(gi + F.linear(state[0], p["w_hh"], p["b_hh"])),)


def lstm_step(gi: Tensor, state: StateTuple, p: Params) -> StateTuple:
    """LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 1999), gate order i, f, g, o::

    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)      input gate
    f = sigmoid(W_if x + b_if + W_hf h + b_hf)      forget gate
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)         candidate cell
    o = sigmoid(W_io x + b_io + W_ho h + b_ho)      output gate
    c' = f * c + i * g
    h' = o * tanh(c')
    """
    h, c = state
    gates = gi + F.linear(h, p["w_hh"], p["b_hh"])
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return o * torch.tanh(c), c


def gru_step(gi: Tensor, state: StateTuple, p: Params) -> StateTuple:
    """GRU as ``torch.nn.GRU`` (reset gate applied *after* the hidden matmul), gate order r, z, n::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      reset gate
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)      update gate
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   candidate
        h' = (1 - z) * n + z * h

    Cho et al. (2014) put the reset gate before the matmul, ``tanh(W x + U (r * h))``: that is a different function,
    :func:`seqlab.models.cell_variants.cho_gru_step`.
    """
    h = state[0]
    gh = F.linear(h, p["w_hh"], p["b_hh"])
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return ((1 - z) * n + z * h,)


class RecurrentCell(nn.Module):
    """One step of a recurrence: ``forward(x (B, I), hx=None) -> h' (B, H)`` or ``(h', c')`` for an LSTM.

    Subclasses set ``gates`` (blocks of ``H`` rows in the weights), ``step``, ``projection`` and, for extra
    parameters, override :meth:`extra_parameters`. Unbatched input ``(I,)`` is accepted like ``torch.nn`` cells.
    """

    gates: ClassVar[int] = 1
    has_cell_state: ClassVar[bool] = False
    step: ClassVar[Step]
    projection: ClassVar[Projection] = staticmethod(linear_projection)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows))
            self.bias_hh = nn.Parameter(torch.empty(rows))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        for name, shape, _ in self.extra_parameters(hidden_size):
            setattr(self, name, nn.Parameter(torch.empty(shape)))
        self.reset_parameters()

    @classmethod
    def extra_parameters(cls, hidden_size: int) -> list[tuple[str, tuple[int, ...], str]]:
        """(name, shape, init) of a variant's parameters beyond the four of ``torch.nn``; init is
        ``uniform``, ``ones`` or ``zeros``."""
        return []

    def reset_parameters(self) -> None:
        """PyTorch's default: every standard parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
        reset_parameters(self, self.hidden_size, {n: init for n, _, init in self.extra_parameters(self.hidden_size)})

    def step_function(self) -> Step:
        """The recurrence of this cell (an instance may choose, e.g. by nonlinearity)."""
        return type(self).step

    def params(self) -> Params:
        """The short-name mapping that ``step`` and ``projection`` take."""
        p: Params = {"w_ih": self.weight_ih, "w_hh": self.weight_hh, "b_ih": self.bias_ih, "b_hh": self.bias_hh}
        for name, _, _ in self.extra_parameters(self.hidden_size):
            p[name] = getattr(self, name)
        return p

    def forward(self, x: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None) -> Tensor | tuple[Tensor, Tensor]:
        unbatched = x.dim() == 1
        if unbatched:
            x = x.unsqueeze(0)
            hx = None if hx is None else _map(hx, lambda t: t.unsqueeze(0))
        if hx is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)
            hx = (zeros, zeros) if self.has_cell_state else zeros
        state = tuple(hx) if self.has_cell_state else (hx,)
        p = self.params()
        new = self.step_function()(type(self).projection(x, p), state, p)
        out: Tensor | tuple[Tensor, Tensor] = (new[0], new[1]) if self.has_cell_state else new[0]
        return _map(out, lambda t: t.squeeze(0)) if unbatched else out

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RecurrentCell):
    """Elman cell: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` with ``act`` tanh (default) or relu."""

    gates = 1
    step = staticmethod(rnn_tanh_step)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"unknown nonlinearity '{nonlinearity}' (allowed: relu, tanh)")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def step_function(self) -> Step:
        return rnn_relu_step if self.nonlinearity == "relu" else rnn_tanh_step

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else ", nonlinearity='relu'")


class LSTMCell(RecurrentCell):
    """LSTM cell (gates i, f, g, o); see :func:`lstm_step` for the equations. State ``(h, c)``."""

    gates = 4
    has_cell_state = True
    step = staticmethod(lstm_step)


class GRUCell(RecurrentCell):
    """GRU cell as ``torch.nn.GRUCell`` (gates r, z, n, reset after the matmul); see :func:`gru_step`."""

    gates = 3
    step = staticmethod(gru_step)


def reset_parameters(module: nn.Module, hidden_size: int, extra_init: dict[str, str]) -> None:
    """U(-1/sqrt(H), 1/sqrt(H)) for every parameter, except extras whose init is ``ones`` or ``zeros``.

    Parameter names may carry a ``_l{k}`` / ``_reverse`` suffix (stacks); the extra's base name decides.
    """
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    with torch.no_grad():
        for name, param in module.named_parameters(recurse=False):
            kind = next((init for base, init in extra_init.items() if _base_name(name) == base), "uniform")
            if kind == "ones":
                param.fill_(1.0)
            elif kind == "zeros":
                param.zero_()
            else:
                param.uniform_(-bound, bound)


def _base_name(name: str) -> str:
    """``ln_c_weight_l1_reverse`` -> ``ln_c_weight``."""
    base = name.removesuffix("_reverse")
    head, sep, tail = base.rpartition("_l")
    return head if sep and tail.isdigit() else base


def _map(value: Tensor | tuple[Tensor, ...], fn: Callable[[Tensor], Tensor]) -> Tensor | tuple[Tensor, ...]:
    return tuple(fn(v) for v in value) if isinstance(value, tuple | list) else fn(value)
