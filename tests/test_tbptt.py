"""Truncated BPTT: chunking, detached states, optimizer steps per chunk, accumulation, clipping, schedules."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from conftest import compose_config

from seqlab import registry
from seqlab.models.base import detach_state
from seqlab.training.tbptt import split_time

# copy: delay 6 + 2 * length 2 = 10 steps per sequence
SMALL = [
    "model.hidden_size=8",
    "model.num_layers=1",
    "task.batch_size=4",
    "task.data.train_size=8",
    "task.data.val_size=4",
    "task.data.test_size=4",
    "optimizer.clip_grad_norm=null",
]
COPY = ["task=copy", "task.delay=6", "task.length=2", "task.vocab=3", *SMALL]


def build(overrides: list[str]):
    cfg = compose_config(overrides)
    return registry.get_task(cfg.task.name).build(cfg)


def fit(module: pl.LightningModule, data: pl.LightningDataModule, batches: int = 2) -> pl.Trainer:
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=batches,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=data)
    return trainer


def test_split_time_uneven_last_chunk_and_repeats_untimed_tensors():
    x, y, lengths = torch.randn(2, 10, 3), torch.randn(2, 10), torch.tensor([10, 7])
    chunks = split_time((x, y, lengths), 4)
    assert [c[0].size(1) for c in chunks] == [4, 4, 2]
    assert torch.equal(torch.cat([c[0] for c in chunks], dim=1), x)
    assert torch.equal(torch.cat([c[1] for c in chunks], dim=1), y)
    assert all(c[2] is lengths for c in chunks)
    assert split_time((x, y), None)[0][0] is x


@pytest.mark.parametrize("model", ["gru", "lstm"])
def test_state_is_carried_detached_across_chunks(model):
    module, data = build([*COPY, f"model={model}", "task.tbptt_steps=4"])
    seen = []
    original = module.train_chunk

    def spy(chunk, state):
        seen.append(state)
        return original(chunk, state)

    module.train_chunk = spy
    fit(module, data, batches=1)
    assert seen[0] is None and len(seen) == 3
    for state in seen[1:]:
        parts = state if isinstance(state, tuple) else (state,)
        assert isinstance(state, tuple) == (model == "lstm")
        assert all(isinstance(p, torch.Tensor) and p.grad_fn is None and not p.requires_grad for p in parts)
    assert detach_state(None) is None


@pytest.mark.parametrize(
    "extra, steps_per_batch",
    [
        (["task.tbptt_steps=4"], 3),
        (["task.tbptt_steps=3"], 4),
        (["task.tbptt_steps=null"], 1),
        (["task.tbptt_steps=4", "task.tbptt_accumulate=true"], 1),
    ],
)
def test_optimizer_and_schedule_step_per_chunk(extra, steps_per_batch):
    module, data = build([*COPY, "model=gru", "optimizer.schedule=linear", *extra])
    trainer = fit(module, data, batches=2)
    assert trainer.global_step == 2 * steps_per_batch
    assert module.lr_schedulers().last_epoch == 2 * steps_per_batch
    assert module.chunks_per_batch() == steps_per_batch


def test_many_to_one_steps_once_per_batch():
    module, data = build(["task=adding", "task.seq_len=10", "task.tbptt_steps=3", "model=rnn", *SMALL])
    assert fit(module, data, batches=2).global_step == 2


def _sgd_delta(overrides: list[str]) -> torch.Tensor:
    """Parameter change of one SGD(lr=1) step on the first batch: -gradient (after clipping)."""
    torch.manual_seed(0)
    module, data = build(
        [
            *COPY,
            "model=lstm",
            "optimizer=sgd",
            "optimizer.lr=1.0",
            "optimizer.momentum=0.0",
            "optimizer.weight_decay=0.0",
            *overrides,
        ]
    )
    before = torch.cat([p.detach().flatten().clone() for p in module.parameters()])
    torch.manual_seed(1)
    fit(module, data, batches=1)
    return torch.cat([p.detach().flatten() for p in module.parameters()]) - before


def test_full_bptt_equals_one_chunk_and_accumulation_with_full_chunks():
    full = _sgd_delta(["task.tbptt_steps=null"])
    assert full.abs().sum() > 0
    torch.testing.assert_close(_sgd_delta(["task.tbptt_steps=10"]), full)
    torch.testing.assert_close(_sgd_delta(["task.tbptt_steps=10", "task.tbptt_accumulate=true"]), full)
    assert not torch.allclose(_sgd_delta(["task.tbptt_steps=4"]), full)


def test_accumulated_gradient_is_count_weighted_mean_of_chunks():
    torch.manual_seed(0)
    module, data = build([*COPY, "model=gru", "task.tbptt_steps=4"])
    x, y, mask = next(iter(data.train_dataloader()))
    module.zero_grad()
    state, count = None, 0
    for xc, yc in zip(x.split(4, dim=1), y.split(4, dim=1)):
        logits, state = module(xc, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), yc.reshape(-1), reduction="sum")
        loss.backward()
        state, count = state.detach(), count + yc.numel()
    expected = [p.grad.clone() / count for p in module.parameters()]
    module.zero_grad()
    module.tbptt_accumulate = True
    captured = []
    module.clip_and_step = lambda opt, sched: captured.extend(p.grad.clone() for p in module.parameters())
    module.optimizers = lambda: torch.optim.SGD(module.parameters(), lr=0.0)
    module.lr_schedulers = lambda: None
    module.log = lambda *a, **k: None
    module.manual_backward = lambda loss: loss.backward()
    module.training_step((x, y, mask), 0)
    for got, want in zip(captured, expected):
        torch.testing.assert_close(got, want)


def test_clipping_by_norm_and_value_under_manual_optimization():
    free = _sgd_delta(["task.tbptt_steps=null"])
    by_norm = _sgd_delta(["task.tbptt_steps=null", "optimizer.clip_grad_norm=0.001"])
    by_value = _sgd_delta(["task.tbptt_steps=null", "optimizer.clip_grad_value=0.0001"])
    assert free.norm() > 0.01
    assert by_norm.norm() == pytest.approx(0.001, rel=1e-3)
    assert by_value.abs().max() == pytest.approx(0.0001, rel=1e-4)


def test_tbptt_steps_out_of_range_is_a_config_error():
    from seqlab.config.validate import validate
    from seqlab.errors import ConfigError

    with pytest.raises(ConfigError, match="task.tbptt_steps"):
        validate(compose_config([*COPY, "task.tbptt_steps=11"]))
