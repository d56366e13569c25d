"""The config schema of task ``charlm``: the text, the stream's batches and the samples drawn at validation."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CharDataConfig:
    path: str | None = None
    val_fraction: float = 0.05
    test_fraction: float = 0.05


@dataclass
class SampleConfig:
    every_n_val: int = 1
    length: int = 200
    temperature: float = 0.8
    prompt: str = "\n"


@dataclass
class CharLMConfig:
    name: str = "charlm"
    data: CharDataConfig = field(default_factory=CharDataConfig)
    batch_size: int = 64
    seq_len: int = 100
    tbptt_steps: int | None = None
    tbptt_accumulate: bool = False
    carry_state: bool = True
    embedding_dim: int = 64
    sample: SampleConfig = field(default_factory=SampleConfig)
