"""``CellStack``: a stack of textbook cells that is a drop-in for ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.

Contract (the fused module's, batch_first by default):

- ``forward(x (B, T, I) | PackedSequence, hx=None, lengths=None) -> (out (B, T, D*H), h_n)``; ``h_n`` is
  ``(L*D, B, H)``, a tuple ``(h_n, c_n)`` for an LSTM, layer-major then direction (``index = layer*D + dir``).
- ``lengths``: padded steps never update the state and give zero outputs; the reverse direction starts at each
  sequence's last valid step: exactly what a packed sequence does in the fused module.
- Parameters are named as the fused module's (``weight_ih_l0``, ``weight_hh_l0_reverse``, ``bias_ih_l1``, ...), so
  ``load_state_dict`` works both ways. Variants add their own (``ln_c_weight_l0``, ``weight_ch_l1_reverse``, ...).
- Dropout between layers only (training mode), never on the recurrent path. ``residual=True`` adds each layer's
  input to its output from the second layer on: ``x^{l+1} = f_l(x^l) + x^l``.
- ``compiled=True`` runs standard cells with the TorchScript kernels of :mod:`seqlab.models.cell_kernels` (same
  outputs, same gradients); variants always run eagerly.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.models import cell_kernels
from seqlab.models.base import length_mask
from seqlab.models.cell_variants import ChoGRUCell, LayerNormLSTMCell, PeepholeLSTMCell
from seqlab.models.cells import (
    GRUCell,
    LSTMCell,
    Params,
    RecurrentCell,
    RNNCell,
    Step,
    reset_parameters,
    rnn_relu_step,
    rnn_tanh_step,
)

MODES = ("rnn", "lstm", "gru")
VARIANTS: dict[str, dict[str, type[RecurrentCell]]] = {
    "standard": {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell},
    "layernorm": {"lstm": LayerNormLSTMCell},
    "peephole": {"lstm": PeepholeLSTMCell},
    "cho": {"gru": ChoGRUCell},
}
HxType = Tensor | tuple[Tensor, Tensor] | None


def cell_class(mode: str, variant: str = "standard") -> type[RecurrentCell]:
    """The cell class of ``mode`` (rnn, lstm, gru) and ``variant``; ValueError for an impossible pair."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant '{variant}' (allowed: {', '.join(sorted(VARIANTS))})")
    if mode not in VARIANTS[variant]:
        modes = ", ".join(sorted(VARIANTS[variant]))
        raise ValueError(f"variant '{variant}' exists for {modes} only, not {mode}")
    return VARIANTS[variant][mode]


class CellStack(nn.Module):
    """``num_layers`` x ``D`` textbook cells over time; see the module docstring for the contract."""

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
        *,
        variant: str = "standard",
        residual: bool = False,
        compiled: bool = False,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        mode = mode.lower()
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}' (allowed: {', '.join(MODES)})")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"unknown nonlinearity '{nonlinearity}' (allowed: relu, tanh)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.cell = cell_class(mode, variant)
        self.mode, self.variant, self.nonlinearity = mode, variant, nonlinearity
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.bidirectional, self.dropout = bias, bidirectional, float(dropout)
        self.residual, self.batch_first, self.compiled = residual, batch_first, compiled
        self.num_directions = 2 if bidirectional else 1
        rows = self.cell.gates * hidden_size
        extras = self.cell.extra_parameters(hidden_size)
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                sfx = self._suffix(layer, direction)
                self.register_parameter("weight_ih" + sfx, nn.Parameter(torch.empty(rows, layer_input)))
                self.register_parameter("weight_hh" + sfx, nn.Parameter(torch.empty(rows, hidden_size)))
                if bias:
                    self.register_parameter("bias_ih" + sfx, nn.Parameter(torch.empty(rows)))
                    self.register_parameter("bias_hh" + sfx, nn.Parameter(torch.empty(rows)))
                for name, shape, _ in extras:
                    self.register_parameter(name + sfx, nn.Parameter(torch.empty(shape)))
        self.reset_parameters()

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction == 1 else "")

    def reset_parameters(self) -> None:
        """As ``torch.nn``: U(-1/sqrt(H), 1/sqrt(H)); layer-norm gains 1 and biases 0."""
        reset_parameters(self, self.hidden_size, {n: i for n, _, i in self.cell.extra_parameters(self.hidden_size)})

    def flatten_parameters(self) -> None:
        """No-op, for code written against the fused module."""

    @property
    def step(self) -> Step:
        if self.mode == "rnn":
            return rnn_relu_step if self.nonlinearity == "relu" else rnn_tanh_step
        return self.cell.step

    @property
    def kernel_mode(self) -> str | None:
        """The compiled kernel this stack can use (None for variants)."""
        if self.variant != "standard":
            return None
        return f"rnn_{self.nonlinearity}" if self.mode == "rnn" else self.mode

    def layer_params(self, layer: int, direction: int = 0) -> Params:
        """Short-name parameters of one layer-direction (what a cell's ``step`` takes)."""
        sfx = self._suffix(layer, direction)
        p: Params = {
            "w_ih": getattr(self, "weight_ih" + sfx),
            "w_hh": getattr(self, "weight_hh" + sfx),
            "b_ih": getattr(self, "bias_ih" + sfx) if self.bias else None,
            "b_hh": getattr(self, "bias_hh" + sfx) if self.bias else None,
        }
        for name, _, _ in self.cell.extra_parameters(self.hidden_size):
            p[name] = getattr(self, name + sfx)
        return p

    def forward(
        self, x: Tensor | PackedSequence, hx: HxType = None, lengths: Tensor | None = None
    ) -> tuple[Tensor | PackedSequence, HxType]:
        if isinstance(x, PackedSequence):
            return self._forward_packed(x, hx)
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(0 if self.batch_first else 1)
            hx = None if hx is None else _map(hx, lambda t: t.unsqueeze(1))
        seq = x.transpose(0, 1) if self.batch_first else x  # time-major inside
        mask = None if lengths is None else _length_mask(lengths, seq.size(0), seq.device)
        out, state = self._run(seq, self._initial_state(hx, seq), mask)
        out = out.transpose(0, 1) if self.batch_first else out
        h_n: HxType = (state[0], state[1]) if self.mode == "lstm" else state[0]
        if unbatched:
            out = out.squeeze(0 if self.batch_first else 1)
            h_n = _map(h_n, lambda t: t.squeeze(1))
        return out, h_n

    def _initial_state(self, hx: HxType, seq: Tensor) -> tuple[Tensor, ...]:
        count = 2 if self.mode == "lstm" else 1
        if hx is None:
            zeros = seq.new_zeros(self.num_layers * self.num_directions, seq.size(1), self.hidden_size)
            return (zeros,) * count
        state = tuple(hx) if isinstance(hx, tuple | list) else (hx,)
        if len(state) != count:
            raise ValueError(f"{self.mode} expects a state of {count} tensor(s), got {len(state)}")
        expected = (self.num_layers * self.num_directions, seq.size(1), self.hidden_size)
        for s in state:
            if tuple(s.shape) != expected:
                raise ValueError(f"expected hidden size {expected}, got {tuple(s.shape)}")
        return state

    def _run(self, seq: Tensor, state0: tuple[Tensor, ...], mask: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Time-major ``seq`` (T, B, I) through all layers -> (out (T, B, D*H), stacked final states)."""
        finals: list[list[Tensor]] = [[] for _ in state0]
        inp = seq
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                inp = F.dropout(inp, self.dropout, training=True)
            outs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                out, state = self._run_layer(inp, tuple(s[index] for s in state0), layer, direction, mask)
                outs.append(out)
                for slot, s in zip(finals, state):
                    slot.append(s)
            out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
            inp = out + inp if self.residual and layer > 0 else out
        return inp, tuple(torch.stack(slot) for slot in finals)

    def _run_layer(
        self, inp: Tensor, state: tuple[Tensor, ...], layer: int, direction: int, mask: Tensor | None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        p = self.layer_params(layer, direction)
        gi = self.cell.projection(inp, p)  # (T, B, G*H) for all steps at once
        reverse = direction == 1
        if self.compiled and self.kernel_mode is not None:
            try:
                return cell_kernels.run_layer(self.kernel_mode, gi, state, p["w_hh"], p["b_hh"], mask, reverse)
            except Exception as exc:  # never crash on the compiled path: warn once, then stay eager
                warnings.warn(
                    f"compiled {self.kernel_mode} cells failed ({type(exc).__name__}: {exc}); "
                    "running the eager cells from now on",
                    stacklevel=2,
                )
                self.compiled = False
        return run_layer_eager(self.step, gi, state, p, mask, reverse)

    def _forward_packed(self, packed: PackedSequence, hx: HxType) -> tuple[PackedSequence, HxType]:
        """Unpack (batch in the caller's order), run with lengths, pack again with the input's sorting."""
        padded, lengths = pad_packed_sequence(packed, batch_first=self.batch_first)
        out, h_n = self.forward(padded, hx, lengths=lengths)
        order = packed.sorted_indices
        batch_dim = 0 if self.batch_first else 1
        if order is not None:
            out, lengths = out.index_select(batch_dim, order), lengths[order.cpu()]
        repacked = pack_padded_sequence(out, lengths, batch_first=self.batch_first, enforce_sorted=True)
        return PackedSequence(repacked.data, repacked.batch_sizes, order, packed.unsorted_indices), h_n

    def extra_repr(self) -> str:
        text = f"{self.mode}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        for key, default in (("bias", True), ("bidirectional", False), ("dropout", 0.0), ("residual", False)):
            if getattr(self, key) != default:
                text += f", {key}={getattr(self, key)}"
        if self.mode == "rnn" and self.nonlinearity != "tanh":
            text += f", nonlinearity='{self.nonlinearity}'"
        if self.variant != "standard":
            text += f", variant='{self.variant}'"
        return text + (", compiled" if self.compiled and self.kernel_mode else "")


def run_layer_eager(
    step: Step, gi: Tensor, state: tuple[Tensor, ...], p: Params, mask: Tensor | None, reverse: bool
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The textbook loop: ``state_t = step(gi_t, state_{t-1})`` where valid, unchanged (and output 0) where padded.

    Autograd records every step. ``unbind`` (not ``gi[t]``) keeps the backward linear in ``T``: the gradient of one
    ``select`` is a full-size zero tensor.
    """
    steps = gi.unbind(0)
    masks = mask.unbind(0) if mask is not None else None
    outs: list[Tensor | None] = [None] * len(steps)
    order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
    for t in order:
        new = step(steps[t], state, p)
        if masks is not None:
            new = tuple(torch.where(masks[t], n, s) for n, s in zip(new, state))
            outs[t] = new[0] * masks[t]
        else:
            outs[t] = new[0]
        state = new
    return torch.stack(outs), state  # type: ignore[arg-type]


def _length_mask(lengths: Tensor, steps: int, device: torch.device) -> Tensor:
    """``(T, B, 1)`` bool, True where ``t < length``."""
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (batch,), got shape {tuple(lengths.shape)}")
    if lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > steps):
        raise ValueError(f"lengths must lie in [0, {steps}], got {lengths.tolist()}")
    return length_mask(lengths, steps).t().unsqueeze(-1)


def _map(value: Tensor | tuple[Tensor, ...], fn: Callable[[Tensor], Tensor]) -> Tensor | tuple[Tensor, ...]:
    return tuple(fn(v) for v in value) if isinstance(value, tuple | list) else fn(value)
