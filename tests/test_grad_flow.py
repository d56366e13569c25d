"""The gradient-flow recorder against BPTT done by hand, the callback's files and its exploding-gradient report."""

from __future__ import annotations

import json
import logging

import pytest
import pytorch_lightning as pl
import torch
from conftest import compose_config

from seqlab import registry
from seqlab.data.synthetic import adding_data
from seqlab.training.grad_flow import GradFlowCallback, _log_image, layer_of, record_grad_flow
from seqlab.training.trainer import configured_callbacks

SMALL = [
    "model.num_layers=1",
    "task.batch_size=4",
    "task.data.train_size=16",
    "task.data.val_size=4",
    "task.data.test_size=4",
]


def adding_module(model: str, seq_len: int, hidden: int, extra: list[str] | None = None):
    cfg = compose_config(
        [
            "task=adding",
            f"task.seq_len={seq_len}",
            f"model={model}",
            f"model.hidden_size={hidden}",
            *SMALL,
            *(extra or []),
        ]
    )
    return registry.get_task("adding").build(cfg)


def test_recorder_matches_hand_computed_bptt_on_a_tiny_rnn():
    torch.manual_seed(0)
    module, _ = adding_module("rnn", seq_len=6, hidden=3)
    x, y = adding_data(2, 6, seed=5)
    rnn, head = module.encoder.rnn, module.head
    for p in module.parameters():
        p.grad = torch.full_like(p, 7.0)  # training gradients that must survive the measurement
    flow = record_grad_flow(module, (x, y))
    with torch.no_grad():  # forward by hand: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        w_ih, w_hh, b = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0 + rnn.bias_hh_l0
        hs, h = [], torch.zeros(2, 3)
        for t in range(6):
            h = torch.tanh(x[:, t] @ w_ih.T + h @ w_hh.T + b)
            hs.append(h)
        pred = hs[-1] @ head.weight.T + head.bias
        # by hand: L = mean (pred - y)^2, dL/dh_T = 2 (pred - y) / B * w, dL/dh_{t-1} = W_hh^T (1 - h_t^2) dL/dh_t
        grad = 2 * (pred.squeeze(-1) - y)[:, None] / 2 * head.weight
        expected = [0.0] * 6
        for t in range(5, -1, -1):
            expected[t] = float(grad.norm())
            grad = (grad * (1 - hs[t] ** 2)) @ w_hh
    torch.testing.assert_close(torch.tensor(flow.time_norms), torch.tensor(expected), rtol=1e-5, atol=1e-9)
    assert flow.time_norms[0] < flow.time_norms[-1]
    assert set(flow.layer_norms) == {"encoder.rnn.l0", "head"}
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in module.parameters())


def test_every_layer_of_a_stack_matches_hand_computed_bptt():
    """Two tanh layers: dL/dh_t^0 gets W_ih^1 from the layer above at t plus W_hh^0 from step t+1."""
    torch.manual_seed(0)
    module, _ = adding_module("rnn", seq_len=5, hidden=3, extra=["model.num_layers=2"])
    x, y = adding_data(2, 5, seed=5)
    flow = record_grad_flow(module, (x, y))
    rnn, head = module.encoder.rnn, module.head
    hs = {0: [], 1: []}
    h = [torch.zeros(2, 3), torch.zeros(2, 3)]
    for t in range(5):  # the textbook recurrence, layer by layer, every h_t^l kept
        inp = x[:, t]
        for layer in (0, 1):
            w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
            b = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
            h[layer] = torch.tanh(inp @ w_ih.T + h[layer] @ w_hh.T + b)
            h[layer].retain_grad()
            hs[layer].append(h[layer])
            inp = h[layer]
    loss = ((hs[1][-1] @ head.weight.T + head.bias).squeeze(-1) - y).pow(2).mean()
    loss.backward()
    for layer in (0, 1):
        expected = torch.tensor([float(v.grad.norm()) for v in hs[layer]])
        torch.testing.assert_close(torch.tensor(flow.layer_time_norms[f"l{layer}"]), expected, rtol=1e-5, atol=1e-9)
    assert flow.time_norms == flow.layer_time_norms["l1"]
    assert flow.loss == pytest.approx(float(loss), rel=1e-6)


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_layerwise_stepping_computes_what_the_fused_stack_computes(model):
    torch.manual_seed(0)
    module, _ = adding_module(model, seq_len=7, hidden=4, extra=["model.num_layers=3"])
    batch = adding_data(3, 7, seed=2)
    flow = record_grad_flow(module, batch)
    assert flow.loss == pytest.approx(float(module.whole_batch_loss(batch).loss), rel=1e-6)
    assert sorted(flow.layer_time_norms) == ["l0", "l1", "l2"]
    assert all(len(v) == 7 and all(n > 0 for n in v) for v in flow.layer_time_norms.values())


@pytest.mark.parametrize("extra", [["model.num_layers=2"], ["model.impl=cells"]])
def test_recorder_leaves_the_encoders_forward_alone(extra):
    """The encoder steps through its public ``recording_steps``: its forward is never replaced, even meanwhile."""
    torch.manual_seed(0)
    module, _ = adding_module("lstm", seq_len=4, hidden=3, extra=extra)
    batch = adding_data(2, 4, seed=1)
    encoder, original = module.encoder, module.whole_batch_loss
    with torch.no_grad():
        expected = float(original(batch).loss)
    seen = []

    def whole_batch_loss(b):
        seen.append(("forward" in vars(encoder), encoder.forward.__func__ is type(encoder).forward))
        assert encoder._step_record is not None  # the loss is computed while the encoder records its steps
        return original(b)

    module.whole_batch_loss = whole_batch_loss
    flow = record_grad_flow(module, batch)
    assert seen == [(False, True)]
    assert "forward" not in vars(encoder) and encoder._step_record is None
    assert flow.loss == pytest.approx(expected, rel=1e-6)
    assert len(flow.time_norms) == 4


def test_lstm_gradient_decays_slower_than_tanh_rnn():
    """With the usual forget-gate bias of 1 (f ~ 0.73) the LSTM's cell path keeps dL/dh_t far flatter than a tanh
    RNN's at initialization; with bias 0 (f ~ 0.5, PyTorch's default) it would decay like 0.5^(T-t)."""
    ratios = {}
    for model in ("rnn", "lstm"):
        torch.manual_seed(0)
        module, _ = adding_module(model, seq_len=40, hidden=32, extra=["model.forget_bias=1.0"] * (model == "lstm"))
        flow = record_grad_flow(module, adding_data(16, 40, seed=3))
        ratios[model] = flow.time_norms[0] / flow.time_norms[-1]
    assert ratios["rnn"] < 1e-6
    assert ratios["lstm"] > 100 * ratios["rnn"]


def test_layer_names():
    assert layer_of("encoder.rnn.weight_hh_l1_reverse") == "encoder.rnn.l1_reverse"
    assert layer_of("encoder.rnn.bias_ih_l0") == "encoder.rnn.l0"
    assert layer_of("head.weight") == "head"


def test_callback_writes_plots_and_reports_exploding_gradients(tmp_path, caplog):
    torch.manual_seed(0)
    module, data = adding_module("rnn", seq_len=8, hidden=4)
    callback = GradFlowCallback(run_dir=str(tmp_path), every_n_steps=2, explode_threshold=1e-9)
    trainer = pl.Trainer(
        max_steps=4,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
        accelerator="cpu",
    )
    with caplog.at_level(logging.WARNING, logger="seqlab.training.grad_flow"):
        trainer.fit(module, datamodule=data)
    names = sorted(p.name for p in (tmp_path / "grad_flow").iterdir())
    assert names == [f"step_{s:06d}.{ext}" for s in (1, 2, 4) for ext in ("json", "png")]
    record = json.loads((tmp_path / "grad_flow" / "step_000004.json").read_text())
    assert len(record["time_norms"]) == 8 and record["step"] == 4
    assert (tmp_path / "grad_flow" / "step_000004.png").read_bytes()[:4] == b"\x89PNG"
    assert {step for step, _, _ in callback.alerts} == {0, 1, 2, 3}
    assert "encoder.rnn.weight_hh_l0" in {name for _, name, _ in callback.alerts}
    assert any("exploding gradient at step 3 in encoder.rnn.weight_hh_l0" in r.getMessage() for r in caplog.records)


def test_callback_from_config_group(tmp_path):
    cfg = compose_config(["callbacks=grad_flow", "callbacks.grad_flow.every_n_steps=7"])
    (callback,) = configured_callbacks(cfg, tmp_path)
    assert isinstance(callback, GradFlowCallback)
    assert callback.every_n_steps == 7 and callback.out_dir == tmp_path / "grad_flow"


def test_image_goes_to_wandb_logger(tmp_path):
    from pytorch_lightning.loggers import CSVLogger, WandbLogger

    logged = []
    wandb_logger = WandbLogger.__new__(WandbLogger)
    wandb_logger.log_image = lambda **kw: logged.append(kw)

    class FakeTrainer:
        loggers = [CSVLogger(str(tmp_path)), wandb_logger]

    _log_image(FakeTrainer(), tmp_path / "a.png", 5)
    assert logged == [{"key": "grad_flow", "images": [str(tmp_path / "a.png")], "step": 5}]
