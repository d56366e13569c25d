"""seqlab-indrnn: the seqlab model contract, plus IndRNN's own equation and options."""

from __future__ import annotations

import pytest
import torch
from seqlab_indrnn.model import IndRNN, IndRNNConfig, reverse_padded

from seqlab.errors import ConfigError
from seqlab.testing import ModelContract


class TestIndRNNContract(ModelContract):
    model_name = "indrnn"


@pytest.mark.slow
class TestIndRNNTanhContract(ModelContract):
    model_name = "indrnn"
    overrides = ("model.nonlinearity=tanh", "model.num_layers=3", "model.recurrent_max=0.9")


def reference(model: IndRNN, x: torch.Tensor) -> torch.Tensor:
    """h_t = relu(W x_t + b + u * h_{t-1}) written out for a one-layer, one-direction model."""
    w, b, u = model.weight_ih_l0, model.bias_ih_l0, model.weight_hh_l0
    h = torch.zeros(x.size(0), w.size(0))
    outs = []
    for t in range(x.size(1)):
        h = torch.relu(x[:, t] @ w.T + b + u * h)
        outs.append(h)
    return torch.stack(outs, 1)


def test_matches_the_equation():
    torch.manual_seed(0)
    model = IndRNN(3, IndRNNConfig(hidden_size=6, num_layers=1))
    x = torch.randn(2, 7, 3)
    out, state = model(x)
    assert torch.allclose(out, reference(model, x), atol=1e-6)
    assert torch.allclose(state[0], out[:, -1], atol=1e-6)


def test_recurrent_weight_is_a_vector_and_names_follow_torch_rnn():
    model = IndRNN(3, IndRNNConfig(hidden_size=4, num_layers=2, bidirectional=True))
    names = dict(model.named_parameters())
    assert names["weight_hh_l1_reverse"].shape == (4,)
    assert names["weight_ih_l1"].shape == (4, 8)  # layer 1 reads both directions of layer 0
    assert set(names) == {
        f"{k}_l{layer}{s}" for k in ("weight_ih", "bias_ih", "weight_hh") for layer in (0, 1) for s in ("", "_reverse")
    }


def test_recurrent_max_clips_u():
    torch.manual_seed(0)
    model = IndRNN(2, IndRNNConfig(hidden_size=3, num_layers=1, recurrent_max=0.5))
    with torch.no_grad():
        model.weight_hh_l0.fill_(5.0)
    x = torch.ones(1, 4, 2)
    clipped, _ = model(x)
    with torch.no_grad():
        model.weight_hh_l0.fill_(0.5)
    assert torch.allclose(clipped, model(x)[0])


def test_reverse_padded_reverses_only_valid_steps():
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_padded(x, torch.tensor([4, 2]))
    assert out[:, :, 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]


@pytest.mark.parametrize(
    "key,value", [("hidden_size", 0), ("nonlinearity", "gelu"), ("recurrent_max", -1.0), ("dropout", 1.5)]
)
def test_bad_config_names_the_key(key, value):
    with pytest.raises(ConfigError, match=f"model.{key}"):
        IndRNN(3, IndRNNConfig(**{key: value}))
