"""Configs that live in code rather than YAML, registered in Hydra's ConfigStore before composition."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from seqlab.config.trainer_args import trainer_defaults


def register_configs() -> None:
    """Register ``trainer_defaults`` (every Trainer argument); idempotent."""
    ConfigStore.instance().store(name="trainer_defaults", node=dict(trainer_defaults()), package="trainer")
