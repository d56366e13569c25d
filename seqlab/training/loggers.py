"""Metric loggers of the ``logger`` group: ``csv`` (default), ``wandb`` (offline without key or network), ``none``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger, Logger


def wandb_mode(requested: str) -> str:
    """``auto`` is online when an API key is available, else offline (never a login prompt)."""
    if os.environ.get("WANDB_MODE") == "":
        del os.environ["WANDB_MODE"]  # an empty value is not a mode wandb accepts
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


WANDB_ID_FILE = "wandb_run_id"


def build_logger(cfg: DictConfig, run_dir: Path, resumed_from: str | None = None) -> Logger | None:
    """The run's logger; a resumed run continues the W&B run of the folder it resumes from."""
    kind = cfg.logger.kind
    if kind == "none":
        return None
    if kind == "csv":
        return CSVLogger(save_dir=str(run_dir), name="csv", version="")
    run_id = None
    if resumed_from:
        id_file = Path(resumed_from).parent.parent / WANDB_ID_FILE
        run_id = id_file.read_text().strip() if id_file.is_file() else None
    return build_wandb(cfg, run_dir, run_id)


def sweep_group() -> str | None:
    """The W&B group of a multirun job: the sweep folder's date and time; None outside a multirun."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            sweep_dir = Path(HydraConfig.get().sweep.dir)
            return f"sweep-{sweep_dir.parent.name}-{sweep_dir.name}"
    except Exception:
        return None
    return None


def build_wandb(cfg: DictConfig, run_dir: Path, run_id: str | None = None) -> Logger:
    import wandb
    from pytorch_lightning.loggers import WandbLogger

    node = cfg.logger
    mode = wandb_mode(node.get("mode", "auto"))
    os.environ.setdefault("WANDB_SILENT", "true")
    kwargs: dict[str, Any] = dict(
        project=node.project,
        entity=node.get("entity"),
        group=node.get("group") or sweep_group(),
        tags=list(node.get("tags", [])),
        save_dir=str(run_dir),
        log_model=node.get("log_model", False),
        mode=mode,
        id=run_id,
        resume="allow" if run_id else None,
        settings=wandb.Settings(init_timeout=60, silent=True),
        config=OmegaConf.to_container(cfg, resolve=True),
        name=f"{cfg.task.name}-{cfg.model.name}-{run_dir.name}",
    )
    return WandbLogger(**kwargs)
