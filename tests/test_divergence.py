"""A non-finite loss stops training with one line, exit code 2, and the last good checkpoint intact."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import compose_config, run_cli, run_dirs, run_inprocess

from seqlab.errors import TrainingDiverged

FAIL_AT = 4  # the adding module returns a NaN loss from this optimizer step on


def nan_from_fail_at(original):
    def train_chunk(self, chunk, state):
        result = original(self, chunk, state)
        if result.loss is not None and self.global_step >= FAIL_AT:
            result.loss = result.loss * float("nan")
        return result

    return train_chunk


ARGS = [
    "task=adding",
    "task.seq_len=8",
    "model=gru",
    "model.hidden_size=8",
    "model.num_layers=1",
    "task.batch_size=4",
    "task.data.train_size=64",
    "task.data.val_size=8",
    "task.data.test_size=8",
    "trainer.max_steps=10",
    "trainer.val_check_interval=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
]


def test_cli_prints_one_line_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from seqlab.tasks.sequence_module import SequenceModule

    monkeypatch.setattr(SequenceModule, "train_chunk", nan_from_fail_at(SequenceModule.train_chunk))
    proc = run_inprocess(ARGS, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("seqlab: error:")]
    assert len(errors) == 1 and "non-finite loss" in errors[0] and "at step 4" in errors[0]
    assert "Traceback" not in proc.stderr
    (run_dir,) = run_dirs(tmp_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=True)
    assert saved["global_step"] == 4
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())
    from seqlab.checkpoint import load_module

    module = load_module(last)
    assert math.isfinite(float(module.head.weight.detach().sum()))
    failed = json.loads((run_dir / "failed.json").read_text())
    assert failed["step"] == 4 and "non-finite loss" in failed["error"]
    assert Path(failed["last_checkpoint"]) == last.absolute()


@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
def test_an_overflowing_optimizer_step_is_divergence_not_a_traceback(tmp_path):
    """A process of its own: a run that fails in training exits 2 with no traceback."""
    proc = run_cli([*ARGS, "optimizer.lr=1e38"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("seqlab: error:")]
    assert len(errors) == 1 and "overflowed at step 0" in errors[0] and "optimizer.lr" in errors[0]
    (run_dir,) = run_dirs(tmp_path)
    failed = json.loads((run_dir / "failed.json").read_text())
    assert failed["step"] == 0 and failed["last_checkpoint"] is None


def test_module_raises_before_backward():
    from seqlab import registry

    cfg = compose_config(ARGS[:9])
    module, _ = registry.get_task("adding").build(cfg)
    with pytest.raises(TrainingDiverged, match="non-finite loss"):
        module._check_finite(torch.tensor(float("inf")))
    module._check_finite(torch.tensor(1.0))
