"""The config schema of task ``seqdigits``: the images (scikit-learn's digits or a folder), their split and the
reading mode."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DigitsDataConfig:
    path: str | None = None
    image_size: int = 28
    seed: int = 1234
    val_fraction: float = 0.15
    test_fraction: float = 0.15


@dataclass
class SeqDigitsConfig:
    name: str = "seqdigits"
    data: DigitsDataConfig = field(default_factory=DigitsDataConfig)
    mode: str = "rows"
    batch_size: int = 64
    tbptt_steps: int | None = None
    tbptt_accumulate: bool = False
