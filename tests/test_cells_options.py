"""The recurrent encoder's options: impl, variant, residual, locked dropout, init, compile; and the variant cells."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

import seqlab.models.cell_compile as cell_compile
from seqlab.config.schema import to_dataclass
from seqlab.errors import ConfigError
from seqlab.models.cell_stack import CellStack
from seqlab.models.cell_variants import ChoGRUCell, LayerNormLSTMCell, PeepholeLSTMCell
from seqlab.models.cells import LSTMCell
from seqlab.models.fused_stack import ResidualFusedStack
from seqlab.models.locked_dropout import LockedDropout
from seqlab.models.recurrent import GRU, LSTM, ElmanRNN, RecurrentConfig

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
ENCODERS = {"rnn": ElmanRNN, "lstm": LSTM, "gru": GRU}


def encoder(cell: str = "lstm", input_size: int = 5, **overrides) -> nn.Module:
    config = RecurrentConfig(name=cell, **{"hidden_size": 4, "num_layers": 2, **overrides})
    return ENCODERS[cell](input_size, config).double()


def test_yaml_files_carry_the_new_keys_with_dataclass_defaults():
    defaults = RecurrentConfig()
    for name in ("rnn", "lstm", "gru"):
        node = OmegaConf.load(CONF / f"{name}.yaml")
        for key in ("variant", "residual", "input_dropout", "output_dropout", "compile"):
            assert key in node, f"{name}.yaml lacks {key}"
            assert node[key] == getattr(defaults, key), f"{name}.yaml {key}"
        to_dataclass(RecurrentConfig, node, "model")


@pytest.mark.parametrize(
    "cell,overrides,key",
    [
        ("lstm", {"variant": "layernorm"}, "model.variant"),  # needs impl=cells
        ("lstm", {"variant": "peephole", "impl": "fused"}, "model.variant"),
        ("gru", {"variant": "layernorm", "impl": "cells"}, "model.variant"),  # lstm only
        ("lstm", {"variant": "bogus", "impl": "cells"}, "model.variant"),
        ("gru", {"impl": "cudnn"}, "model.impl"),
        ("rnn", {"compile": "sometimes", "impl": "cells"}, "model.compile"),
        ("gru", {"input_dropout": 1.0}, "model.input_dropout"),
        ("gru", {"output_dropout": -0.1}, "model.output_dropout"),
    ],
)
def test_bad_values_raise_config_error_naming_the_key(cell, overrides, key):
    with pytest.raises(ConfigError) as err:
        encoder(cell, **overrides)
    assert err.value.key == key
    assert key in str(err.value)


def test_layernorm_with_fused_names_the_variant_and_the_fix():
    with pytest.raises(ConfigError, match="model.variant.*impl=cells"):
        encoder("lstm", variant="layernorm", impl="fused")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_encoder_cells_and_fused_share_state_dict_and_outputs(cell):
    torch.manual_seed(0)
    fused, cells = encoder(cell, bidirectional=True), encoder(cell, bidirectional=True, impl="cells")
    assert list(fused.state_dict()) == list(cells.state_dict())
    cells.load_state_dict(fused.state_dict())
    x, lengths = torch.randn(3, 7, 5, dtype=torch.float64), torch.tensor([7, 3, 5])
    (out_f, st_f), (out_c, st_c) = fused(x, lengths=lengths), cells(x, lengths=lengths)
    torch.testing.assert_close(out_c, out_f, atol=1e-10, rtol=0)
    for a, b in zip(st_c if cell == "lstm" else [st_c], st_f if cell == "lstm" else [st_f]):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_residual_shapes_keys_and_impls_agree(cell, bidirectional):
    torch.manual_seed(1)
    kw = {"num_layers": 3, "bidirectional": bidirectional, "residual": True}
    fused, cells = encoder(cell, **kw), encoder(cell, impl="cells", **kw)
    plain = encoder(cell, **{**kw, "residual": False})
    assert isinstance(fused.rnn, ResidualFusedStack) and cells.rnn.residual
    assert list(fused.state_dict()) == list(plain.state_dict()) == list(cells.state_dict())
    cells.load_state_dict(fused.state_dict())
    plain.load_state_dict(fused.state_dict())
    fused.load_state_dict(cells.state_dict())  # and back
    x, lengths = torch.randn(3, 6, 5, dtype=torch.float64), torch.tensor([6, 2, 4])
    out_f, state_f = fused(x, lengths=lengths)
    out_c, state_c = cells(x, lengths=lengths)
    d = 2 if bidirectional else 1
    assert out_f.shape == out_c.shape == (3, 6, 4 * d)
    for s_f, s_c in zip(state_f if cell == "lstm" else [state_f], state_c if cell == "lstm" else [state_c]):
        assert s_f.shape == s_c.shape == (3 * d, 3, 4)
        torch.testing.assert_close(s_c, s_f, atol=1e-10, rtol=0)
    torch.testing.assert_close(out_c, out_f, atol=1e-10, rtol=0)
    assert torch.all(out_f[1, 2:] == 0)  # padding stays zero through the skips
    assert not torch.allclose(out_f, plain(x, lengths=lengths)[0])  # the skips do something


def test_residual_layer_adds_its_input():
    torch.manual_seed(2)
    stack = CellStack("gru", 4, 4, 2, residual=True).double()
    single = CellStack("gru", 4, 4, 1).double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    first, _ = stack(x)
    # layer 0 alone, then layer 1 + its input
    single.load_state_dict({k: v for k, v in stack.state_dict().items() if k.endswith("_l0")})
    y0, _ = single(x)
    single.load_state_dict({k.replace("_l1", "_l0"): v for k, v in stack.state_dict().items() if k.endswith("_l1")})
    y1, _ = single(y0)
    torch.testing.assert_close(first, y1 + y0, atol=1e-12, rtol=0)


def test_locked_dropout_mask_is_constant_over_time():
    torch.manual_seed(3)
    drop = LockedDropout(0.5).train()
    y = drop(torch.ones(8, 20, 16))
    assert torch.all(y == y[:, :1])  # the same mask at every step
    assert set(y.unique().tolist()) <= {0.0, 2.0} and 0 < (y == 0).float().mean() < 1
    assert not torch.all(y[0] == y[1])  # but one mask per sequence
    assert torch.equal(drop.eval()(y), y)


def test_encoder_input_and_output_dropout_are_locked():
    torch.manual_seed(4)
    model = encoder("gru", input_size=6, input_dropout=0.5, output_dropout=0.5, impl="cells").train()
    seen = []
    model.rnn.register_forward_pre_hook(lambda mod, args, kwargs: seen.append(args[0]), with_kwargs=True)
    out, _ = model(torch.ones(4, 9, 6, dtype=torch.float64))
    assert torch.all(seen[0] == seen[0][:, :1])
    dropped = out == 0
    assert dropped.any() and torch.all(dropped == dropped[:, :1])
    model.eval()
    ones = torch.ones(4, 9, 6, dtype=torch.float64)
    torch.testing.assert_close(model(ones)[0], model.rnn(ones)[0])  # identity in eval mode


@pytest.mark.parametrize("impl,residual", [("fused", False), ("fused", True), ("cells", False)])
def test_orthogonal_init_and_forget_bias(impl, residual):
    model = encoder(
        "lstm", impl=impl, residual=residual, num_layers=2, bidirectional=True, init="orthogonal", forget_bias=1.0
    )
    state, hidden = model.state_dict(), 4
    for key, value in state.items():
        if "weight_hh" in key:
            for block in value.split(hidden):
                torch.testing.assert_close(block @ block.T, torch.eye(hidden, dtype=block.dtype), atol=1e-6, rtol=0)
        if "bias_ih" in key:
            total = value + state[key.replace("bias_ih", "bias_hh")]
            assert torch.all(total[hidden : 2 * hidden] == 1.0)
            assert torch.all(total[:hidden] == 0) and torch.all(total[2 * hidden :] == 0)


def test_forget_bias_with_default_init_and_layernorm_variant():
    model = encoder("lstm", impl="cells", variant="layernorm", forget_bias=2.0)
    ln = model.rnn.ln_ih_weight_l0
    assert torch.all(ln == 1.0)  # variant parameters keep their own init
    total = model.rnn.bias_ih_l1 + model.rnn.bias_hh_l1
    assert torch.all(total[4:8] == 2.0)


def test_compile_option_resolves(recwarn):
    assert encoder("gru", impl="cells", compile="auto").rnn.compiled
    assert encoder("gru", impl="cells", compile=True).rnn.compiled  # YAML/CLI booleans are accepted
    assert not encoder("gru", impl="cells", compile="false").rnn.compiled
    assert not encoder("lstm", impl="cells", variant="peephole", compile="auto").rnn.compiled
    assert not recwarn.list
    with pytest.warns(UserWarning, match="no compiled kernel"):
        assert not encoder("lstm", impl="cells", variant="layernorm", compile="true").rnn.compiled
    with pytest.warns(UserWarning, match="impl=cells only"):
        assert isinstance(encoder("gru", compile="true").rnn, nn.GRU)


def test_compile_falls_back_to_eager_with_a_warning(monkeypatch):
    monkeypatch.setattr(cell_compile, "kernel_problem", lambda mode: "RuntimeError: simulated")
    with pytest.warns(UserWarning, match="simulated"):
        assert not encoder("lstm", impl="cells", compile="true").rnn.compiled


def test_compiled_run_failure_falls_back_to_eager(monkeypatch):
    import seqlab.models.cell_kernels as kernels

    torch.manual_seed(5)
    model = encoder("lstm", impl="cells", compile="true")
    x = torch.randn(2, 5, 5, dtype=torch.float64)
    expected, _ = model(x)

    def boom(*args, **kwargs):
        raise RuntimeError("simulated kernel failure")

    monkeypatch.setattr(kernels, "run_layer", boom)
    with pytest.warns(UserWarning, match="simulated kernel failure"):
        out, _ = model(x)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    assert not model.rnn.compiled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(x)  # warned once, eager from now on


def test_config_has_every_option():
    fields = {f.name for f in dataclasses.fields(RecurrentConfig)}
    options = {"impl", "variant", "residual", "input_dropout", "output_dropout", "init", "forget_bias", "compile"}
    assert options <= fields


# ---- variant cells --------------------------------------------------------------------------------------------


def test_layernorm_lstm_cell_follows_its_equations():
    torch.manual_seed(6)
    cell = LayerNormLSTMCell(3, 4).double()
    with torch.no_grad():
        for p in (cell.ln_ih_weight, cell.ln_hh_weight, cell.ln_c_weight, cell.ln_c_bias):
            p.uniform_(0.5, 1.5)
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (3, 4, 4))
    ln = nn.functional.layer_norm
    gates = (
        ln(x @ cell.weight_ih.T, (16,), cell.ln_ih_weight)
        + cell.bias_ih
        + ln(h @ cell.weight_hh.T, (16,), cell.ln_hh_weight)
        + cell.bias_hh
    )
    i, f, g, o = gates.chunk(4, 1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(ln(c_new, (4,), cell.ln_c_weight, cell.ln_c_bias))
    got_h, got_c = cell(x, (h, c))
    torch.testing.assert_close(got_c, c_new, atol=1e-12, rtol=0)
    torch.testing.assert_close(got_h, h_new, atol=1e-12, rtol=0)


def test_peephole_with_zero_peepholes_is_the_standard_lstm():
    torch.manual_seed(7)
    peep, std = PeepholeLSTMCell(3, 4).double(), LSTMCell(3, 4).double()
    missing = peep.load_state_dict(std.state_dict(), strict=False).missing_keys
    assert missing == ["weight_ch"]
    with torch.no_grad():
        peep.weight_ch.zero_()
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (3, 4, 4))
    for a, b in zip(peep(x, (h, c)), std(x, (h, c))):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    with torch.no_grad():
        peep.weight_ch.fill_(0.5)
    assert not torch.allclose(peep(x, (h, c))[0], std(x, (h, c))[0])


def test_cho_gru_is_a_different_function_with_the_same_parameters():
    torch.manual_seed(8)
    cho, torch_gru = ChoGRUCell(3, 4).double(), nn.GRUCell(3, 4).double()
    cho.load_state_dict(torch_gru.state_dict())
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    w_ir, w_iz, w_in = cho.weight_ih.chunk(3)
    w_hr, w_hz, w_hn = cho.weight_hh.chunk(3)
    b_ir, b_iz, b_in = cho.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = cho.bias_hh.chunk(3)
    r = torch.sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = torch.sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    n = torch.tanh(x @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
    torch.testing.assert_close(cho(x, h), (1 - z) * n + z * h, atol=1e-12, rtol=0)
    assert not torch.allclose(cho(x, h), torch_gru(x, h))


@pytest.mark.parametrize("cell,variant", [("lstm", "layernorm"), ("lstm", "peephole"), ("gru", "cho")])
def test_variant_encoders_train_and_load_fused_weights(cell, variant):
    torch.manual_seed(9)
    model = encoder(cell, impl="cells", variant=variant, bidirectional=True, residual=True)
    x, lengths = torch.randn(3, 6, 5, dtype=torch.float64), torch.tensor([6, 2, 4])
    out, _ = model(x, lengths=lengths)
    out.sum().backward()
    assert out.shape == (3, 6, 8) and torch.all(out[1, 2:] == 0)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    fused = encoder(cell, bidirectional=True)
    result = model.load_state_dict(fused.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert all(k.startswith("rnn.ln_") or "weight_ch" in k for k in result.missing_keys)
    assert bool(result.missing_keys) == (variant != "cho")  # Cho's GRU has exactly nn.GRU's parameters


def test_compile_self_check_leaves_rng_and_grad_mode_alone():
    cell_compile.kernel_problem.cache_clear()  # make the self-check run inside this test
    draws = []
    for option in ("auto", "false"):
        torch.manual_seed(11)
        with torch.no_grad():
            model = encoder("gru", impl="cells", compile=option)
        draws.append(torch.rand(3))
        assert model.rnn.compiled == (option == "auto")
    torch.testing.assert_close(draws[0], draws[1], atol=0, rtol=0)
