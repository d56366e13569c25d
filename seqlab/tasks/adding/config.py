"""The config schema of task ``adding``: the seeded synthetic data and the sequence length."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqlab.data.synthetic import SyntheticDataConfig


@dataclass
class AddingConfig:
    name: str = "adding"
    data: SyntheticDataConfig = field(default_factory=SyntheticDataConfig)
    batch_size: int = 64
    seq_len: int = 100
    tbptt_steps: int | None = None
    tbptt_accumulate: bool = False
