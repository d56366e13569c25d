"""optimizer=asgd and optimizer=ntasgd (seqlab/training/ntasgd.py): NT-ASGD's switch on val/loss, SGD steps with a
running average after it, and the averages as what validation, test and checkpoints see; a resumed fit continues
from the raw iterate."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from conftest import compose_config
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seqlab.training.ntasgd import KEY, NTASGD, AveragedEvaluation, averaged_parameters
from seqlab.training.optim import build_optimizer, optimizer_callbacks


def test_asgd_builds_steps_and_brings_the_averaging_callback():
    cfg = compose_config(["optimizer=asgd"])
    layer = nn.Linear(3, 2)
    opt = build_optimizer(layer.parameters(), cfg.optimizer)
    assert isinstance(opt, torch.optim.ASGD)
    assert opt.defaults["t0"] == 0 and opt.defaults["lambd"] == 0
    assert averaged_parameters(opt) == {}
    before = layer.weight.detach().clone()
    layer(torch.randn(4, 3)).pow(2).sum().backward()
    opt.step()
    assert not torch.equal(layer.weight, before)
    assert set(averaged_parameters(opt)) == {layer.weight, layer.bias}
    assert [type(c) for c in optimizer_callbacks(cfg.optimizer)] == [AveragedEvaluation]
    assert optimizer_callbacks(compose_config(["optimizer=adam"]).optimizer) == []


def test_ntasgd_switches_after_nonmono_validations_without_improvement():
    """As AWD-LSTM: validation k switches when L_k > min(L_0 .. L_{k-1-nonmono}); improving losses never do."""
    opt = NTASGD([nn.Parameter(torch.zeros(1))], lr=0.1, nonmono=2)
    assert not any(opt.observe(x) for x in (5.0, 4.0, 3.0, 2.0, 1.0, 0.5))
    opt = NTASGD([nn.Parameter(torch.zeros(1))], lr=0.1, nonmono=2)
    switched = [opt.observe(x) for x in (5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 9.0)]
    # 3.5 and 3.6 do not beat 3.0 but are compared with 5.0 and 4.0 only; 3.7 is worse than 3.0 two back: switch
    assert switched == [False, False, False, False, False, True, False]
    assert opt.averaging and opt.switched_at == 6
    with pytest.raises(ValueError, match="nonmono"):
        NTASGD([nn.Parameter(torch.zeros(1))], nonmono=0)
    cfg = compose_config(["optimizer=ntasgd", "optimizer.nonmono=3"])
    built = build_optimizer([nn.Parameter(torch.zeros(1))], cfg.optimizer)
    assert isinstance(built, NTASGD) and built.nonmono == 3
    assert [type(c) for c in optimizer_callbacks(cfg.optimizer)] == [AveragedEvaluation]


def test_ntasgd_steps_are_sgd_steps_and_average_the_iterates_after_the_switch():
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    nt = NTASGD(a.parameters(), lr=0.1, weight_decay=0.01, nonmono=1)
    sgd = torch.optim.SGD(b.parameters(), lr=0.1, weight_decay=0.01)
    iterates = []
    for step in range(8):
        if step == 3:
            nt.averaging = True  # as observe() does
        x = torch.randn(5, 3)
        for model, opt in ((a, nt), (b, sgd)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
        torch.testing.assert_close(a.weight, b.weight)
        if step >= 3:
            iterates.append(a.weight.detach().clone())
    torch.testing.assert_close(nt.averages()[a.weight], torch.stack(iterates).mean(0))
    saved = nt.state_dict()
    other = NTASGD(b.parameters(), lr=0.1, weight_decay=0.01, nonmono=1)
    other.load_state_dict(saved)
    assert other.averaging and torch.equal(other.averages()[b.weight], nt.averages()[a.weight])


class Toy(pl.LightningModule):
    """Linear regression under NT-ASGD; validation logs the given fake val/loss values and records the weights it
    evaluated; ``iterates`` are the weights after each optimizer step."""

    def __init__(self, fake_losses: list[float]) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(3, 1)
        self.fake = fake_losses
        self.iterates: list[torch.Tensor] = []
        self.evaluated: list[torch.Tensor] = []
        self.tested: list[torch.Tensor] = []
        self.start_weights: torch.Tensor | None = None
        gen = torch.Generator().manual_seed(1)
        self.x, self.y = torch.randn(64, 3, generator=gen), torch.randn(64, 1, generator=gen)

    def weights(self) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in self.parameters()]).clone()

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.layer(x), y)

    def on_train_start(self) -> None:
        self.start_weights = self.weights()

    def on_train_batch_end(self, *args) -> None:
        self.iterates.append(self.weights())

    def validation_step(self, batch, batch_idx):
        self.evaluated.append(self.weights())
        self.log("val/loss", self.fake[len(self.evaluated) - 1])

    def test_step(self, batch, batch_idx):
        self.tested.append(self.weights())

    def configure_optimizers(self):
        return NTASGD(self.parameters(), lr=0.05, nonmono=2)

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.x, self.y), batch_size=4)

    def val_dataloader(self):
        return DataLoader(TensorDataset(self.x[:4], self.y[:4]), batch_size=4)

    test_dataloader = val_dataloader


def trainer(max_steps: int, root) -> pl.Trainer:
    return pl.Trainer(
        max_steps=max_steps,
        val_check_interval=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[AveragedEvaluation()],
        accelerator="cpu",
        default_root_dir=str(root),
    )


def test_after_the_switch_validation_test_and_checkpoints_use_the_averages(tmp_path, one_thread):
    fake = [5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 3.8, 3.9]  # validation 5 switches (see the test above)
    model = Toy(fake)
    fit = trainer(16, tmp_path)
    fit.fit(model)
    opt = fit.optimizers[0]
    assert opt.averaging and opt.switched_at == 6
    # validation k runs after 2(k+1) steps; before and at the switch it saw the raw SGD iterate
    for k in range(6):
        torch.testing.assert_close(model.evaluated[k], model.iterates[2 * k + 1])
    # then the mean of the iterates since the switch (the steps after validation 5, the 12th step)
    torch.testing.assert_close(model.evaluated[6], torch.stack(model.iterates[12:14]).mean(0))
    torch.testing.assert_close(model.evaluated[7], torch.stack(model.iterates[12:16]).mean(0))
    raw = model.weights()
    torch.testing.assert_close(raw, model.iterates[-1])  # swapped back after validation
    average = torch.stack(model.iterates[12:16]).mean(0)

    fit.test(model)  # the in-memory weights: their average is tested
    torch.testing.assert_close(model.tested[0], average)
    torch.testing.assert_close(model.weights(), raw)

    path = tmp_path / "ntasgd.ckpt"
    fit.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)
    flat = torch.cat([saved["state_dict"][k].flatten() for k in ("layer.weight", "layer.bias")])
    torch.testing.assert_close(flat, average)  # what test, generate and predict load
    raw_saved = saved[KEY]["raw_state_dict"]
    torch.testing.assert_close(torch.cat([raw_saved[k].flatten() for k in ("layer.weight", "layer.bias")]), raw)
    torch.testing.assert_close(model.weights(), raw)  # saving left the weights as they were

    resumed = Toy(fake + [4.0] * 4)
    again = trainer(20, tmp_path)
    again.fit(resumed, ckpt_path=str(path), weights_only=True)
    torch.testing.assert_close(resumed.start_weights, raw)  # continues from the raw iterate, not the average
    opt = again.optimizers[0]
    assert opt.averaging and opt.history[:8] == pytest.approx(fake) and opt.switched_at == 6
    # the average goes on over all 20 - 12 steps since the switch
    full = torch.stack(model.iterates[12:16] + resumed.iterates).mean(0)
    torch.testing.assert_close(torch.cat([t.flatten() for t in opt.averages().values()]), full)
    again.test(resumed, ckpt_path=str(path), weights_only=True)  # as run.py tests the best checkpoint after fit
    torch.testing.assert_close(resumed.tested[0], average)  # the checkpoint's weights, not swapped again


@pytest.mark.parametrize("optimizer", ["asgd", "ntasgd"])
def test_a_charlm_run_with_an_averaging_optimizer(optimizer, tmp_path, tiny_corpus, one_thread):
    """The run wiring: the callback is in the Trainer; with ASGD (averaging from the start) the best checkpoint holds
    the averages of its optimizer state, the raw weights beside them."""
    from seqlab.run.job import run

    cfg = compose_config(
        [
            "task=charlm",
            "model=gru",
            "model.hidden_size=8",
            "model.num_layers=1",
            f"task.data.path={tiny_corpus}",
            "task.batch_size=2",
            "task.seq_len=8",
            "task.embedding_dim=4",
            "task.sample.every_n_val=0",
            f"optimizer={optimizer}",
            "optimizer.lr=0.5",
            "trainer.max_steps=4",
            "trainer.val_check_interval=2",
            "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "logger=none",
        ]
    )
    results = run(cfg, tmp_path / "run")
    assert results["optimizer_steps"] == 4 and results["test/loss"] > 0
    saved = torch.load(results["best_checkpoint"], weights_only=True)
    if optimizer == "ntasgd":  # two validations cannot trigger nonmono=5: plain SGD weights
        assert KEY not in saved
        return
    from seqlab.checkpoint import load_module

    module = load_module(results["best_checkpoint"])
    state = saved["optimizer_states"][0]["state"]
    for index, (name, _) in enumerate(module.named_parameters()):
        torch.testing.assert_close(saved["state_dict"][name], state[index]["ax"])
        assert not torch.equal(saved[KEY]["raw_state_dict"][name], state[index]["ax"])
