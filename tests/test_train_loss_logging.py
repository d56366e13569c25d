"""train/loss reaches Lightning's ``self.log`` only when something reads it (seqlab/training/log_steps.py), and
every reader still sees the loss of the batch it is about: the loggers at their steps, a run stopped between them,
a callback monitoring it, the progress line, and results.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
from conftest import compose_config

from seqlab.run.job import run
from seqlab.training.tbptt import TRAIN_LOSS, TBPTTModule
from seqlab.training.trainer import build_trainer

# the copy task: 10 training batches of 4 sequences, no validation
COPY = [
    "task=copy",
    "task.delay=6",
    "task.length=2",
    "task.vocab=3",
    "model.hidden_size=8",
    "model.num_layers=1",
    "task.batch_size=4",
    "task.data.train_size=40",
    "task.data.val_size=4",
    "task.data.test_size=4",
    "trainer.max_epochs=1",
    "trainer.limit_val_batches=0",
    "trainer.log_every_n_steps=3",
    "trainer.enable_progress_bar=false",
    "logger=csv",
    "test=false",
]


class Recorder(pl.Callback):
    """Each batch's ``train_loss``, what ``callback_metrics`` held after it, and a stop at ``stop_at``."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.losses: list[float] = []
        self.seen: list[float | None] = []
        self.stop_at = stop_at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(pl_module.train_loss)
        value = trainer.callback_metrics.get(TRAIN_LOSS)
        self.seen.append(None if value is None else float(value))
        if batch_idx == self.stop_at:
            trainer.should_stop = True


def logged_losses(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return {int(row["step"]): float(row[TRAIN_LOSS]) for row in csv.DictReader(f) if row.get(TRAIN_LOSS)}


def fit(tmp_path: Path, overrides: list[str], recorder: Recorder, monkeypatch) -> list[int]:
    """Fit the copy task; the batch indices at which the module handed train/loss to ``self.log``."""
    from seqlab import registry

    calls: list[int] = []
    log = TBPTTModule.log

    def counting_log(self, name: str, *args: Any, **kwargs: Any) -> None:
        if name == TRAIN_LOSS:
            calls.append(len(recorder.losses) - (0 if self._train_loss_every_step else 1))
        log(self, name, *args, **kwargs)

    monkeypatch.setattr(TBPTTModule, "log", counting_log)
    cfg = compose_config([*COPY, *overrides])
    pl.seed_everything(0, verbose=False)
    module, data = registry.get_task(cfg.task.name).build(cfg)
    trainer = build_trainer(cfg, tmp_path, extra_callbacks=[recorder])
    trainer.fit(module, datamodule=data)
    return calls


def test_the_loggers_get_each_batchs_own_loss_and_only_those_batches_are_logged(tmp_path, monkeypatch, one_thread):
    recorder = Recorder()
    calls = fit(tmp_path, [], recorder, monkeypatch)
    assert len(recorder.losses) == 10
    assert calls == [2, 5, 8]  # every third batch: the ones Lightning writes (log_every_n_steps=3)
    assert logged_losses(tmp_path) == {step: pytest.approx(recorder.losses[step]) for step in (2, 5, 8)}


def test_a_run_stopped_between_logging_steps_writes_the_loss_of_the_batch_it_stopped_at(
    tmp_path, monkeypatch, one_thread
):
    recorder = Recorder(stop_at=3)
    calls = fit(tmp_path, [], recorder, monkeypatch)
    assert len(recorder.losses) == 4 and calls == [2, 3]
    logged = logged_losses(tmp_path)
    assert logged == {2: pytest.approx(recorder.losses[2]), 3: pytest.approx(recorder.losses[3])}
    assert recorder.losses[3] != recorder.losses[2]


def test_a_callback_monitoring_train_loss_reads_every_batchs_loss(tmp_path, monkeypatch, one_thread):
    recorder = Recorder()
    calls = fit(tmp_path, ["checkpoint.monitor=train/loss"], recorder, monkeypatch)
    assert calls == list(range(10))
    assert recorder.seen == pytest.approx(recorder.losses)
    assert len(set(recorder.losses)) > 1
    assert logged_losses(tmp_path) == {step: pytest.approx(recorder.losses[step]) for step in (2, 5, 8)}


def test_results_json_holds_the_last_batchs_loss_though_no_logger_wrote_it(tmp_path, monkeypatch, one_thread):
    last: list[float] = []
    end = TBPTTModule.on_train_batch_end

    def remember(self, outputs, batch, batch_idx) -> None:
        last[:] = [self.train_loss]
        end(self, outputs, batch, batch_idx)

    monkeypatch.setattr(TBPTTModule, "on_train_batch_end", remember)
    run(compose_config(COPY), tmp_path / "run")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert 9 not in logged_losses(tmp_path / "run")  # the 10th batch is not a logging step
    assert results[TRAIN_LOSS] == pytest.approx(last[0])


def test_the_progress_line_shows_the_latest_batchs_loss_not_the_last_logged_one():
    from types import SimpleNamespace

    from seqlab.training.progress import ProgressLog

    trainer = SimpleNamespace(
        global_step=7,
        max_steps=10,
        current_epoch=0,
        callback_metrics={TRAIN_LOSS: 9.0},  # logged at an earlier batch
        callbacks=[],
        world_size=1,
        num_training_batches=10,
        max_epochs=1,
    )
    line = ProgressLog().train_line(trainer, SimpleNamespace(train_loss=1.25), batches_done=7, now=3.0)
    assert "step 7/10" in line and "loss 1.2500" in line and "9.0" not in line
    plugin_module = SimpleNamespace()  # a LightningModule of its own that logs train/loss itself
    assert "loss 9.0000" in ProgressLog().train_line(trainer, plugin_module, batches_done=7, now=3.0)
