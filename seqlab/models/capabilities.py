"""What a sequence model offers and what a task needs of it, in one vocabulary.

A model class declares ``input_kind`` (``"embeddings"``: float features; ``"ids"``: token ids) and ``pooled``
(one whole-sequence summary instead of per-step outputs, no state); its config says ``bidirectional``. A task
declares :class:`Needs` for its ``model`` role; :func:`unmet` says which need a model misses, so pre-flight can refuse
the pair with one line that names the models that would serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Capabilities:
    """What one model (class and config) offers."""

    per_step: bool  # outputs at every step and a state to carry (False: a pooled whole-sequence summary)
    causal: bool  # output t depends on inputs <= t only (a unidirectional recurrence)
    input_kind: str  # "embeddings" or "ids"

    @classmethod
    def of(cls, model_cls: type, config: Any = None) -> Capabilities:
        bidirectional = bool(getattr(config, "bidirectional", False) if config is not None else False)
        pooled = bool(getattr(model_cls, "pooled", False))
        return cls(
            per_step=not pooled,
            causal=not pooled and not bidirectional,
            input_kind=str(getattr(model_cls, "input_kind", "embeddings")),
        )


@dataclass(frozen=True)
class Needs:
    """What a task needs of the model in its ``model`` role."""

    per_step: bool = True  # reads an output at every step, or carries the state
    causal: bool = False  # predicts step t from steps <= t
    inputs: tuple[str, ...] = ("embeddings",)  # the input kinds the task can feed

    def describe(self) -> str:
        """e.g. ``a causal per-step encoder of embeddings``."""
        kind = " or ".join(self.inputs)
        causal = "causal " if self.causal else ""
        return f"a {causal}{'per-step' if self.per_step else 'sequence'} encoder of {kind}"

    def unmet(self, offered: Capabilities) -> str | None:
        """The first need ``offered`` misses (class-level: per-step outputs, input kind), or None."""
        if self.per_step and not offered.per_step:
            return "per-step outputs (it returns one pooled summary)"
        if offered.input_kind not in self.inputs:
            return f"{' or '.join(self.inputs)} as input (it reads {offered.input_kind})"
        return None
