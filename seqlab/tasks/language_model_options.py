"""The keys a word task adds to the shared language model (seqlab/tasks/language_model.py): a plain dataclass, so a
task's Config can extend it without importing the module (and Lightning) when pre-flight checks a config."""

from __future__ import annotations

from dataclasses import dataclass, field


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
