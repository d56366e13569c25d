"""Where a resumed run continues from: a checkpoint file, a run folder (its last.ckpt) or ``latest``.

``latest`` is the newest run folder under ``outputs/`` whose composed config matches this run's, apart from the
keys that do not change what is trained (:data:`FREE_KEYS`: the budget, logging, progress); when none matches,
the error says what differs from the newest one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqlab.checkpoint import LAST, checkpoint_file
from seqlab.config.schema import flat_keys
from seqlab.errors import ConfigError, DataError
from seqlab.run.lock import check_not_in_use

# keys a resumed run may change: how long it trains, what it logs and shows, where it comes from
FREE_KEYS = (
    "resume",
    "debug",
    "test",
    "trainer.max_steps",
    "trainer.max_epochs",
    "trainer.max_time",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "logger",
    "progress",
    "hardware.threads",
    "hardware.timeout",
    "final_test",
    "eval",
)


def resolve_resume(
    resume: str | None, run_dir: Path | None = None, outputs: Path = Path("outputs"), cfg: DictConfig | None = None
) -> str | None:
    """The checkpoint file to continue from, or None for a fresh run. A checkpoint of a run that another process is
    still writing is refused (ConfigError naming the holder)."""
    if not resume:
        return None
    if resume == "latest":
        found = _latest(outputs, run_dir, cfg).absolute()
    else:
        try:
            found = checkpoint_file(resume, "resume").absolute()
        except DataError:
            raise ConfigError(
                "resume", f"no checkpoint at {resume} (give a .ckpt file, a run folder, or 'latest')"
            ) from None
    check_not_in_use(run_folder_of(found), "resume")
    return str(found)


def run_folder_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint belongs to: ``<run>/checkpoints/x.ckpt`` -> ``<run>``, else its own folder."""
    return checkpoint.parent.parent if checkpoint.parent.name == LAST.parent.name else checkpoint.parent


def _latest(outputs: Path, run_dir: Path | None, cfg: DictConfig | None) -> Path:
    here = run_dir.absolute() if run_dir else None
    candidates = sorted(
        (p for p in outputs.glob("**/" + str(LAST)) if here is None or here not in p.absolute().parents),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    if not candidates:
        raise ConfigError("resume", f"no run folder with {LAST} under {outputs.resolve()}")
    if cfg is None:
        return candidates[0]
    first_difference = None
    for ckpt in candidates:
        saved = ckpt.parent.parent / ".hydra" / "config.yaml"
        if not saved.is_file():
            continue
        differences = config_differences(OmegaConf.load(saved), cfg)
        if not differences:
            return ckpt
        first_difference = first_difference or (ckpt.parent.parent, differences)
    if first_difference is None:
        raise ConfigError("resume", f"no run folder with {LAST} and .hydra/config.yaml under {outputs.resolve()}")
    folder, differences = first_difference
    shown = "; ".join(f"{k}: {a!r} there, {b!r} here" for k, a, b in differences[:3])
    more = f" (+{len(differences) - 3} more)" if len(differences) > 3 else ""
    raise ConfigError(
        "resume",
        f"no earlier run has this config; the newest, {folder}, differs in {shown}{more}. "
        f"Give resume={folder} with its overrides, or a run folder",
    )


def config_differences(theirs: DictConfig, ours: DictConfig) -> list[tuple[str, Any, Any]]:
    """``(key, their value, our value)`` for every leaf that differs, outside :data:`FREE_KEYS`."""
    a = flat_keys(OmegaConf.to_container(theirs, resolve=False))
    b = flat_keys(OmegaConf.to_container(ours, resolve=False))
    keys = sorted(k for k in set(a) | set(b) if not _free(k))
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


def _free(key: str) -> bool:
    return key.startswith("hydra") or any(key == f or key.startswith(f + ".") for f in FREE_KEYS)
