"""The causal Transformer encoder (model=transformer): causality by prefix, positions, config checks, and what its
``carries_state = False`` declaration means for tasks (the contract itself runs in tests/test_contract_builtin.py)."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import compose_config

from seqlab import registry
from seqlab.config.validate import validate
from seqlab.errors import ConfigError
from seqlab.models.capabilities import Capabilities
from seqlab.models.transformer import TransformerConfig, TransformerEncoder, sinusoidal_positions
from seqlab.tasks.base import check_model_serves


def build(seed: int = 0, **keys) -> TransformerEncoder:
    config = TransformerConfig(**{"hidden_size": 8, "num_heads": 2, "ffn_size": 16, "dropout": 0.0, **keys})
    torch.manual_seed(seed)
    return TransformerEncoder(5, config).eval()


def inputs(batch: int = 3, steps: int = 9) -> torch.Tensor:
    return torch.randn(batch, steps, 5, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_causal_output_at_t_is_the_output_of_the_prefix(positions):
    """Output t equals running the first t + 1 inputs alone: nothing later leaks in, positions count from 0."""
    model = build(positions=positions)
    x = inputs()
    out, state = model(x)
    assert out.shape == (3, 9, 8) and state is None
    for t in range(x.size(1)):
        torch.testing.assert_close(model(x[:, : t + 1])[0][:, t], out[:, t])


def test_bidirectional_attends_both_ways():
    model = build(bidirectional=True)
    assert model.bidirectional
    x = inputs()
    y = x.clone()
    y[:, -1] += 1
    assert not torch.allclose(model(x)[0][:, 0], model(y)[0][:, 0])


def test_padding_masks_keys_and_zeroes_outputs():
    for bidirectional in (False, True):
        model = build(bidirectional=bidirectional)
        x, lengths = inputs(), torch.tensor([9, 5, 2])
        out, _ = model(x, lengths=lengths)
        for row, n in enumerate(lengths.tolist()):
            torch.testing.assert_close(out[row, :n], model(x[row : row + 1, :n])[0][0])
            assert out[row, n:].abs().sum() == 0


def test_sinusoidal_positions():
    table = sinusoidal_positions(6, 4)
    t = torch.arange(6.0)
    torch.testing.assert_close(table[:, 0], torch.sin(t))
    torch.testing.assert_close(table[:, 1], torch.cos(t))
    torch.testing.assert_close(table[:, 2], torch.sin(t / 100.0))
    assert sinusoidal_positions(3, 5).shape == (3, 5)  # odd widths too


def test_training_is_warning_free_and_reaches_every_parameter():
    model = build(dropout=0.1, positions="learned").train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, _ = model(inputs(), lengths=torch.tensor([9, 4, 1]))
        out.pow(2).sum().backward()
        model.eval()(inputs())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_config_checks():
    with pytest.raises(ConfigError, match="model.num_heads: must divide"):
        build(num_heads=3)
    with pytest.raises(ConfigError, match="model.positions"):
        build(positions="rotary")
    with pytest.raises(ConfigError, match="model.dropout"):
        build(dropout=1.0)
    with pytest.raises(ValueError, match="max_len=4"):
        build(positions="learned", max_len=4)(inputs())
    assert build(positions="sinusoidal", max_len=4)(inputs())[0].shape == (3, 9, 8)  # any length


def test_it_declares_no_state_and_refuses_step_recording():
    assert Capabilities.of(registry.get_model("transformer")) == Capabilities(
        per_step=True, causal=True, input_kind="embeddings", carries_state=False
    )
    assert Capabilities.of(registry.get_model("lstm")).carries_state
    assert not Capabilities.of(registry.get_model("cnn")).carries_state  # pooled: nothing to carry either
    with pytest.raises(ValueError, match="one step at a time"):
        with build().recording_steps(lambda *_: None):
            pass


CHARLM = ["task=charlm", "model=transformer", "model.hidden_size=8", "task.seq_len=12"]


def test_charlm_takes_it_with_a_carried_state_but_not_truncated_bptt():
    cfg = compose_config(CHARLM)
    assert cfg.task.carry_state is True
    validate(cfg)  # carry_state=true: the carried state stays None
    with pytest.raises(ConfigError, match=r"^task\.tbptt_steps: model 'transformer' carries no state") as refused:
        validate(compose_config([*CHARLM, "task.tbptt_steps=4"]))
    assert "\n" not in str(refused.value)
    with pytest.raises(ConfigError, match=r"^model\.bidirectional"):
        validate(compose_config([*CHARLM, "model.bidirectional=true"]))


def test_translate_takes_it_only_without_a_bridge_from_its_state():
    base = ["task=translate", "model=transformer", "task.data.synthetic=reverse", "model.hidden_size=8"]
    with pytest.raises(ConfigError, match=r"^model: 'transformer' cannot serve task 'translate'.*a final state"):
        validate(compose_config([*base, "task.bridge=project"]))
    validate(compose_config([*base, "task.bridge=zero"]))


def test_forecast_takes_it_for_direct_forecasts_only():
    """An autoregressive rollout feeds one step at a time with the state: a stateless model would see one value."""
    forecast = registry.get_task("forecast")
    check_model_serves(forecast, compose_config(["task=forecast", "model=transformer"]))  # mode=direct
    with pytest.raises(ConfigError, match="it lacks a final state"):
        check_model_serves(forecast, compose_config(["task=forecast", "model=transformer", "task.mode=autoregressive"]))


def test_parameter_count():
    """Embedding-free blocks: 4 H^2 + 4 H (attention) + 2 H F + F + H (FFN) + 4 H (two LayerNorms) per layer."""
    h, f, layers = 8, 16, 2
    model = build(num_layers=layers)
    per_layer = 4 * h * h + 4 * h + 2 * h * f + f + h + 4 * h
    expected = layers * per_layer + 2 * h + (5 * h + h)  # final LayerNorm, input projection 5 -> 8
    assert model.num_parameters() == expected
    assert model.output_size == h
