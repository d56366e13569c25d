"""The encoder contract every sequence model (built-in or plugin) keeps.

``forward(x, state=None, lengths=None) -> (outputs, state)``

- ``x``: ``(batch, time, input_size)`` float.
- ``state``: ``None`` (zeros) or what a previous call returned; a Tensor or a tuple of Tensors.
- ``lengths``: optional ``(batch,)`` valid lengths; padded steps never change the state and give zero outputs.
- ``outputs``: ``(batch, time, output_size)``; ``state``: the state after each sequence's last valid step.

A model also states ``output_size``, ``bidirectional`` (a bidirectional model cannot serve a causal task) and
``num_parameters()``. Its hyper-parameters are a dataclass named ``Config`` on the class; the task builds it with
``Model(input_size, config)``.

Every unidirectional per-step model can also run one step at a time with each step's hidden state handed to a
recorder (``with model.recording_steps(record): ...``, see :mod:`seqlab.models.step_probe`); the gradient-flow
recorder measures dL/dh_t this way. A model whose parts can be stepped more finely (every layer of a stack)
overrides ``forward_steps``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from seqlab.models.state import State, detach_state, map_state, select_state, state_tensors
from seqlab.models.step_probe import Record, step_forward
from seqlab.old_paths import keep_old_paths

# the state walkers live in seqlab/models/state.py; seqlab's modules and 0.1 plugins import them from here too
__all__ = [
    "ModelConfig",
    "SequenceModel",
    "State",
    "detach_state",
    "length_mask",
    "map_state",
    "select_state",
    "state_tensors",
]


@dataclass
class ModelConfig:
    """Fields every model config has."""

    name: str = "???"


class SequenceModel(nn.Module):
    """Base class of sequence encoders; subclasses set ``Config`` and implement ``forward``."""

    Config: ClassVar[type] = ModelConfig
    output_size: int
    bidirectional: bool = False
    # optional, read by tasks with these defaults:
    # "ids": x is (B, T) long token ids and input_size is the vocabulary size (e.g. the bag-of-words baseline)
    input_kind: ClassVar[str] = "embeddings"
    # True: outputs are (B, 1, F) whole-sequence summaries and the state is None (nothing to carry or pool)
    pooled: ClassVar[bool] = False
    _step_record: Record | None = None  # set by recording_steps only

    def __init__(self, input_size: int, config: Any) -> None:
        super().__init__()
        self.input_size = input_size
        self.config = config

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        record = self._step_record
        if record is None:
            return super().__call__(*args, **kwargs)
        return self.forward_steps(*args, record=record, **kwargs)

    @contextmanager
    def recording_steps(self, record: Record) -> Iterator[None]:
        """Within the block, calling the model computes what ``forward`` computes one time step at a time and
        calls ``record(layer, t, out, h)`` at every step (:mod:`seqlab.models.step_probe` says what ``out`` and
        ``h`` are); forward hooks do not run. ``forward`` itself is never replaced. ValueError for a bidirectional
        or pooled model (its step t depends on later steps)."""
        if self.bidirectional or self.pooled:
            kind = "bidirectional" if self.bidirectional else "pooled"
            raise ValueError(f"{type(self).__name__} is {kind}: it cannot run one step at a time")
        previous = self._step_record
        vars(self)["_step_record"] = record  # a plain attribute (a callable nn.Module would become a submodule)
        try:
            yield
        finally:
            vars(self)["_step_record"] = previous

    def forward_steps(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None, *, record: Record
    ) -> tuple[torch.Tensor, State]:
        """``forward`` one step at a time (:func:`seqlab.models.step_probe.step_forward`), recorded as the last
        layer; what calling the model does under :meth:`recording_steps`."""
        layer = max(getattr(self, "num_layers", 1) - 1, 0)
        return step_forward(self.forward, x, state, lengths, record, layer)

    def num_parameters(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``(B, T)`` bool, True at the valid steps ``t < lengths[b]`` (on the device of ``lengths``)."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("ModelConfig", "SequenceModel", "State", "detach_state"))
