"""The keys a word task adds to the shared language model (seqlab/tasks/language_model.py): a plain dataclass, so a
task's Config can extend it without importing the module (and Lightning) when pre-flight checks a config; and the
checks every stream language model (charlm, wordlm) shares, :func:`check_stream_lm`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.errors import ConfigError
from seqlab.training.tbptt_check import check_positive, check_tbptt


@dataclass
class LanguageModelOptions:
    """The keys a word task adds to the shared language model (module docstring), each off by default; a task whose
    ``Config`` is not one of these (the char LM) trains with these defaults."""

    tie_weights: bool = False
    softmax: str = "full"  # full | adaptive
    cutoffs: list[int] = field(default_factory=lambda: [2000, 10000])  # softmax=adaptive
    embedding_dropout: float = 0.0
    ar: float = 0.0
    tar: float = 0.0
    init_range: float | None = None  # every weight uniform in [-r, r] (Zaremba et al.: 0.1 small, 0.05 medium)


def check_stream_lm(task: Any) -> None:
    """The checks of a language model trained on one contiguous stream: ``batch_size``, ``seq_len`` and
    ``embedding_dim`` positive, ``tbptt_steps`` within one batch window, ``sample.temperature`` >= 0."""
    check_positive(task, "batch_size", "seq_len", "embedding_dim")
    check_tbptt(task.tbptt_steps, task.seq_len, "task.seq_len, one batch window")
    if task.sample.temperature < 0:
        raise ConfigError("task.sample.temperature", f"must be >= 0, got {task.sample.temperature}")
