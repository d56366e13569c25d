"""``seqlab.load``: a trained run, with the inference methods its task declares (``Task.inference``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load(run_dir_or_ckpt: str | Path, device: str = "cpu", key: str = "ckpt_path") -> Any:
    """The run saved in a run folder (its last checkpoint) or a ``.ckpt`` file, read with ``weights_only=True``,
    as its task's :class:`seqlab.tasks.inference.Inference` (``generate``, ``translate``, ``caption``,
    ``predict``, ``embeddings``, ``evaluate``: whichever the task offers). Errors are SeqlabErrors naming ``key``."""
    from seqlab import registry
    from seqlab.checkpoint import LAST, load_module

    module = load_module(run_dir_or_ckpt, map_location=device, key=key)  # a run folder: its last checkpoint
    path = Path(run_dir_or_ckpt).expanduser()
    path = path / LAST if path.is_dir() else path
    task_cls = registry.get_task(module.cfg.task.name)
    return task_cls.inference(module, path, run_dir=_run_dir_of(path), device=device)


def _run_dir_of(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint lies in (``<run>/checkpoints/x.ckpt``), else None."""
    run_dir = checkpoint.parent.parent
    return run_dir if checkpoint.parent.name == "checkpoints" and (run_dir / ".hydra").is_dir() else None
