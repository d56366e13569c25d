"""Metric loggers of the ``logger`` group: ``csv`` (default), ``wandb`` (offline without key or network), ``none``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger, Logger


def wandb_mode(requested: str) -> str:
    """``auto`` is online when an API key is available, else offline (never a login prompt)."""
    if requested != "auto":
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


def build_logger(cfg: DictConfig, run_dir: Path) -> Logger | None:
    kind = cfg.logger.kind
    if kind == "none":
        return None
    if kind == "csv":
        return CSVLogger(save_dir=str(run_dir), name="csv", version="")
    return build_wandb(cfg, run_dir)


def build_wandb(cfg: DictConfig, run_dir: Path, run_id: str | None = None) -> Logger:
    import wandb
    from pytorch_lightning.loggers import WandbLogger

    node = cfg.logger
    mode = wandb_mode(node.get("mode", "auto"))
    os.environ.setdefault("WANDB_SILENT", "true")
    kwargs: dict[str, Any] = dict(
        project=node.project, entity=node.get("entity"), group=node.get("group"), tags=list(node.get("tags", [])),
        save_dir=str(run_dir), log_model=node.get("log_model", False), mode=mode, id=run_id,
        resume="allow" if run_id else None, settings=wandb.Settings(init_timeout=60, silent=True),
        config=OmegaConf.to_container(cfg, resolve=True),
        name=f"{cfg.task.name}-{cfg.model.name}-{run_dir.name}",
    )
    return WandbLogger(**kwargs)
