"""Show, Attend and Tell's decoder: the decoder contract, the gating scalar, the mean initialisation, the deep
output, and the doubly stochastic penalty on a hand-worked example."""

from __future__ import annotations

import pytest
import torch

from seqlab import registry
from seqlab.errors import ConfigError
from seqlab.models.decoder import Decoder
from seqlab.models.soft_attention_decoder import (
    SoftAttentionDecoder,
    SoftAttentionDecoderConfig,
    doubly_stochastic_penalty,
)
from seqlab.testing import DecoderContract


def config(**overrides: object) -> SoftAttentionDecoderConfig:
    base = dict(cell="lstm", hidden_size=8, num_layers=2, dropout=0.1, embedding_dim=6, attention_size=5)
    return SoftAttentionDecoderConfig(**{**base, **overrides})


def memory(batch: int = 3, regions: int = 4, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, regions, size, generator=torch.Generator().manual_seed(seed))


# ---- the contract ---------------------------------------------------------------------------------------------------
class TestLSTMGatedMeanInit(DecoderContract):
    decoder_name = "show_attend_tell"

    def make_decoder(self) -> Decoder:
        return SoftAttentionDecoder(self.vocab_size, self.memory_size, config())

    def test_registered_under_its_name(self) -> None:
        if self.decoder_name not in registry.names("decoder"):
            pytest.skip(f"seqlab.decoders entry point '{self.decoder_name}' is not installed yet (pyproject.toml)")
        super().test_registered_under_its_name()


class TestGRUUngatedZeroInit(DecoderContract):
    memory_size = 5
    batch_size = 3

    def make_decoder(self) -> Decoder:
        return SoftAttentionDecoder(
            self.vocab_size, self.memory_size, config(cell="gru", num_layers=1, gating=False, init="zero")
        )


class TestElmanFullGrid(DecoderContract):
    def make_decoder(self) -> Decoder:
        return SoftAttentionDecoder(self.vocab_size, self.memory_size, config(cell="rnn", num_layers=1, dropout=0.0))

    def memory(self, seed: int = 1):
        grid, _, _ = super().memory(seed)
        # an image grid: every region is real (the contract's attention test reads the mask, so not None)
        return grid, torch.ones(grid.shape[:2], dtype=torch.bool), None


# ---- the equations --------------------------------------------------------------------------------------------------
def test_gating_scalar_is_in_zero_one_and_scales_the_context():
    torch.manual_seed(0)
    decoder = SoftAttentionDecoder(7, 8, config()).eval()
    grid = memory()
    h_prev = 3 * torch.randn(3, 8)
    z, alpha, beta = decoder.attend(h_prev, grid)
    assert beta.shape == (3, 1) and ((beta > 0) & (beta < 1)).all()
    torch.testing.assert_close(beta, torch.sigmoid(decoder.f_beta(h_prev)))
    torch.testing.assert_close(z, beta * torch.einsum("br,brd->bd", alpha, grid))
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3))
    ungated = SoftAttentionDecoder(7, 8, config(gating=False)).eval()
    z, alpha, beta = ungated.attend(h_prev, grid)
    assert ungated.f_beta is None and torch.equal(beta, torch.ones(3, 1))
    torch.testing.assert_close(z, torch.einsum("br,brd->bd", alpha, grid))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_initial_state_is_tanh_of_the_mean_region_per_layer(cell):
    torch.manual_seed(0)
    decoder = SoftAttentionDecoder(7, 8, config(cell=cell, num_layers=2)).eval()
    grid = memory()
    mask = torch.tensor([[True, True, True, True], [True, True, False, False], [True, False, False, False]])
    state = decoder.init_state(grid, mask)
    mean = torch.stack([grid[b, mask[b]].mean(0) for b in range(3)])
    h = state["rnn"][0] if cell == "lstm" else state["rnn"]
    expected_h = torch.tanh(decoder.init_h(mean)).view(3, 2, 8).transpose(0, 1)
    torch.testing.assert_close(h, expected_h)
    if cell == "lstm":
        torch.testing.assert_close(state["rnn"][1], torch.tanh(decoder.init_c(mean)).view(3, 2, 8).transpose(0, 1))
    else:
        assert decoder.init_c is None
    assert state["keys"].shape == (1, 3, 4, 5)
    padded = grid.clone()
    padded[~mask] = 100.0  # padded regions do not count in the mean
    torch.testing.assert_close(decoder.init_state(padded, mask)["rnn"], state["rnn"])
    zero = SoftAttentionDecoder(7, 8, config(cell=cell, init="zero")).init_state(grid)
    assert all((t == 0).all() for t in (zero["rnn"] if cell == "lstm" else (zero["rnn"],)))


def test_one_step_follows_the_equations():
    """alpha from h_{t-1}, z = beta * context, the RNN reads [E y; z], logits = L_o(E y + L_h h_t + L_z z)."""
    torch.manual_seed(0)
    decoder = SoftAttentionDecoder(7, 8, config(num_layers=1)).eval()
    grid = memory()
    state = decoder.init_state(grid)
    prev = torch.tensor([1, 4, 6])
    logits, new_state, alpha = decoder.step(prev, state, grid)
    h0, c0 = state["rnn"]
    z, expected_alpha, _ = decoder.attend(h0[-1], grid)
    embedded = decoder.embedding(prev)
    _, (h1, c1) = decoder.rnn(torch.cat([embedded, z], -1)[:, None], (h0, c0))
    torch.testing.assert_close(alpha, expected_alpha)
    torch.testing.assert_close(new_state["rnn"][0], h1)
    expected = decoder.out(embedded + decoder.l_h(h1[-1]) + decoder.l_z(z))
    torch.testing.assert_close(logits, expected)


# ---- the doubly stochastic penalty ----------------------------------------------------------------------------------
def test_doubly_stochastic_penalty_by_hand():
    attention = torch.tensor(
        [
            [[0.5, 0.5], [1.0, 0.0], [0.2, 0.8]],  # the last step is padding: sums over t = (1.5, 0.5)
            [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]],  # sums (0, 3)
        ]
    )
    mask = torch.tensor([[True, True, False], [True, True, True]])
    # row 0: (1 - 1.5)^2 + (1 - 0.5)^2 = 0.5; row 1: (1 - 0)^2 + (1 - 3)^2 = 5; mean 2.75
    torch.testing.assert_close(doubly_stochastic_penalty(attention, mask), torch.tensor(2.75))
    # without the step mask row 0 sums to (1.7, 1.3): 0.49 + 0.09 = 0.58; mean (0.58 + 5) / 2 = 2.79
    torch.testing.assert_close(doubly_stochastic_penalty(attention), torch.tensor(2.79))
    regions = torch.tensor([[True, True], [True, False]])  # row 1's second region is padding: 1 only
    torch.testing.assert_close(doubly_stochastic_penalty(attention, mask, regions), torch.tensor(0.75))
    # per region: row 0 0.5 / 2, row 1 5 / 2 -> 1.375; with the region mask row 1 counts 1 region: (0.25 + 1) / 2
    torch.testing.assert_close(doubly_stochastic_penalty(attention, mask, per_region=True), torch.tensor(1.375))
    torch.testing.assert_close(
        doubly_stochastic_penalty(attention, mask, regions, per_region=True), torch.tensor(0.625)
    )
    uniform = torch.full((2, 4, 4), 0.25)  # 4 steps, 4 regions, uniform: every region gets exactly 1
    assert doubly_stochastic_penalty(uniform, torch.ones(2, 4, dtype=torch.bool)) == 0


def test_penalty_of_the_teacher_forced_pass_trains_the_attention():
    torch.manual_seed(0)
    decoder = SoftAttentionDecoder(7, 8, config())
    grid = memory()
    tokens = torch.randint(0, 7, (3, 5))
    _, _, attention = decoder(tokens, decoder.init_state(grid), grid)
    assert attention.shape == (3, 5, 4)
    doubly_stochastic_penalty(attention, torch.ones(3, 5, dtype=torch.bool)).backward()
    for param in (
        decoder.attention.v.weight,
        decoder.attention.query_proj.weight,
        decoder.attention.memory_proj.weight,
    ):
        assert param.grad is not None and param.grad.abs().sum() > 0


# ---- configuration ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cell": "tcn"}, r"^decoder\.cell: unknown cell 'tcn' \(allowed: gru, lstm, rnn\)$"),
        ({"init": "learned"}, r"^decoder\.init: unknown init 'learned' \(allowed: mean, zero\)$"),
        ({"attention_size": 0}, r"^decoder\.attention_size: must be >= 1, got 0$"),
        ({"dropout": 1.0}, r"^decoder\.dropout: must be in \[0, 1\), got 1.0$"),
    ],
)
def test_bad_config_is_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message):
        SoftAttentionDecoder(7, 8, config(**overrides))


def test_needs_a_memory():
    with pytest.raises(ConfigError, match=r"^decoder\.name: show_attend_tell attends over image regions"):
        SoftAttentionDecoder(7, None, config())
    decoder = SoftAttentionDecoder(7, 8, config())
    with pytest.raises(ValueError, match=r"needs a memory \(B, R, 8\), got None"):
        decoder.init_state(None, None)
