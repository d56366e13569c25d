"""The ``budget`` config group: the default run of the main job is short and validates often; ``budget=long`` and
command-line ``trainer.*`` keys lift or replace the cap; other tasks keep their own epochs."""

from __future__ import annotations

import pytest

from seqlab.testing.compose import compose_run_config


def _trainer(cfg) -> dict:
    keys = ("max_epochs", "max_steps", "val_check_interval", "check_val_every_n_epoch")
    return {key: cfg.trainer[key] for key in keys}


def test_default_budget_caps_the_main_job_and_validates_often():
    cfg = compose_run_config(["model=lstm", "task=charlm"])
    trainer = _trainer(cfg)
    assert trainer["max_steps"] == 5000
    assert trainer["val_check_interval"] == 500
    assert trainer["check_val_every_n_epoch"] is None  # the interval counts batches across epochs
    assert trainer["max_steps"] % trainer["val_check_interval"] == 0  # the final weights are validated
    assert (cfg.task.batch_size, cfg.task.seq_len, cfg.task.tbptt_steps) == (32, 50, None)  # one step per batch
    assert (cfg.optimizer.lr, cfg.optimizer.schedule, cfg.optimizer.warmup_steps) == (0.004, "cosine", 50)
    assert compose_run_config([]).trainer.max_steps == 5000  # the default task is charlm


@pytest.mark.parametrize(("optimizer", "lr"), [("adam", 0.004), ("adamw", 0.002), ("sgd", 1.0)])
def test_the_budget_sets_the_learning_rate_of_adam_only(optimizer, lr):
    cfg = compose_run_config(["task=charlm", f"optimizer={optimizer}"])
    assert cfg.optimizer.lr == lr
    assert cfg.optimizer.schedule == "cosine" and cfg.trainer.max_steps == 5000


def test_budget_long_lifts_the_cap():
    cfg = compose_run_config(["model=lstm", "task=charlm", "budget=long"])
    assert _trainer(cfg) == {"max_epochs": 10, "max_steps": -1, "val_check_interval": 1.0, "check_val_every_n_epoch": 1}
    assert (cfg.task.batch_size, cfg.task.seq_len) == (64, 100)
    assert (cfg.optimizer.lr, cfg.optimizer.schedule, cfg.optimizer.warmup_steps) == (0.002, "constant", 0)


@pytest.mark.parametrize("budget", ["quick", "long"])
def test_command_line_trainer_keys_win_over_the_budget(budget):
    cfg = compose_run_config(
        [
            "task=charlm",
            f"budget={budget}",
            "trainer.max_steps=123",
            "trainer.val_check_interval=41",
            "optimizer.schedule=linear",
            "task.seq_len=64",
            "optimizer.lr=0.01",
        ]
    )
    assert cfg.trainer.max_steps == 123
    assert cfg.trainer.val_check_interval == 41
    assert cfg.optimizer.schedule == "linear"
    assert cfg.task.seq_len == 64
    assert cfg.optimizer.lr == 0.01


def test_max_time_and_epochs_from_the_command_line():
    cfg = compose_run_config(["budget=long", "trainer.max_epochs=20", "trainer.max_time=00:00:30:00"])
    assert cfg.trainer.max_epochs == 20 and cfg.trainer.max_steps == -1
    assert cfg.trainer.max_time == "00:00:30:00"


@pytest.mark.parametrize("task", ["copy", "adding", "seqdigits", "sentiment", "forecast", "forecast_co2"])
def test_other_tasks_keep_their_epochs(task):
    quick = compose_run_config([f"task={task}"])
    long = compose_run_config([f"task={task}", "budget=long"])
    assert (
        _trainer(quick)
        == _trainer(long)
        == {"max_epochs": 10, "max_steps": -1, "val_check_interval": 1.0, "check_val_every_n_epoch": 1}
    )
    assert quick.optimizer.schedule == "constant"


def test_the_step_schedule_waits_decay_start_steps_then_multiplies_by_gamma_every_step_size():
    from omegaconf import OmegaConf

    from seqlab.training.optim import schedule_factor

    zaremba = OmegaConf.create({"schedule": "step", "step_size": 10, "gamma": 0.5, "decay_start": 30})
    factor = schedule_factor(zaremba, total_steps=130)
    assert [factor(s) for s in (0, 29, 39, 40, 49, 50, 129)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.5**9]
    plain = schedule_factor(OmegaConf.create({"schedule": "step", "step_size": 10, "gamma": 0.5}), total_steps=50)
    assert [plain(s) for s in (9, 10, 25)] == [1.0, 0.5, 0.25]
