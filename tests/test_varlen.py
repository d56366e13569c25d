"""The CPU variable-length path (seqlab.models.varlen.run_segmented) equals PyTorch's packed path exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.models.varlen import run_packed, run_segmented

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}


def _module(cell: str, layers: int, bidirectional: bool) -> nn.RNNBase:
    torch.manual_seed(0)
    extra = {"nonlinearity": cell.split("_")[1]} if cell.startswith("rnn") else {}
    return CELLS[cell](5, 4, num_layers=layers, bidirectional=bidirectional, batch_first=True, **extra).double()


def _state(cell: str, layers: int, dirs: int, batch: int, given: bool):
    if not given:
        return None
    h = torch.randn(layers * dirs, batch, 4, dtype=torch.double, requires_grad=True)
    return (h, torch.randn_like(h, requires_grad=True)) if cell == "lstm" else h


def _flat(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("given_state", [False, True])
def test_segmented_equals_packed(cell: str, layers: int, bidirectional: bool, given_state: bool) -> None:
    module = _module(cell, layers, bidirectional)
    lengths = torch.tensor([3, 7, 1, 7, 5, 3])  # unsorted, repeated, a length-1 row, max < T
    x = torch.randn(6, 9, 5, dtype=torch.double)
    x[:, 7:] = 1e3  # padding that would wreck any state it reached
    hx0 = _state(cell, layers, 2 if bidirectional else 1, 6, given_state)
    results = []
    for run in (run_packed, run_segmented):
        xi = x.clone().requires_grad_()
        hx = None if hx0 is None else tuple(h.detach().clone().requires_grad_() for h in _flat(hx0))
        hx = hx if hx is None or isinstance(hx0, tuple) else hx[0]
        torch.manual_seed(1)
        out, state = run(module, xi, hx, lengths)
        weights = torch.randn_like(out)
        loss = (out * weights).sum() + sum((s * (i + 2)).sum() for i, s in enumerate(_flat(state)))
        params = list(module.parameters())
        inputs = [xi, *params, *([] if hx is None else _flat(hx))]
        grads = torch.autograd.grad(loss, inputs)
        results.append((out, _flat(state), grads))
    (out_p, state_p, grads_p), (out_s, state_s, grads_s) = results
    assert out_s.shape == out_p.shape == (6, 9, 4 * (2 if bidirectional else 1))
    torch.testing.assert_close(out_s, out_p)
    assert out_s[0, 3:].abs().max() == 0  # zero past the length
    for a, b in zip(state_s, state_p, strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(grads_s, grads_p, strict=True):
        torch.testing.assert_close(a, b)
    assert grads_s[0][:, 7:].abs().max() == 0  # no gradient reaches the padding


def test_dropout_between_layers_only_in_training() -> None:
    module = nn.LSTM(5, 4, num_layers=2, dropout=0.5, batch_first=True).double()
    x = torch.randn(3, 6, 5, dtype=torch.double)
    lengths = torch.tensor([6, 2, 4])
    module.eval()
    torch.testing.assert_close(run_segmented(module, x, None, lengths)[0], run_packed(module, x, None, lengths)[0])
    module.train()
    torch.manual_seed(0)
    first = run_segmented(module, x, None, lengths)[0]
    second = run_segmented(module, x, None, lengths)[0]
    assert not torch.allclose(first, second)


def test_bad_lengths_are_refused() -> None:
    module = nn.GRU(5, 4, batch_first=True)
    with pytest.raises(ValueError, match="lengths must be in"):
        run_segmented(module, torch.randn(2, 3, 5), None, torch.tensor([0, 3]))
