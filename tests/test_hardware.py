"""Hardware presets compose to the Trainer and launcher settings they promise."""

from __future__ import annotations

import pytest
from conftest import compose_config
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from seqlab.config.store import register_configs


@pytest.mark.parametrize(
    ("option", "accelerator", "devices", "strategy"),
    [
        ("cpu", "cpu", 1, "auto"),
        ("gpu", "gpu", 1, "auto"),
        ("multigpu", "gpu", -1, "ddp"),
        ("ddp_cpu", "cpu", 2, "ddp"),
        ("auto", "auto", 1, "auto"),
    ],
)
def test_presets_set_the_trainer(option, accelerator, devices, strategy):
    trainer = compose_config([f"hardware={option}"]).trainer
    assert (trainer.accelerator, trainer.devices, trainer.strategy) == (accelerator, devices, strategy)


def test_gpu_presets_use_bf16_mixed_precision():
    assert compose_config(["hardware=gpu"]).trainer.precision == "bf16-mixed"


def test_slurm_preset_submits_through_submitit_with_one_task_per_gpu():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="seqlab.conf", version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=["hardware=slurm", "trainer.devices=4", "trainer.num_nodes=2"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert "submitit" in launcher._target_ and "Slurm" in launcher._target_
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
    assert cfg.trainer.strategy == "ddp"
