"""A recurrent state of any shape and the one walker every use of it shares (:func:`map_state`): a Tensor, a
tuple / namedtuple / list / dict of states (an LSTM's ``(h, c)``, a decoder's ``{"rnn": ..., "feed": ...}``), or
None. :func:`detach_state` (TBPTT), :func:`select_state` (a smaller batch, beam search) and :func:`state_tensors`
are built on it. Imported by the model contract (seqlab/models/base.py) and the step recorder (step_probe.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

State = Any  # Tensor | tuple | list | dict of these (nested) | None


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
