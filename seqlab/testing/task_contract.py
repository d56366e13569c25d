"""``TaskContract``: the task contract of seqlab/tasks/base.py as pytest tests.

Subclass it (class name starting with ``Test``), set ``task_name`` and, in ``overrides``, the settings that make the
task tiny (batch size, sequence length, data size). ``data_overrides(tmp_path)`` may write data files and return
the overrides that point at them. The run trains a few steps in-process through :func:`seqlab.run.job.run` (what the CLI
calls after composing) and must write results.json; ``test_cli_run`` (marked slow) goes through ``python -m seqlab``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from seqlab import registry
from seqlab.api import ConfigError, Task
from seqlab.checkpoint import load_module, read_checkpoint
from seqlab.config.validate import validate
from seqlab.testing.compose import USAGE, compose_run_config, option_file, usage_line

TRAINER = [
    "trainer.max_steps=4",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.val_check_interval=1.0",
    "trainer.check_val_every_n_epoch=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.log_every_n_steps=1",
    "logger=csv",
]


class TaskContract:
    """Registration, config checks, build, a few training steps, results.json and a checkpoint that reloads."""

    task_name: ClassVar[str] = ""
    model_name: ClassVar[str] = "lstm"
    model_overrides: ClassVar[Sequence[str]] = ("model.hidden_size=8", "model.num_layers=1")
    trainer_overrides: ClassVar[Sequence[str]] = tuple(TRAINER)
    overrides: ClassVar[Sequence[str]] = ()  # the task's tiny settings, e.g. ("task.batch_size=4",)
    expected_metrics: ClassVar[Sequence[str]] = ("val/loss", "test/loss")  # must be in results.json, finite

    def data_overrides(self, tmp_path: Path) -> list[str]:
        """Write data files under ``tmp_path`` if the task needs them; return the overrides pointing at them."""
        return []

    def run_overrides(self, tmp_path: Path, extra: Sequence[str] = ()) -> list[str]:
        return [
            f"task={self.task_name}",
            f"model={self.model_name}",
            *self.model_overrides,
            *self.trainer_overrides,
            *self.overrides,
            *self.data_overrides(tmp_path),
            *extra,
        ]

    def run_config(self, tmp_path: Path, extra: Sequence[str] = ()) -> DictConfig:
        return compose_run_config(self.run_overrides(tmp_path, extra))

    # ---- registration and config -----------------------------------------------------------------------------
    def test_registered_with_a_config_option(self) -> None:
        assert self.task_name, "set task_name on the contract subclass"
        assert self.task_name in registry.names("task")
        cls = registry.get_task(self.task_name)
        assert issubclass(cls, Task) and cls.name == self.task_name
        assert dataclasses.is_dataclass(cls.Config)
        assert issubclass(cls.module_class, pl.LightningModule)
        path = option_file("task", self.task_name)
        assert path is not None, f"no YAML file provides task={self.task_name}"
        assert usage_line(path, "task", self.task_name) is not None, (
            f"{path} must start with comment lines, one of them '# ... {USAGE} task={self.task_name} ...'"
        )

    def test_config_composes_and_validates(self, tmp_path: Path) -> None:
        cfg = self.run_config(tmp_path)
        assert cfg.task.name == self.task_name
        validate(cfg)

    def test_causal_task_rejects_a_bidirectional_model(self, tmp_path: Path) -> None:
        if not registry.get_task(self.task_name).causal:
            pytest.skip("the task is not causal")
        cfg = self.run_config(tmp_path, ["model.bidirectional=true"])
        with pytest.raises(ConfigError, match="bidirectional"):
            validate(cfg)

    def test_build_returns_module_and_data(self, tmp_path: Path) -> None:
        cfg = self.run_config(tmp_path)
        module, data = registry.get_task(self.task_name).build(cfg)
        assert isinstance(module, registry.get_task(self.task_name).module_class)
        assert isinstance(data, pl.LightningDataModule)
        assert sum(p.numel() for p in module.parameters()) > 0

    # ---- training --------------------------------------------------------------------------------------------
    def check_results(self, run_dir: Path) -> dict:
        """results.json holds the task, model, finite metrics and checkpoints that rebuild the module."""
        path = run_dir / "results.json"
        assert path.is_file(), f"no results.json in {run_dir}"
        results = json.loads(path.read_text())
        assert results["task"] == self.task_name and results["model"] == self.model_name
        assert results["optimizer_steps"] > 0
        for key in self.expected_metrics:
            assert key in results, f"results.json lacks {key}: {sorted(results)}"
            assert math.isfinite(results[key]), f"{key} = {results[key]}"
        written = [p for p in (results.get("best_checkpoint"), results.get("last_checkpoint")) if p]
        assert written and all(Path(p).is_file() for p in written), f"checkpoints in results.json: {written}"
        last = run_dir / "checkpoints" / "last.ckpt"
        assert last.is_file(), "no checkpoints/last.ckpt"
        module = load_module(run_dir)
        saved = read_checkpoint(last, "checkpoint")["state_dict"]
        for name, tensor in module.state_dict().items():
            assert torch.equal(tensor.cpu(), saved[name].cpu()), f"{name} differs after load_module"
        return results

    def test_trains_and_writes_results(self, tmp_path: Path) -> None:
        from seqlab.run.job import run

        cfg = self.run_config(tmp_path)
        run_dir = tmp_path / "run"
        results = run(cfg, run_dir)
        assert results["task"] == self.task_name
        self.check_results(run_dir)

    @pytest.mark.slow
    def test_cli_run(self, tmp_path: Path) -> None:
        """``python -m seqlab task=<it> ...`` exits 0 and writes results.json in the run folder."""
        run_dir = tmp_path / "cli_run"
        env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
        args = [*self.run_overrides(tmp_path), f"hydra.run.dir={run_dir}"]
        proc = subprocess.run(
            [sys.executable, "-m", "seqlab", *args], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        self.check_results(run_dir)
