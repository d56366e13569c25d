"""Config checks every task with truncated BPTT shares."""

from __future__ import annotations

from typing import Any

from seqlab.errors import ConfigError
from seqlab.old_paths import keep_old_paths


def check_positive(task: Any, *keys: str, prefix: str = "task") -> None:
    """Raise ConfigError for the first ``<prefix>.<key>`` below 1."""
    for key in keys:
        value = getattr(task, key)
        if value < 1:
            raise ConfigError(f"{prefix}.{key}", f"must be >= 1, got {value}")


def check_tbptt(tbptt_steps: int | None, seq_len: int, length_name: str = "the sequence length") -> None:
    """``task.tbptt_steps`` is null (full BPTT) or in [1, seq_len]; ``length_name`` says where seq_len comes from."""
    if tbptt_steps is not None and not 1 <= tbptt_steps <= seq_len:
        raise ConfigError(
            "task.tbptt_steps", f"must be in [1, {seq_len}] ({length_name}) or null (full BPTT), got {tbptt_steps}"
        )


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("check_positive", "check_tbptt"))
