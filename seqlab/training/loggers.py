"""Metric loggers of the ``logger`` group: ``csv`` (default), ``tensorboard``, ``wandb`` (offline without key or
network), ``none``, or several at once (``logger=[csv,tensorboard,wandb]``). Every logger gets the metrics
Lightning logs; images and text tables go to each logger that shows them through :func:`log_image` and
:func:`log_table`, so a module never needs to know which loggers are on."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger

from seqlab.config.validate import LOGGERS, TENSORBOARD_MISSING, logger_kinds
from seqlab.errors import ConfigError

TENSORBOARD_DIR = "tensorboard"  # event files: <run dir>/tensorboard/events.out.tfevents.*


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


def build_logger(cfg: DictConfig, run_dir: Path, resumed_from: str | None = None) -> list[Logger]:
    """The run's loggers (csv, tensorboard, wandb, in that order; none: an empty list); a resumed run continues
    the W&B run of the folder it resumes from."""
    kinds = logger_kinds(cfg.get("logger"))
    unknown = [k for k in kinds if k not in LOGGERS]
    if unknown:
        raise ConfigError("logger", f"unknown logger '{unknown[0]}'", allowed=LOGGERS)
    loggers: list[Logger] = []
    if "csv" in kinds:
        loggers.append(CSVLogger(save_dir=str(run_dir), name="csv", version=""))
    if "tensorboard" in kinds:
        loggers.append(build_tensorboard(cfg, run_dir))
    if "wandb" in kinds:
        run_id = None
        if resumed_from:
            id_file = Path(resumed_from).parent.parent / WANDB_ID_FILE
            run_id = id_file.read_text().strip() if id_file.is_file() else None
        loggers.append(build_wandb(cfg, run_dir, run_id))
    return loggers


def build_tensorboard(cfg: DictConfig, run_dir: Path) -> Logger:
    """Event files in ``run_dir/tensorboard``, with the run's config as text; no placeholder ``hp_metric``."""
    import importlib.util

    if not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        raise ConfigError("logger", TENSORBOARD_MISSING)
    logger = TensorBoardLogger(save_dir=str(run_dir), name=TENSORBOARD_DIR, version="", default_hp_metric=False)
    # a rank other than 0 gets Lightning's no-op experiment
    logger.experiment.add_text("config", _code_block(OmegaConf.to_yaml(cfg, resolve=True)), global_step=0)
    return logger


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

    node = cfg.logger
    mode = wandb_mode(node.get("mode", "auto"))
    os.environ.setdefault("WANDB_SILENT", "true")
    kwargs: dict[str, Any] = dict(
        project=node.get("project", "seqlab"),
        entity=node.get("entity"),
        group=node.get("group") or sweep_group(),
        tags=list(node.get("tags", [])),
        save_dir=str(run_dir),
        log_model=node.get("log_model", False),
        mode=mode,
        id=run_id,
        resume="allow" if run_id else None,
        settings=wandb.Settings(init_timeout=60, silent=True),
        config=_wandb_config(cfg),
        name=f"{cfg.task.name}-{cfg.model.name}-{run_dir.name}",
    )
    return WandbLogger(**kwargs)


def _wandb_config(cfg: DictConfig) -> dict[str, Any]:
    """The run config for W&B: nested; flat (``model.num_layers``) in a run of a W&B sweep agent, whose parameters
    are such dotted keys and a group name (``model``) W&B would not let the nested ``model`` replace."""
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    if not os.environ.get("WANDB_SWEEP_ID"):
        return config
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value

    walk(config, "")
    return flat


# ---- images and text, to every logger that shows them ---------------------------------------------------------
def log_image(trainer: pl.Trainer, key: str, path: Path | str, step: int) -> None:
    """A PNG the run wrote, as image ``key`` at ``step``: to W&B and TensorBoard, whichever are on."""
    array = None
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[str(path)], step=step)
        elif isinstance(logger, TensorBoardLogger):
            if array is None:
                array = read_png(path)
            logger.experiment.add_image(key, array, global_step=step, dataformats="HWC")


def read_png(path: Path | str) -> Any:
    """An image file as an ``(H, W, 3)`` uint8 array."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def log_table(
    trainer: pl.Trainer,
    key: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    step: int,
    accumulated: bool = False,
) -> None:
    """Rows of text (samples, translations) as table ``key``: a W&B table, and TensorBoard text at ``step``.
    ``accumulated``: the rows are every row so far (W&B replaces its table each time), so TensorBoard, which
    keeps one text per step, gets only the last one."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            data = [[_cell(v) for v in row] for row in rows]
            logger.log_table(key=key, columns=list(columns), data=data, step=step)
        elif isinstance(logger, TensorBoardLogger):
            shown = rows[-1:] if accumulated else rows
            logger.experiment.add_text(key, markdown_table(columns, shown), global_step=step)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as Markdown for TensorBoard's text tab: a table, or one block per row where a cell has line breaks."""
    cells = [[str(v) for v in row] for row in rows]
    if any("\n" in c for row in cells for c in row):
        blocks = []
        for row in cells:
            short = " · ".join(f"**{c}** {v}" for c, v in zip(columns, row) if "\n" not in v)
            long = "\n\n".join(_code_block(v) for v in row if "\n" in v)
            blocks.append(f"{short}\n\n{long}" if short else long)
        return "\n\n---\n\n".join(blocks)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines)


def _code_block(text: str) -> str:
    """Text shown as is (line breaks and spacing kept): Markdown's indented code block."""
    return "\n".join("    " + line for line in text.splitlines())


def _cell(value: Any) -> Any:
    return value if isinstance(value, int | float | str) else str(value)
