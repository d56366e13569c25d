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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from seqlab.old_paths import keep_old_paths

if TYPE_CHECKING:
    from seqlab.models.step_probe import Record

State = Any  # Tensor | tuple | list | dict of these (nested) | None


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
        from seqlab.models.step_probe import step_forward  # step_probe builds on this module

        layer = max(getattr(self, "num_layers", 1) - 1, 0)
        return step_forward(self.forward, x, state, lengths, record, layer)

    def num_parameters(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def map_state(state: State, fn: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """``fn`` applied to every Tensor of a nested state (Tensor, tuple/namedtuple/list, dict, or None), shape kept."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a namedtuple takes positional fields
        return type(state)(*(map_state(s, fn) for s in state))
    if isinstance(state, tuple | list):
        return type(state)(map_state(s, fn) for s in state)
    if isinstance(state, dict):
        return {k: map_state(v, fn) for k, v in state.items()}
    raise TypeError(f"a state holds Tensors, tuples, lists, dicts or None, not {type(state).__name__}")


def state_tensors(state: State) -> list[torch.Tensor]:
    """Every Tensor of a nested state, in walking order."""
    found: list[torch.Tensor] = []
    map_state(state, lambda t: found.append(t) or t)
    return found


def detach_state(state: State) -> State:
    """Cut the graph behind a state of any shape (Tensor, tuple/list of Tensors, nested, or None)."""
    return map_state(state, torch.Tensor.detach)


def select_state(state: State, index: torch.Tensor, batch_dim: int = 1) -> State:
    """Rows ``index`` (may repeat) along ``batch_dim`` of every Tensor of a nested state.

    A smaller last batch, or beam search: ``index`` of shape ``(B',)`` picks, reorders or duplicates rows.
    """
    return map_state(state, lambda t: t.index_select(batch_dim, index))


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``(B, T)`` bool, True at the valid steps ``t < lengths[b]`` (on the device of ``lengths``)."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("ModelConfig", "SequenceModel", "State", "detach_state"))
