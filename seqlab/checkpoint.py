"""Rebuild a task's LightningModule from a checkpoint alone (its config and extras are in ``hparams``)."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from seqlab import registry
from seqlab.errors import ConfigError, DataError


def load_module(ckpt_path: str | Path, map_location: str = "cpu") -> pl.LightningModule:
    """The module saved in ``ckpt_path`` (a .ckpt file or a run folder), in eval mode."""
    path = Path(ckpt_path).expanduser()
    if path.is_dir():
        path = path / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise DataError(f"ckpt_path: no checkpoint at {path}")
    try:
        saved = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise DataError(f"ckpt_path: {path} is not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    config = saved.get("hyper_parameters", {}).get("config")
    if not config:
        raise ConfigError("ckpt_path", f"{path} was not written by seqlab (no config in its hyper-parameters)")
    task_cls = registry.get_task(config["task"]["name"])
    module = task_cls.module_class.load_from_checkpoint(str(path), map_location=map_location)
    return module.eval()
