"""seqlab-indrnn: the seqlab model and decoder contracts, plus IndRNN's own equation and options."""

from __future__ import annotations

import pytest
import torch
from seqlab_indrnn.decoder import IndRNNDecoder, IndRNNDecoderConfig
from seqlab_indrnn.model import IndRNN, IndRNNConfig, reverse_padded

from seqlab.api import ConfigError, Decoder
from seqlab.testing import DecoderContract, ModelContract


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


# ---- the decoder ----------------------------------------------------------------------------------------------------
class TestIndRNNDecoderContract(DecoderContract):
    decoder_name = "indrnn"

    def make_decoder(self) -> Decoder:
        config = IndRNNDecoderConfig(hidden_size=16, embedding_dim=6)
        return IndRNNDecoder(self.vocab_size, self.memory_size, config)


class TestIndRNNDecoderWithoutAttentionContract(DecoderContract):
    decoder_name = "indrnn"

    def make_decoder(self) -> Decoder:
        return IndRNNDecoder(self.vocab_size, None, IndRNNDecoderConfig(hidden_size=16, attention=False))

    def memory(self, seed: int = 1):
        """No memory: the first state comes from an encoder state (layers, B, hidden_size)."""
        gen = torch.Generator().manual_seed(seed)
        return None, None, torch.randn(2, self.batch_size, 16, generator=gen)


def test_decoder_step_is_the_equation():
    torch.manual_seed(0)
    decoder = IndRNNDecoder(5, None, IndRNNDecoderConfig(hidden_size=4, embedding_dim=3, attention=False))
    h0 = torch.randn(1, 2, 4)
    tokens = torch.tensor([1, 3])
    logits, state, attention = decoder.step(tokens, h0)
    h = torch.relu(decoder.input(decoder.embedding(tokens)) + decoder.recurrent * h0[0])
    assert torch.allclose(state[0], h) and torch.allclose(logits, decoder.out(h)) and attention is None


def test_decoder_without_memory_needs_no_attention():
    with pytest.raises(ConfigError, match="decoder.attention"):
        IndRNNDecoder(5, None, IndRNNDecoderConfig())
