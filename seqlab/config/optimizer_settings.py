"""seqlab's own keys of the ``optimizer`` node (clipping and the learning-rate schedule), typed, with their defaults.

The rest of the node is a Hydra ``_target_``/``_partial_`` node for a ``torch.optim`` class (its keyword arguments);
these keys are taken out before it is instantiated (:func:`seqlab.training.optim.build_optimizer`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from seqlab.config.schema import to_dataclass


@dataclass
class OptimizerSettings:
    clip_grad_norm: float | None = None  # clip the global gradient norm to this value; null: off
    clip_grad_value: float | None = None  # clip each gradient element to [-v, v]; null: off
    schedule: str = "constant"  # constant | cosine | linear | step | plateau (seqlab.config.choices.SCHEDULES)
    warmup_steps: int = 0  # linear warm-up (optimizer steps)
    min_lr_ratio: float = 0.0  # cosine/linear end at lr * min_lr_ratio
    step_size: int = 1000  # step schedule: multiply lr by gamma every step_size optimizer steps
    gamma: float = 0.5
    decay_start: int = 0  # step schedule: no decay during the first decay_start optimizer steps
    plateau_patience: int = 2  # plateau schedule: validations without improvement tolerated (a "+" key in the YAML)


SEQLAB_KEYS = tuple(f.name for f in dataclasses.fields(OptimizerSettings))


def optimizer_settings(node: Any) -> OptimizerSettings:
    """The typed seqlab keys of an ``optimizer`` node (ConfigError naming ``optimizer.<key>`` on a wrong type)."""
    if isinstance(node, OptimizerSettings):
        return node
    return to_dataclass(OptimizerSettings, {str(k): v for k, v in node.items() if k in SEQLAB_KEYS}, "optimizer")
