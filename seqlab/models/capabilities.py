"""What a sequence model offers and what a task needs of it, in one vocabulary.

A model class declares ``input_kind`` (``"embeddings"``: float features; ``"ids"``: token ids), ``pooled``
(one whole-sequence summary instead of per-step outputs, no state) and ``carries_state`` (default: not pooled;
False for a per-step model that returns state None and sees each call on its own, e.g. the transformer, so
truncated BPTT and a bridge from its final state mean nothing); its config says ``bidirectional``. A task
declares :class:`Needs` for its ``model`` role; :func:`unmet` says which need a model misses, so pre-flight can refuse
the pair with one line that names the models that would serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqlab.old_paths import keep_old_paths


@dataclass(frozen=True)
class Capabilities:
    """What one model (class and config) offers."""

    per_step: bool  # outputs at every step (False: a pooled whole-sequence summary)
    causal: bool  # output t depends on inputs <= t only (a unidirectional recurrence, a causal mask)
    input_kind: str  # "embeddings" or "ids"
    carries_state: bool = True  # returns a final state that a next call continues from (False: state None)

    @classmethod
    def of(cls, model_cls: type, config: Any = None) -> Capabilities:
        bidirectional = bool(getattr(config, "bidirectional", False) if config is not None else False)
        pooled = bool(getattr(model_cls, "pooled", False))
        return cls(
            per_step=not pooled,
            causal=not pooled and not bidirectional,
            input_kind=str(getattr(model_cls, "input_kind", "embeddings")),
            carries_state=bool(getattr(model_cls, "carries_state", not pooled)),
        )


@dataclass(frozen=True)
class Needs:
    """What a task needs of the model in its ``model`` role."""

    per_step: bool = True  # reads an output at every step, or carries the state
    causal: bool = False  # predicts step t from steps <= t
    inputs: tuple[str, ...] = ("embeddings",)  # the input kinds the task can feed
    state: bool = False  # uses the final state (a bridge to a decoder, a step-by-step rollout)

    def describe(self) -> str:
        """e.g. ``a causal per-step encoder of embeddings``."""
        kind = " or ".join(self.inputs)
        causal = "causal " if self.causal else ""
        state = " with a final state" if self.state else ""
        return f"a {causal}{'per-step' if self.per_step else 'sequence'} encoder of {kind}{state}"

    def unmet(self, offered: Capabilities) -> str | None:
        """The first need ``offered`` misses (class-level: per-step outputs, input kind, a state), or None."""
        if self.per_step and not offered.per_step:
            return "per-step outputs (it returns one pooled summary)"
        if offered.input_kind not in self.inputs:
            return f"{' or '.join(self.inputs)} as input (it reads {offered.input_kind})"
        if self.state and not offered.carries_state:
            return "a final state (it returns none: each call is seen on its own)"
        return None


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("Capabilities", "Needs"))
