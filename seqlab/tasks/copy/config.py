"""The config schema of task ``copy``: the seeded synthetic data, the string length, the delay and the symbols."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqlab.data.synthetic import SyntheticDataConfig


@dataclass
class CopyConfig:
    name: str = "copy"
    data: SyntheticDataConfig = field(default_factory=SyntheticDataConfig)
    batch_size: int = 64
    length: int = 10
    delay: int = 50
    vocab: int = 8
    tbptt_steps: int | None = None
    tbptt_accumulate: bool = False
