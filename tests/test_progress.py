"""Progress without a terminal (log lines), the bar's epoch counter, Lightning's noise, the end-of-run table."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import TINY, compose_config, run_dirs

from seqlab.config.validate import validate
from seqlab.errors import ConfigError
from seqlab.run.summary import summary_table
from seqlab.training import progress
from seqlab.training.progress import ProgressLog, StepAwareRichProgressBar, progress_callbacks


@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
def test_a_run_writing_to_a_file_logs_progress_lines_and_ends_with_its_table(tmp_path, tiny_corpus):
    # max_steps=6 ends before the end-of-epoch validation: the final weights are validated after fit
    args = [
        f"task.data.path={tiny_corpus}",
        *TINY,
        "trainer.val_check_interval=50",
        "trainer.enable_progress_bar=true",
        "progress.every_n_steps=2",
        "progress.every_seconds=0",
    ]
    out = tmp_path / "out.txt"
    with out.open("w") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "seqlab", *args],
            cwd=tmp_path,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"},
            timeout=300,
        )
    text = out.read_text()
    assert proc.returncode == 0, text[-3000:]
    lines = [line for line in text.splitlines() if "[seqlab.progress]" in line]
    steps = [line for line in lines if " - step " in line]
    assert [line.split(" - step ")[1].split()[0] for line in steps] == ["2/6", "4/6", "6/6"], text[-3000:]
    assert all("loss " in line and "tokens/s" in line and "elapsed" in line and "remaining ~" in line for line in steps)
    assert any("validation at step 6: " in line and "val/loss" in line for line in lines)
    assert "Epoch 0" not in text  # no bar in a file
    for noise in ("litlogger", "LeafSpec", "IterableDataset", "could not find the monitored key", "💡"):
        assert noise not in text, noise
    (run_dir,) = run_dirs(tmp_path)
    table = text[text.index("seqlab: charlm / lstm finished") :]
    assert "metric" in table and "loss" in table and "bpc" in table and "tokens/s" in table
    assert f"run folder  ./{run_dir.relative_to(tmp_path)}" in table


def test_bar_on_a_terminal_lines_elsewhere(monkeypatch):
    cfg = compose_config()
    monkeypatch.setattr(progress, "stdout_is_terminal", lambda: False)
    callbacks, bar = progress_callbacks(cfg, bar_wanted=True)
    assert bar is False and [type(c) for c in callbacks] == [ProgressLog]
    assert progress_callbacks(compose_config(["progress.every_n_steps=0", "progress.every_seconds=0"]), True) == (
        [],
        False,
    )
    monkeypatch.setattr(progress, "stdout_is_terminal", lambda: True)
    callbacks, bar = progress_callbacks(cfg, bar_wanted=True)
    assert bar is True and len(callbacks) <= 1
    callbacks, bar = progress_callbacks(cfg, bar_wanted=False)  # bar turned off on a terminal: lines
    assert bar is False and [type(c) for c in callbacks] == [ProgressLog]


@pytest.mark.parametrize(("max_steps", "description"), [(30, "Epoch 0"), (-1, "Epoch 0/9")])
def test_the_bar_claims_no_epoch_total_when_max_steps_ends_the_run(max_steps, description):
    pytest.importorskip("rich")
    bar = StepAwareRichProgressBar()
    bar._trainer = SimpleNamespace(max_steps=max_steps, max_epochs=10)
    assert bar._get_train_description(0).strip() == description


def test_remaining_time_comes_from_the_bound_that_ends_the_run_first():
    log = ProgressLog()
    log._first_step, log._first_batch = 0, 0
    trainer = SimpleNamespace(max_steps=100, global_step=25, max_epochs=10, num_training_batches=50, callbacks=[])
    assert log.remaining(trainer, batches_done=25, elapsed=10.0) == pytest.approx(30.0)  # steps first
    trainer.max_steps = -1
    assert log.remaining(trainer, batches_done=25, elapsed=10.0) == pytest.approx(190.0)  # 500 batches in all


@pytest.mark.parametrize("override", ["progress.every_n_steps=-1", "progress.every_seconds=soon"])
def test_bad_progress_settings_are_one_config_error(override):
    with pytest.raises(ConfigError, match=rf"^{override.split('=')[0]}: must be a number >= 0"):
        validate(compose_config([override]))


def test_summary_table_lists_val_and_test_metrics_and_the_facts():
    results = {
        "val/loss": 1.23456,
        "val/bpc": 1.781,
        "test/loss": 1.3,
        "train/loss": 9.0,
        "optimizer_steps": 30,
        "tokens_per_second": 14900.4,
        "wall_seconds": 83.2,
        "run_dir": "/elsewhere/run",
        "task": "charlm",
        "model": "lstm",
    }
    table = summary_table(results)
    assert table.splitlines()[0] == "seqlab: charlm / lstm finished"
    assert "metric    val  test" in table and "loss    1.235   1.3" in table and "bpc     1.781     -" in table
    assert "train/loss" not in table and "9.0" not in table
    assert "tokens/s    14,900" in table and "wall time   1m23.2s" in table and "run folder  /elsewhere/run" in table
