"""Generated parity data: bits x_t ~ Bernoulli(1/2), labels y_t = (x_1 + ... + x_t) mod 2.

A batch is ``(x, y, lengths)``: ``x`` float ``(B, T, 1)`` with values 0/1, ``y`` long ``(B, T)`` the running parity,
``lengths`` long ``(B,)`` the valid steps of each row. With ``task.min_len`` set, lengths are drawn from
``[min_len, seq_len]``; past its length a row holds bit 0 and label ``PAD_LABEL`` (the parity of the whole row is
``y[b, lengths[b] - 1]``). Each split has its own seed, so the splits differ and every run of a config sees the
same data.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

PAD_LABEL = -100  # the label of padded steps (F.cross_entropy's default ignore_index)


def parity_data(
    n: int, seq_len: int, seed: int, min_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` sequences of at most ``seq_len`` bits, their running parity and their lengths."""
    gen = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (n, seq_len), generator=gen)
    if min_len is None:
        lengths = torch.full((n,), seq_len)
    else:
        lengths = torch.randint(min_len, seq_len + 1, (n,), generator=gen)
    valid = torch.arange(seq_len)[None, :] < lengths[:, None]
    bits = bits * valid
    labels = (bits.cumsum(dim=1) % 2).masked_fill(~valid, PAD_LABEL)
    return bits.float().unsqueeze(-1), labels, lengths


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
                self.splits[split] = TensorDataset(*parity_data(n, t.seq_len, t.seed + offset, t.min_len))

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        return DataLoader(self.splits[split], batch_size=self.task.batch_size, shuffle=shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
