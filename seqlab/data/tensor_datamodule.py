"""A LightningDataModule serving fixed tensors (the synthetic tasks' and seqdigits' data)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from seqlab.data.synthetic import Splits


class TensorDataModule(pl.LightningDataModule):
    """Serves fixed tensors: shuffled training batches, fixed val/test batches in order."""

    def __init__(self, splits: Splits, batch_size: int) -> None:
        super().__init__()
        self.splits = splits
        self.batch_size = batch_size

    def _loader(self, tensors: tuple[torch.Tensor, ...], shuffle: bool) -> DataLoader:
        drop_last = shuffle and len(tensors[0]) > self.batch_size
        return DataLoader(TensorDataset(*tensors), batch_size=self.batch_size, shuffle=shuffle, drop_last=drop_last)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits.train, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, False)
