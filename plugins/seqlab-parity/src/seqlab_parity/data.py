"""Generated parity data: bits x_t ~ Bernoulli(1/2), labels y_t = (x_1 + ... + x_t) mod 2.

A batch is ``(x, y)``: ``x`` float ``(B, T, 1)`` with values 0/1, ``y`` long ``(B, T)`` the running parity (the
parity of the whole sequence is ``y[:, -1]``). Each split has its own seed, so the splits differ and every run of
the same config sees the same data.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


def parity_data(n: int, seq_len: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of ``seq_len`` bits and their running parity."""
    gen = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n, seq_len), generator=gen)
    return bits.float().unsqueeze(-1), bits.cumsum(dim=1) % 2


class ParityDataModule(pl.LightningDataModule):
    """train/val/test splits of generated parity sequences (seeds ``seed``, ``seed + 1``, ``seed + 2``)."""

    def __init__(self, task: Any) -> None:
        super().__init__()
        self.task = task
        self.splits: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        t = self.task
        sizes = {"train": t.train_size, "val": t.val_size, "test": t.test_size}
        for offset, (split, n) in enumerate(sizes.items()):
            if split not in self.splits:
                self.splits[split] = TensorDataset(*parity_data(n, t.seq_len, t.seed + offset))

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        return DataLoader(self.splits[split], batch_size=self.task.batch_size, shuffle=shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
