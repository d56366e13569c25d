"""Reading checkpoints safely, and rebuilding a task's LightningModule from one.

Every checkpoint seqlab reads (generate, predict, resume, the test helpers) goes through :func:`read_checkpoint`,
which unpickles with ``weights_only=True``: tensors, numbers, strings and plain containers only. A file that needs
more (a pickle that would import or call something) is refused with one line and never executed.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from seqlab import registry
from seqlab.errors import ConfigError, DataError

LAST = Path("checkpoints") / "last.ckpt"


def checkpoint_file(path: str | Path, key: str) -> Path:
    """``path`` itself, or ``path/checkpoints/last.ckpt`` for a run folder; DataError when there is none."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / LAST
    if not path.is_file():
        raise DataError(f"{key}: no checkpoint at {path} (give a .ckpt file or a run folder)")
    return path


def read_checkpoint(path: str | Path, key: str, map_location: str = "cpu") -> dict[str, Any]:
    """The checkpoint's contents, loaded with ``weights_only=True``; DataError naming ``key`` when it is not a
    readable checkpoint or would run code when unpickled."""
    path = Path(path)
    try:
        saved = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if "Weights only load failed" in first or "Unsupported" in str(exc):
            raise DataError(
                f"{key}: {path} holds objects that would run code when loaded; seqlab loads "
                "checkpoints with weights_only=True and refuses it"
            ) from None
        raise DataError(f"{key}: {path} is not a readable checkpoint ({first or type(exc).__name__})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{key}: {path} is not a readable checkpoint (truncated or damaged: {first})") from None
    if not isinstance(saved, dict) or "state_dict" not in saved:
        raise DataError(f"{key}: {path} is not a Lightning checkpoint (no state_dict)")
    return saved


def check_compatible(module: torch.nn.Module, saved: dict[str, Any], key: str) -> None:
    """ConfigError naming ``key`` when the checkpoint's weights do not fit ``module`` (other sizes or layers)."""
    mine = module.state_dict()
    theirs = dict(saved["state_dict"])
    upgrade = getattr(module, "upgrade_state_dict", None)  # a module that renamed layers maps older checkpoints
    if callable(upgrade):
        theirs = upgrade(theirs)
    missing = sorted(set(mine) - set(theirs))
    unexpected = sorted(set(theirs) - set(mine))
    if missing or unexpected:
        which = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise ConfigError(
            key, f"the checkpoint's layers do not match this config ({which}); use the config it was trained with"
        )
    for name, tensor in mine.items():
        other = theirs[name]
        if hasattr(other, "shape") and tuple(other.shape) != tuple(tensor.shape):
            raise ConfigError(
                key,
                f"the checkpoint's {name} has shape {tuple(other.shape)}, this config builds "
                f"{tuple(tensor.shape)}; use the config it was trained with (its .hydra/config.yaml)",
            )


def load_module(ckpt_path: str | Path, map_location: str = "cpu", key: str = "ckpt_path") -> Any:
    """The module saved in ``ckpt_path`` (a .ckpt file or a run folder), in eval mode."""
    path = checkpoint_file(ckpt_path, key)
    saved = read_checkpoint(path, key, map_location)
    config = saved.get("hyper_parameters", {}).get("config")
    if not config:
        raise ConfigError(key, f"{path} was not written by seqlab (no config in its hyper-parameters)")
    task_cls = registry.get_task(config["task"]["name"])
    module = task_cls.module_class.load_from_checkpoint(str(path), map_location=map_location, weights_only=True)
    return module.eval()
