"""Running a sequence model one step at a time, with every step's hidden state handed to a recorder.

:meth:`SequenceModel.recording_steps <seqlab.models.base.SequenceModel.recording_steps>` is the public door: under
``with model.recording_steps(record): ...`` every call of the model computes what its ``forward`` computes, but one
time step at a time, and calls ``record(layer, t, out, h)`` at each step of each layer it can see:

- ``out`` ``(B, 1, H)``: the step's output of that layer;
- ``h`` ``(n, B, H)``: the hidden state the step hands on (an LSTM's ``h``, not its cell), whose last row ``h[-1]``
  is ``h_t`` of that layer.

Both are the very tensors the computation goes on with (not copies), so a gradient retained on them
(``retain_grad``) is what reaches ``h_t`` through the output (the head, the layer above) and through the recurrence
(step t+1); their sum is the total ``dL/dh_t``.

Two ways to step, chosen by the model (:meth:`SequenceModel.forward_steps`):

- :func:`step_forward`, any unidirectional model: its ``forward`` (or any ``(x, state) -> (out, state)`` callable)
  on one step at a time, carrying the state; recorded as the last layer (``h`` is the first Tensor of the state, an
  ``(L, B, H)`` stack of layers).
- :func:`step_fused`, a fused ``nn.RNN/LSTM/GRU`` (unidirectional): every layer on its own with the module's
  weights (:func:`seqlab.models.varlen.run_layer`), dropout between layers as the module applies it, so every
  layer's ``h_t`` is recorded.

With ``lengths`` a padded step keeps the state and gives a zero output, as the model contract says (a state keeps
the batch on dim 1, as :func:`seqlab.models.base.select_state` assumes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.models.state import State, map_state, state_tensors
from seqlab.models.varlen import run_layer

Record = Callable[[int, int, Tensor, Tensor], None]  # (layer, t, out (B, 1, H), h (n, B, H)) -> None
Step = Callable[[Tensor, State], tuple[Tensor, State]]  # (x_t (B, 1, ...), state) -> (out_t, state)


def step_forward(
    step: Step, x: Tensor, state: State, lengths: Tensor | None, record: Record, layer: int = 0
) -> tuple[Tensor, State]:
    """``step`` over ``x`` ``(B, T, ...)`` one time step at a time from ``state``; ``record(layer, t, out_t, h_t)``
    with ``h_t`` the first Tensor of the state after step t. Returns ``(out (B, T, F), final state)``."""
    outs = []
    for t in range(x.size(1)):
        out, new = step(x[:, t : t + 1], state)
        if lengths is not None:
            old = state_tensors(state) if state is not None else [torch.zeros_like(s) for s in state_tensors(new)]
            out, kept = _keep_padded(lengths > t, out, state_tensors(new), old)
            new = _refilled(new, kept)
        record(layer, t, out, state_tensors(new)[0])
        outs.append(out)
        state = new
    return torch.cat(outs, dim=1), state


def step_fused(
    rnn: nn.RNNBase, x: Tensor, state: State, lengths: Tensor | None, record: Record
) -> tuple[Tensor, State]:
    """A unidirectional batch-first fused module over ``x`` ``(B, T, I)``, layer by layer at each step, as the module
    computes it; ``record(layer, t, out_t, h_t)`` for every layer. Returns what the module returns."""
    if rnn.bidirectional or not rnn.batch_first:
        raise ValueError("step_fused needs a unidirectional, batch_first module")
    is_lstm = isinstance(rnn, nn.LSTM)
    if state is None:
        zeros = x.new_zeros(rnn.num_layers, x.size(0), rnn.hidden_size)
        state = (zeros, zeros) if is_lstm else zeros
    parts = state if is_lstm else (state,)
    layer_state = [[p[k : k + 1] for p in parts] for k in range(rnn.num_layers)]
    outs = []
    for t in range(x.size(1)):
        inp = x[:, t : t + 1]
        for k in range(rnn.num_layers):
            if k > 0 and rnn.dropout > 0 and rnn.training:
                inp = F.dropout(inp, rnn.dropout, training=True)
            out, new = run_layer(rnn, k, False, inp, layer_state[k])
            if lengths is not None:
                out, new = _keep_padded(lengths > t, out, new, layer_state[k])
            layer_state[k] = new
            record(k, t, out, new[0])
            inp = out
        outs.append(inp)
    final = [torch.cat([s[i] for s in layer_state]) for i in range(len(parts))]
    return torch.cat(outs, dim=1), tuple(final) if is_lstm else final[0]


def _keep_padded(valid: Tensor, out: Tensor, new: list[Tensor], old: list[Tensor]) -> tuple[Tensor, list[Any]]:
    """Rows not ``valid`` (``(B,)`` bool): a zero output and the ``old`` state (batch on dim 1)."""
    valid = valid.to(out.device)
    out = torch.where(valid.view(-1, *[1] * (out.dim() - 1)), out, torch.zeros_like(out))
    kept = [torch.where(valid.view(1, -1, *[1] * (n.dim() - 2)), n, o) for n, o in zip(new, old, strict=True)]
    return out, kept


def _refilled(state: State, tensors: list[Tensor]) -> State:
    """``state`` with its Tensors replaced, in walking order, by ``tensors``."""
    rest = iter(tensors)
    return map_state(state, lambda _: next(rest))
