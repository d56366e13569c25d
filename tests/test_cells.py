"""Textbook cells and CellStack against PyTorch's fused modules: same state_dict, same outputs, same gradients.

Everything runs in float64 on tiny shapes and is compared with atol 1e-10.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.models.cell_stack import CellStack
from seqlab.models.cells import GRUCell, LSTMCell, RNNCell

ATOL = 1e-10
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
IN, H, B, T = 5, 4, 3, 6
LENGTHS = torch.tensor([6, 2, 4])


def split(kind: str) -> tuple[str, str]:
    mode, _, nonlinearity = kind.partition("_")
    return mode, nonlinearity or "tanh"


def fused_module(kind: str, layers: int, bidirectional: bool) -> nn.RNNBase:
    mode, nonlinearity = split(kind)
    extra = {"nonlinearity": nonlinearity} if mode == "rnn" else {}
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[mode]
    return cls(IN, H, num_layers=layers, bidirectional=bidirectional, batch_first=True, **extra).double()


def cell_stack(kind: str, layers: int, bidirectional: bool, compiled: bool = False) -> CellStack:
    mode, nonlinearity = split(kind)
    return CellStack(
        mode, IN, H, layers, bidirectional=bidirectional, nonlinearity=nonlinearity, compiled=compiled
    ).double()


def run(module: nn.Module, x: torch.Tensor, hx, lengths: torch.Tensor | None):
    """Forward through a fused module (packing when lengths are given) or a CellStack."""
    if isinstance(module, CellStack):
        return module(x, hx, lengths=lengths)
    if lengths is None:
        return module(x, hx)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h_n = module(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return out, h_n


def flat(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


def outputs_and_grads(module: nn.Module, x: torch.Tensor, hx, lengths) -> list[torch.Tensor]:
    """Output, final states, and the gradients of the input, the initial state and every parameter."""
    x = x.detach().clone().requires_grad_(True)
    hx = None if hx is None else tuple(h.detach().clone().requires_grad_(True) for h in flat(hx))
    module.zero_grad(set_to_none=True)
    out, h_n = run(module, x, hx if hx is None or len(hx) == 2 else hx[0], lengths)
    weights = torch.cos(torch.arange(out.numel(), dtype=out.dtype)).view_as(out)
    loss = (out * weights).sum() + sum((h * h).sum() for h in flat(h_n))
    loss.backward()
    grads = [x.grad] + ([h.grad for h in hx] if hx is not None else [])
    return [out.detach(), *[h.detach() for h in flat(h_n)], *grads, *[p.grad for _, p in module.named_parameters()]]


def assert_close_lists(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for k, (u, v) in enumerate(zip(a, b)):
        assert u is not None and v is not None, f"missing gradient at {k}"
        assert u.shape == v.shape, f"shape {k}: {u.shape} vs {v.shape}"
        torch.testing.assert_close(u, v, atol=ATOL, rtol=0)


def initial_state(kind: str, layers: int, bidirectional: bool):
    h0 = torch.randn(layers * (2 if bidirectional else 1), B, H, dtype=torch.float64)
    return (h0, torch.randn_like(h0)) if kind == "lstm" else h0


CASES = list(itertools.product(KINDS, [1, 2, 3], [False, True], [False, True]))


@pytest.mark.parametrize("kind,layers,bidirectional,padded", CASES)
@pytest.mark.parametrize("direction", ["fused_to_cells", "cells_to_fused"])
def test_stack_matches_fused(kind, layers, bidirectional, padded, direction):
    torch.manual_seed(layers * 10 + bidirectional)
    fused, stack = fused_module(kind, layers, bidirectional), cell_stack(kind, layers, bidirectional)
    if direction == "fused_to_cells":
        stack.load_state_dict(fused.state_dict())
    else:
        fused.load_state_dict(stack.state_dict())
    x = torch.randn(B, T, IN, dtype=torch.float64)
    lengths = LENGTHS if padded else None
    hx = initial_state(kind, layers, bidirectional) if layers == 2 else None  # zeros and given states both
    assert_close_lists(outputs_and_grads(fused, x, hx, lengths), outputs_and_grads(stack, x, hx, lengths))


@pytest.mark.parametrize("kind,bidirectional,padded", list(itertools.product(KINDS, [False, True], [False, True])))
def test_compiled_path_matches_eager_and_fused(kind, bidirectional, padded):
    torch.manual_seed(1)
    fused = fused_module(kind, 2, bidirectional)
    eager, compiled = cell_stack(kind, 2, bidirectional), cell_stack(kind, 2, bidirectional, compiled=True)
    eager.load_state_dict(fused.state_dict())
    compiled.load_state_dict(fused.state_dict())
    x = torch.randn(B, T, IN, dtype=torch.float64)
    lengths = LENGTHS if padded else None
    hx = initial_state(kind, 2, bidirectional)
    reference = outputs_and_grads(fused, x, hx, lengths)
    assert_close_lists(reference, outputs_and_grads(eager, x, hx, lengths))
    assert_close_lists(reference, outputs_and_grads(compiled, x, hx, lengths))


def test_compiled_kernels_are_scripted():
    from seqlab.models.cell_kernels import kernels

    assert all(isinstance(fn, torch.jit.ScriptFunction) for fn in kernels().values())


@pytest.mark.parametrize("kind", KINDS)
def test_cells_match_torch_cells(kind):
    mode, nonlinearity = split(kind)
    torch.manual_seed(2)
    if mode == "rnn":
        ours, theirs = RNNCell(IN, H, nonlinearity=nonlinearity), nn.RNNCell(IN, H, nonlinearity=nonlinearity)
    else:
        ours, theirs = {"lstm": (LSTMCell(IN, H), nn.LSTMCell(IN, H)), "gru": (GRUCell(IN, H), nn.GRUCell(IN, H))}[mode]
    ours, theirs = ours.double(), theirs.double()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(B, IN, dtype=torch.float64)
    h = torch.randn(B, H, dtype=torch.float64)
    hx = (h, torch.randn_like(h)) if mode == "lstm" else h
    results = []
    for cell in (theirs, ours):
        cell.zero_grad()
        out = cell(x, hx)
        sum((o * o).sum() for o in flat(out)).backward()
        results.append([o.detach() for o in flat(out)] + [p.grad for p in cell.parameters()])
        unbatched = cell(x[0], None if mode == "lstm" else h[0])
        results[-1] += [o.detach() for o in flat(unbatched)]
    assert_close_lists(*results)


def test_state_dict_keys_and_layout_match_fused():
    for kind in KINDS:
        fused, stack = fused_module(kind, 3, True), cell_stack(kind, 3, True)
        assert [(k, v.shape) for k, v in fused.state_dict().items()] == [
            (k, v.shape) for k, v in stack.state_dict().items()
        ]
    no_bias = CellStack("gru", IN, H, 2, bias=False)
    assert list(no_bias.state_dict()) == list(nn.GRU(IN, H, 2, bias=False).state_dict())


def test_packed_sequence_input_like_fused():
    torch.manual_seed(3)
    fused, stack = fused_module("lstm", 2, True), cell_stack("lstm", 2, True)
    stack.load_state_dict(fused.state_dict())
    x = torch.randn(B, T, IN, dtype=torch.float64)
    packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
    (out_f, (h_f, c_f)), (out_s, (h_s, c_s)) = fused(packed), stack(packed)
    torch.testing.assert_close(out_s.data, out_f.data, atol=ATOL, rtol=0)
    assert torch.equal(out_s.batch_sizes, out_f.batch_sizes)
    assert torch.equal(out_s.sorted_indices, out_f.sorted_indices)
    torch.testing.assert_close(h_s, h_f, atol=ATOL, rtol=0)
    torch.testing.assert_close(c_s, c_f, atol=ATOL, rtol=0)


def test_padded_steps_output_zero_and_keep_state():
    stack = cell_stack("gru", 1, True)
    x = torch.randn(B, T, IN, dtype=torch.float64)
    out, h_n = stack(x, lengths=LENGTHS)
    for b, length in enumerate(LENGTHS.tolist()):
        assert torch.all(out[b, length:] == 0)
        trimmed, h_b = stack(x[b : b + 1, :length])
        torch.testing.assert_close(out[b, :length], trimmed[0], atol=ATOL, rtol=0)
        torch.testing.assert_close(h_n[:, b], h_b[:, 0], atol=ATOL, rtol=0)


def test_one_layer_stack_with_dropout_is_deterministic_in_training():
    stack = CellStack("lstm", IN, H, 1, dropout=0.5).double().train()
    x = torch.randn(B, T, IN, dtype=torch.float64)
    torch.testing.assert_close(stack(x)[0], stack(x)[0], atol=0, rtol=0)


def test_dropout_only_between_layers(monkeypatch):
    """F.dropout is called once per layer boundary, on whole (T, B, D*H) layer outputs, never per step."""
    import seqlab.models.cell_stack as cs

    calls: list[tuple[int, ...]] = []
    real = cs.F.dropout

    def spy(inp, p=0.5, training=True, inplace=False):
        calls.append(tuple(inp.shape))
        return real(inp, p, training, inplace)

    monkeypatch.setattr(cs.F, "dropout", spy)
    stack = CellStack("gru", IN, H, 3, bidirectional=True, dropout=0.3).double()
    stack.train()(torch.randn(B, T, IN, dtype=torch.float64))
    assert calls == [(T, B, 2 * H), (T, B, 2 * H)]
    calls.clear()
    stack.eval()(torch.randn(B, T, IN, dtype=torch.float64))
    assert calls == []
