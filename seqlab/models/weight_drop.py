"""Weight drop: DropConnect on the hidden-to-hidden matrices of a recurrent core (Wan et al. 2013; AWD-LSTM).

``W_hh' = W_hh * M / (1 - p)`` with ``M ~ Bernoulli(1 - p)`` elementwise, drawn once per forward call (per batch or
TBPTT chunk) and used at every time step, so the recurrence itself is regularized without changing from step to
step; the identity in eval mode. It is a :mod:`torch.nn.utils.parametrize` parametrization of every
``weight_hh_l{k}`` (and ``_reverse``) of the core, whichever holds them: a fused ``nn.RNN/LSTM/GRU``, the one-layer
fused modules of a :class:`~seqlab.models.fused_stack.ResidualFusedStack`, or a
:class:`~seqlab.models.cell_stack.CellStack`.

- One mask per call: the core runs inside :func:`weight_drop_pass` (``parametrize.cached()``), so every read of
  ``W_hh`` during the call (the fused module's own, each length segment of :mod:`seqlab.models.varlen`, each step of
  :mod:`seqlab.models.step_probe`, each layer of a CellStack) gets the same dropped tensor. A fused module refreshes
  its ``_flat_weights`` from the parametrized attribute at every call (``_update_flat_weights``, torch >= 2.0,
  pytorch#91111), so the fused kernel runs on the dropped matrix on CPU and GPU with no monkey-patching (AWD-LSTM's
  WeightDrop breaks there); after the call the list points at the raw weights again (no graph kept, deepcopy works).
- Gradients reach the raw matrix, ``parametrizations.weight_hh_l0.original`` in ``named_parameters()``.
- Checkpoints keep ``torch.nn``'s names: a state_dict hook saves ``...parametrizations.weight_hh_l0.original`` as
  ``...weight_hh_l0`` and a load hook maps it back (parametrize's own key is accepted too), so a checkpoint moves
  unchanged between ``weight_drop`` on and off and between ``impl`` fused and cells, as every other state_dict here.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

HIDDEN = re.compile(r"^weight_hh_l\d+(_reverse)?$")
_ORIGINAL = "parametrizations.{}.original"
_CUDNN_COPY = "RNN module weights are not part of single contiguous chunk of memory"


class WeightDropout(nn.Module):
    """The parametrization ``W -> dropout(W, p)`` in training mode, ``W`` itself in eval mode or with ``p = 0``."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"weight drop probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, weight: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return weight
        return F.dropout(weight, self.p, training=True)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def hidden_weight_owners(core: nn.Module) -> list[tuple[nn.Module, list[str]]]:
    """Every module of ``core`` (itself included) with its own ``weight_hh_l*`` parameters, and their names."""
    owners = []
    for module in core.modules():
        names = [n for n, _ in module.named_parameters(recurse=False) if HIDDEN.match(n)]
        if names:
            owners.append((module, names))
    return owners


def apply_weight_drop(core: nn.Module, p: float) -> nn.Module:
    """Parametrize every hidden-to-hidden matrix of ``core`` with :class:`WeightDropout` ``(p)``; ``p = 0`` leaves
    ``core`` untouched. Call it after initializing the weights (initializers read the ``torch.nn`` names). Returns
    ``core``; ValueError when it has no ``weight_hh_l*``."""
    if p == 0.0:
        return core
    owners = hidden_weight_owners(core)
    if not owners:
        raise ValueError(f"{type(core).__name__} has no weight_hh_l* parameters to drop")
    for module, names in owners:
        for name in names:
            parametrize.register_parametrization(module, name, WeightDropout(p))
        module.register_state_dict_post_hook(_plain_keys)
        module.register_load_state_dict_pre_hook(_parametrized_keys)
    return core


def has_weight_drop(core: nn.Module) -> bool:
    """Whether any matrix of ``core`` is parametrized with :class:`WeightDropout`."""
    return any(isinstance(m, WeightDropout) for m in core.modules())


@contextmanager
def _dropped_weights(core: nn.Module) -> Iterator[None]:
    """``parametrize.cached()`` around one call of ``core``; afterwards its fused modules hold the raw weights."""
    fused = [m for m in core.modules() if isinstance(m, nn.RNNBase)]
    cuda = any(p.is_cuda for p in core.parameters())
    try:
        with parametrize.cached(), warnings.catch_warnings() if cuda else nullcontext():
            if cuda:  # cuDNN would say it compacts the weights: fresh dropped tensors at every call, by design
                warnings.filterwarnings("ignore", message=_CUDNN_COPY)
            yield
    finally:
        for module in fused:
            _raw_flat_weights(module)


def weight_drop_pass(core: nn.Module) -> AbstractContextManager[Any]:
    """The context one forward call of ``core`` runs in: one dropped ``W_hh`` per call (a no-op without weight
    drop)."""
    return _dropped_weights(core) if has_weight_drop(core) else nullcontext()


def _raw_flat_weights(module: nn.RNNBase) -> None:
    """Point a fused module's weight list back at the raw parameters after a call, so that no dropped tensor (and
    its graph) outlives the call (a deepcopy of the model would refuse it); the next call refreshes the list."""
    params = getattr(module, "parametrizations", {})
    module._flat_weights = [
        params[name].original if name in params else getattr(module, name, None) for name in module._flat_weights_names
    ]


def _names(module: nn.Module) -> list[str]:
    return list(getattr(module, "parametrizations", {}).keys())


def _plain_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """``prefix.parametrizations.weight_hh_l0.original`` -> ``prefix.weight_hh_l0``."""
    for name in _names(module):
        key = prefix + _ORIGINAL.format(name)
        if key in state_dict:
            state_dict[prefix + name] = state_dict.pop(key)


def _parametrized_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """``prefix.weight_hh_l0`` -> ``prefix.parametrizations.weight_hh_l0.original`` before loading."""
    for name in _names(module):
        if prefix + name in state_dict:
            state_dict[prefix + _ORIGINAL.format(name)] = state_dict.pop(prefix + name)
