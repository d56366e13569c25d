"""Seeded synthetic long-range tasks (the same seed gives the same tensors on every run and machine).

copy (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): with ``K`` symbols 1..K, blank 0 and delimiter K+1,
    x = s_1..s_L, 0 x (T-1), K+1, 0 x L          (length T + 2L, ids)
    y = 0 x (T+L), s_1..s_L                       (the string is recalled after T steps)
A memoryless model that outputs blanks then guesses reaches accuracy 1/K on the copied part.

adding (Hochreiter & Schmidhuber 1997, as in Le et al. 2015): x_t = (u_t, m_t) with u_t ~ U(0, 1) and exactly two
markers m_t = 1, one in each half of the sequence; the target is the sum of the two marked u_t. Always answering 1.0
gives MSE = Var(u_a + u_b) = 1/6 ~ 0.167.

The tensors are built without Lightning (a task's check imports this module); the DataModule that serves them is
in seqlab/data/tensor_datamodule.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

ADDING_BASELINE_MSE = 1.0 / 6.0


def _generator(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def copy_data(n: int, length: int, delay: int, vocab: int, seed: int) -> tuple[torch.Tensor, ...]:
    """``(x ids (n, T+2L), y ids (n, T+2L), mask (n, T+2L) bool = the copied part)``."""
    gen = _generator(seed)
    total = delay + 2 * length
    symbols = torch.randint(1, vocab + 1, (n, length), generator=gen)
    x = torch.zeros(n, total, dtype=torch.long)
    y = torch.zeros(n, total, dtype=torch.long)
    x[:, :length] = symbols
    x[:, length + delay - 1] = vocab + 1
    y[:, delay + length :] = symbols
    mask = torch.zeros(n, total, dtype=torch.bool)
    mask[:, delay + length :] = True
    return x, y, mask


def adding_data(n: int, seq_len: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x (n, T, 2) float, y (n,) float)``: values and markers; target = sum of the two marked values."""
    if seq_len < 2:
        raise ValueError("the adding problem needs seq_len >= 2")
    gen = _generator(seed)
    values = torch.rand(n, seq_len, generator=gen)
    half = seq_len // 2
    first = torch.randint(0, half, (n,), generator=gen)
    second = torch.randint(half, seq_len, (n,), generator=gen)
    markers = torch.zeros(n, seq_len)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1), y


@dataclass
class SyntheticDataConfig:
    """``task.data`` of a synthetic task: split ``i`` (train, val, test) is drawn with seed ``seed + i``."""

    seed: int = 1234
    train_size: int = 10000
    val_size: int = 1000
    test_size: int = 1000


@dataclass
class Splits:
    """Tensors of each split; every tuple holds aligned tensors of the same first dimension."""

    train: tuple[torch.Tensor, ...]
    val: tuple[torch.Tensor, ...]
    test: tuple[torch.Tensor, ...]


def seeded_splits(make, seed: int, sizes: tuple[int, int, int]) -> Splits:
    """``make(n, seed)`` for train, val and test with seeds ``seed``, ``seed + 1``, ``seed + 2``."""
    return Splits(*(make(n, seed + i) for i, n in enumerate(sizes)))


def __getattr__(name: str) -> Any:
    """``TensorDataModule`` moved to seqlab/data/tensor_datamodule.py (it imports Lightning): still importable here."""
    if name == "TensorDataModule":
        from seqlab.data.tensor_datamodule import TensorDataModule

        return TensorDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
