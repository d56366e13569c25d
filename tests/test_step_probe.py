"""SequenceModel.recording_steps: the model's own computation one step at a time, every step's h_t recorded, forward
never replaced."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from torch import nn

from seqlab.models.base import ModelConfig, SequenceModel
from seqlab.models.baselines import BagOfWords, BagOfWordsConfig
from seqlab.models.recurrent import GRU, LSTM, ElmanRNN, RecurrentConfig
from seqlab.models.varlen import run_packed

ENCODERS = {"rnn": ElmanRNN, "lstm": LSTM, "gru": GRU}
CASES = {  # name -> (cell, overrides, layers recorded)
    "rnn fused 1 layer": ("rnn", {"num_layers": 1}, 1),
    "lstm fused 3 layers": ("lstm", {"num_layers": 3}, 3),
    "gru fused 2 layers": ("gru", {"num_layers": 2}, 2),
    "rnn relu fused 2 layers": ("rnn", {"num_layers": 2, "nonlinearity": "relu"}, 2),
    "lstm cells 2 layers": ("lstm", {"num_layers": 2, "impl": "cells"}, 1),
    "gru cells residual": ("gru", {"num_layers": 2, "impl": "cells", "residual": True}, 1),
    "lstm fused residual": ("lstm", {"num_layers": 2, "residual": True}, 1),
}


class TinyGRU(SequenceModel):
    """A plugin-like model the probe knows nothing about: a fused GRU behind the encoder contract."""

    Config: ClassVar[type] = ModelConfig

    def __init__(self, input_size: int, config: ModelConfig) -> None:
        super().__init__(input_size, config)
        self.gru = nn.GRU(input_size, 4, num_layers=2, batch_first=True)
        self.num_layers, self.output_size = 2, 4

    def forward(self, x, state=None, lengths=None):
        return self.gru(x, state) if lengths is None else run_packed(self.gru, x, state, lengths)


def build(name: str) -> SequenceModel:
    torch.manual_seed(0)
    if name == "tiny":
        return TinyGRU(3, ModelConfig(name="tiny")).double().eval()
    cell, overrides, _ = CASES[name]
    return ENCODERS[cell](3, RecurrentConfig(name=cell, hidden_size=4, **overrides)).double().eval()


def recorded(model: SequenceModel, *args, **kwargs):
    seen: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def record(layer, t, out, h):
        assert "forward" not in vars(model)  # nothing stands in for forward
        assert model.forward.__func__ is type(model).forward
        seen[(layer, t)] = (out, h)

    with model.recording_steps(record):
        result = model(*args, **kwargs)
    return result, seen


def assert_same(a, b):
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    else:
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", [*CASES, "tiny"])
def test_recording_computes_what_forward_computes(name):
    model = build(name)
    x = torch.randn(3, 6, 3, dtype=torch.double)
    expected = model(x)
    (out, state), seen = recorded(model, x)
    assert_same(out, expected[0])
    assert_same(state, expected[1])
    layers = CASES[name][2] if name in CASES else 1
    first = 0 if layers > 1 else getattr(model, "num_layers", 1) - 1
    assert sorted(seen) == [(layer, t) for layer in range(first, first + layers) for t in range(6)]
    for t in range(6):
        step_out, h = seen[(first + layers - 1, t)]
        assert step_out.shape == (3, 1, 4) and h.shape[1:] == (3, 4)
        torch.testing.assert_close(step_out, out[:, t : t + 1])
        if "residual" not in name:  # the last layer's output at step t is its h_t (a skip connection adds x_t)
            torch.testing.assert_close(step_out[:, 0], h[-1])
    assert "forward" not in vars(model) and model._step_record is None  # back to normal after the block


@pytest.mark.parametrize("name", ["lstm fused 3 layers", "lstm cells 2 layers", "lstm fused residual", "tiny"])
def test_padded_steps_keep_the_state_and_give_zero_outputs(name):
    model = build(name)
    x = torch.randn(3, 6, 3, dtype=torch.double)
    lengths = torch.tensor([6, 2, 4])
    expected = model(x, lengths=lengths)
    (out, state), _ = recorded(model, x, lengths=lengths)
    assert_same(out, expected[0])
    assert_same(state, expected[1])
    assert out[1, 2:].abs().sum() == 0


def test_gradients_through_the_steps_equal_the_normal_ones():
    model = build("lstm fused 3 layers")
    x = torch.randn(2, 5, 3, dtype=torch.double)
    model(x)[0].square().sum().backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    recorded(model, x)[0][0].square().sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[n], msg=n)


def test_locked_dropout_masks_are_drawn_as_forward_draws_them():
    """Training mode: input and output dropout apply one mask to the whole sequence, as in forward."""
    torch.manual_seed(0)
    config = RecurrentConfig(name="gru", hidden_size=4, num_layers=2, input_dropout=0.4, output_dropout=0.4)
    model = GRU(3, config).double().train()
    x = torch.randn(2, 5, 3, dtype=torch.double)
    torch.manual_seed(1)
    expected = model(x)
    torch.manual_seed(1)
    (out, state), _ = recorded(model, x)
    assert_same(out, expected[0])
    assert_same(state, expected[1])


def test_refused_for_bidirectional_and_pooled_models():
    bi = LSTM(3, RecurrentConfig(name="lstm", hidden_size=4, bidirectional=True))
    with pytest.raises(ValueError, match="bidirectional"), bi.recording_steps(lambda *a: None):
        pass
    bow = BagOfWords(10, BagOfWordsConfig())
    with pytest.raises(ValueError, match="pooled"), bow.recording_steps(lambda *a: None):
        pass
