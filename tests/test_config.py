"""Every config option composes and validates; bad values are rejected with the key and the allowed values."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import compose_config
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from seqlab import registry
from seqlab.config.preflight import preflight
from seqlab.config.validate import validate
from seqlab.errors import ConfigError


def group_options(group: str) -> list[str]:
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="seqlab.conf", version_base="1.3"):
        return GlobalHydra.instance().config_loader().get_group_options(group)


@pytest.mark.parametrize("group", ["model", "optimizer", "hardware", "logger", "callbacks"])
def test_every_option_of_a_group_composes_and_validates(group):
    options = group_options(group)
    assert options, f"group {group} has no options"
    for option in options:
        optional_missing = importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None
        if (group, option) == ("hardware", "slurm") and optional_missing:
            continue  # needs the optional extra [slurm]; tests/test_hardware.py covers it
        cfg = compose_config([f"{group}={option}"])
        if group == "model":
            assert cfg.model.name == option
            task = registry.get_task(cfg.task.name)
            if task.causal and cfg.model.get("bidirectional"):
                continue
            if getattr(registry.get_model(option), "pooled", False):  # whole-sequence baselines: a classifier task
                cfg = compose_config([f"{group}={option}", "task=sentiment"])
        validate(cfg)


@pytest.mark.parametrize("task", registry.names("task"))
def test_every_task_option_composes(task):
    cfg = compose_config([f"task={task}"])
    assert cfg.task.name == task


def test_model_options_are_the_registered_models():
    assert {"rnn", "lstm", "gru"} <= set(group_options("model"))
    assert set(group_options("model")) <= set(registry.names("model"))


def test_every_trainer_argument_is_a_key():
    cfg = compose_config(["trainer.max_steps=200", "trainer.max_time=00:00:01:00", "trainer.overfit_batches=2"])
    assert cfg.trainer.max_steps == 200 and cfg.trainer.max_time == "00:00:01:00"


@pytest.mark.parametrize(
    ("argv", "key", "fragment"),
    [
        (["model=lstmx"], "model", "allowed: "),
        (["model.hidden_sizex=3"], "model.hidden_sizex", "hidden_size"),
        (["model.hidden_size=abc"], "model.hidden_size", "int"),
        (["model.num_layers=0"], "model.num_layers", ">= 1"),
        (["model.bidirectional=true"], "model.bidirectional", "allowed: false"),
        (["trainer.not_an_arg=1"], "trainer.not_an_arg", "max_steps"),
        (["trainer.gradient_clip_val=1.0"], "trainer.gradient_clip_val", "clip_grad_norm"),
        (["optimizer=rmsprop"], "optimizer", "allowed: adam, adamw, asgd, ntasgd, sgd"),
        (["optimizer.schedule=wavy"], "optimizer.schedule", "cosine"),
        (["task.tbptt_steps=1000"], "task.tbptt_steps", "seq_len"),
        (["logger=tensorboardx"], "logger", "csv"),
        (["-m", "model=lstm,lstmx"], "model", "unknown option 'lstmx'"),
    ],
)
def test_bad_input_is_one_clear_error(argv, key, fragment):
    if fragment == "allowed: ":
        fragment += ", ".join(sorted(group_options("model")))
    with pytest.raises(ConfigError) as info:
        preflight(argv)
    message = str(info.value)
    assert message.startswith(key + ":"), message
    assert fragment in message
    assert "\n" not in message


def test_multirun_preflight_leaves_impossible_combinations_to_the_jobs():
    preflight(["-m", "model.bidirectional=false,true"])  # each job fails or runs on its own
    with pytest.raises(ConfigError):
        preflight(["model.bidirectional=true"])
