"""Weight drop (DropConnect on W_hh, seqlab/models/weight_drop.py): one mask per call, the same at every step, used
by the fused kernels and the cells, nothing in eval; gradients reach the raw weights;
checkpoints keep torch.nn names."""

from __future__ import annotations

import copy
import io
import warnings

import pytest
import torch
from conftest import compose_config

from seqlab.models.recurrent import GRU, LSTM, ElmanRNN, RecurrentConfig, RecurrentEncoder
from seqlab.models.weight_drop import WeightDropout

P = 0.5
CASES = [
    pytest.param(impl, layers, bi, residual, id=f"{impl}-{layers}l-{'bi' if bi else 'uni'}{'-res' if residual else ''}")
    for impl in ("fused", "cells")
    for layers, bi, residual in ((1, False, False), (2, False, False), (2, True, False), (2, True, True))
]


def build(
    impl: str, layers: int, bi: bool, residual: bool = False, p: float = P, cls: type = LSTM, seed: int = 0
) -> RecurrentEncoder:
    config = RecurrentConfig(
        hidden_size=6, num_layers=layers, bidirectional=bi, impl=impl, residual=residual, compile="false", weight_drop=p
    )
    with torch.random.fork_rng():  # the masks a test draws do not depend on how many models it built
        torch.manual_seed(seed)
        return cls(4, config)


def inputs(batch: int = 3, steps: int = 7, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, steps, 4, generator=torch.Generator().manual_seed(seed))


def record_dropped(model: RecurrentEncoder) -> dict[str, list[torch.Tensor]]:
    """Hook every WeightDropout: the W_hh' it hands out, per weight name (``rnn.weight_hh_l0``, ...)."""
    seen: dict[str, list[torch.Tensor]] = {}
    for path, module in model.named_modules():
        if isinstance(module, WeightDropout):  # rnn[.layers.k].parametrizations.weight_hh_l0.0
            owner, name = path.split(".parametrizations.")
            key = f"{owner}.{name.rsplit('.', 1)[0]}"
            module.register_forward_hook(lambda _m, _i, out, key=key: seen.setdefault(key, []).append(out.detach()))
    return seen


def plain_twin(model: RecurrentEncoder, impl: str, layers: int, bi: bool, residual: bool) -> RecurrentEncoder:
    """The same weights without weight drop, in eval mode."""
    twin = build(impl, layers, bi, residual, p=0.0, cls=type(model), seed=5)
    twin.load_state_dict(model.state_dict())
    return twin.eval()


def with_weights(twin: RecurrentEncoder, dropped: dict[str, torch.Tensor]) -> RecurrentEncoder:
    """``twin`` with its W_hh replaced by fixed tensors (the ``dropped`` ones, by module path)."""
    params = dict(twin.named_parameters())
    with torch.no_grad():
        for key, value in dropped.items():
            owner, name = key.rsplit(".", 1)
            params[f"{owner}.{name}"].copy_(value)
    return twin


@pytest.mark.parametrize(("impl", "layers", "bi", "residual"), CASES)
def test_training_draws_a_new_mask_per_call_used_at_every_step(impl, layers, bi, residual):
    """Each training call samples one W_hh' per matrix; the call equals a plain model whose W_hh is that fixed
    W_hh' (so the kernel used it, at every step); two calls differ; with lengths (segments) the same holds."""
    model = build(impl, layers, bi, residual).train()
    seen = record_dropped(model)
    x, lengths = inputs(), torch.tensor([7, 4, 2])
    for kwargs in ({}, {"lengths": lengths}):
        seen.clear()
        out, state = model(x, **kwargs)
        assert seen and all(len(v) == 1 for v in seen.values()), "one W_hh' per matrix per call"
        dropped = {k: v[0] for k, v in seen.items()}
        for key, w in dropped.items():
            zeros = (w == 0).float().mean()
            assert 0.2 < zeros < 0.8, f"{key}: {zeros:.2f} of W_hh' dropped, expected about {P}"
        twin = with_weights(plain_twin(model, impl, layers, bi, residual), dropped)
        ref, ref_state = twin(x, **kwargs)
        torch.testing.assert_close(out, ref)
        torch.testing.assert_close(state, ref_state)
    first = {k: v[0] for k, v in seen.items()}
    seen.clear()
    again, _ = model(x)
    assert any(not torch.equal(first[k], seen[k][0]) for k in first), "a second call must draw a new mask"
    assert not torch.allclose(again, model(x)[0])


@pytest.mark.parametrize(("impl", "layers", "bi", "residual"), CASES)
def test_eval_is_deterministic_and_equals_the_model_without_weight_drop(impl, layers, bi, residual):
    model = build(impl, layers, bi, residual).eval()
    twin = plain_twin(model, impl, layers, bi, residual)
    x = inputs()
    out, state = model(x)
    torch.testing.assert_close(out, model(x)[0], rtol=0, atol=0)
    ref, ref_state = twin(x)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(state, ref_state)
    torch.testing.assert_close(
        model(x, lengths=torch.tensor([7, 3, 1]))[0], twin(x, lengths=torch.tensor([7, 3, 1]))[0]
    )


@pytest.mark.parametrize("impl", ["fused", "cells"])
@pytest.mark.parametrize("cls", [ElmanRNN, GRU, LSTM])
def test_backward_reaches_the_raw_weights_through_the_mask(impl, cls):
    """dL/dW_hh (the raw ``...original``) is zero exactly where the mask dropped an entry."""
    model = build(impl, 2, True, cls=cls).train()
    seen = record_dropped(model)
    out, _ = model(inputs())
    out.pow(2).sum().backward()
    raw = {n: p for n, p in model.named_parameters() if n.endswith(".original")}
    assert len(raw) == 4  # 2 layers x 2 directions
    for name, param in raw.items():
        key = name.replace("parametrizations.", "").removesuffix(".original")
        kept = seen[key][0] != 0
        assert param.grad is not None and param.grad[kept].abs().sum() > 0, name
        assert param.grad[~kept].abs().sum() == 0, f"{name}: a dropped entry got a gradient"
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_recording_steps_uses_one_mask_for_every_step():
    """The step-by-step path (gradient-flow probe) reads W_hh at every step: with the same seed it equals forward."""
    for impl in ("fused", "cells"):
        model = build(impl, 2, False).train()
        x = inputs()
        torch.manual_seed(3)
        out, state = model(x)
        torch.manual_seed(3)
        with model.recording_steps(lambda *_: None):
            stepped, stepped_state = model(x)
        torch.testing.assert_close(stepped, out)
        torch.testing.assert_close(stepped_state, state)


@pytest.mark.parametrize("impl", ["fused", "cells"])
def test_state_dict_keeps_torch_nn_names_and_round_trips(impl):
    res = impl == "fused"  # ResidualFusedStack renames its keys too
    model = build(impl, 2, True, residual=res).eval()
    plain = build(impl, 2, True, residual=res, p=0.0)
    assert set(model.state_dict()) == set(plain.state_dict())
    assert "rnn.weight_hh_l1_reverse" in model.state_dict()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    x = inputs()
    other_impl = "cells" if impl == "fused" else "fused"
    for target in (build(impl, 2, True, res, seed=9), plain, build(other_impl, 2, True, res, seed=9)):
        target.load_state_dict(saved)  # strict: same config, weight drop off, the other impl
        torch.testing.assert_close(target.eval()(x)[0], model(x)[0])
    back = build(impl, 2, True, res, seed=9).eval()
    back.load_state_dict(plain.state_dict())  # a checkpoint without weight drop loads into one with it
    torch.testing.assert_close(back(x)[0], plain(x)[0])
    assert not any("parametrizations" in k for k in model.rnn.state_dict())


def test_parametrize_keys_load_too():
    """A state_dict in parametrize's own layout (``parametrizations.weight_hh_l0.original``) loads as well."""
    model = build("fused", 1, False).eval()
    raw = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert "rnn.parametrizations.weight_hh_l0.original" in raw
    other = build("fused", 1, False, seed=4).eval()
    other.load_state_dict(raw)
    torch.testing.assert_close(other(inputs())[0], model(inputs())[0])


def test_no_warnings_on_cpu():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for impl in ("fused", "cells"):
            for residual in (False, True):
                model = build(impl, 2, True, residual)
                for mode in (True, False):
                    model.train(mode)
                    out, _ = model(inputs(), lengths=torch.tensor([7, 5, 2]))
                    out, _ = model(inputs())
                out.sum().backward()


@pytest.mark.parametrize("impl", ["fused", "cells"])
def test_no_dropped_tensor_outlives_a_call(impl):
    """After a training call the model holds no graph: it deep-copies, and the copy computes the same in eval."""
    model = build(impl, 2, True, residual=True).train()
    model(inputs())[0].sum().backward()
    twin = copy.deepcopy(model).eval()
    torch.testing.assert_close(twin(inputs())[0], model.eval()(inputs())[0])


def test_config_key_is_checked():
    from seqlab.errors import ConfigError

    with pytest.raises(ConfigError, match="model.weight_drop"):
        build("fused", 1, False, p=1.0)
    cfg = compose_config(["model=gru", "model.weight_drop=0.3"])
    assert cfg.model.weight_drop == 0.3


def test_weight_dropped_checkpoint_of_a_run_loads(tmp_path, tiny_corpus, one_thread):
    """A charlm run with weight drop saves checkpoints that load back (weights_only) into the same config."""
    from seqlab.checkpoint import load_module
    from seqlab.run.job import run

    cfg = compose_config(
        [
            "model=lstm",
            "model.hidden_size=8",
            "model.num_layers=2",
            "model.weight_drop=0.5",
            "task=charlm",
            f"task.data.path={tiny_corpus}",
            "task.batch_size=2",
            "task.seq_len=8",
            "task.embedding_dim=4",
            "task.sample.every_n_val=0",
            "trainer.max_steps=2",
            "trainer.val_check_interval=2",
            "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "logger=none",
        ]
    )
    results = run(cfg, tmp_path / "run")
    module = load_module(results["last_checkpoint"])
    assert module.encoder.weight_drop == 0.5 and not module.training
    ids = torch.randint(0, len(module.hparams["vocab"]), (1, 6))
    torch.testing.assert_close(module(ids)[0], module(ids)[0])
