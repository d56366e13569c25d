"""Batches of variable-length sequences: padding with lengths, and batches of similar length (bucketing)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def pad_sequences(sequences: Sequence[torch.Tensor], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (B, T_max) padded with pad_id, lengths (B,))`` of 1-D id tensors."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
    return ids, lengths


def collate_labelled(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ids (B, T_max) padded with 0, lengths (B,), labels (B,))`` of (ids, label) pairs."""
    ids, lengths = pad_sequences([x for x, _ in items])
    return ids, lengths, torch.tensor([y for _, y in items], dtype=torch.long)


class BucketBatchSampler(Sampler[list[int]]):
    """Shuffled batches of similar length: shuffle, cut into pools of ``bucket`` batches, sort each pool by length,
    batch it, shuffle the batches. ``shuffle=False`` (evaluation) sorts by length, batches, and puts the batches in
    one fixed random order, the same every pass: the first N batches (``trainer.limit_val_batches=N``, a budgeted
    run's bounded validation) are then a sample of every length, not the N shortest.

    Under DDP rank ``r`` of ``world`` takes batches ``r, r + world, ...``. Training (``shuffle=True``) gives every
    rank the same number of batches (DDP's gradient all-reduce needs it), dropping at most ``world - 1`` of the
    epoch's shuffled batches; evaluation keeps every batch, so the ranks together see each example exactly once."""

    def __init__(
        self,
        lengths: list[int],
        batch_size: int,
        bucket: int = 50,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.lengths, self.batch_size, self.bucket, self.shuffle = lengths, batch_size, max(1, bucket), shuffle
        self.seed, self.epoch, self.rank, self.world = seed, 0, rank, world

    def _batches(self) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        if not self.shuffle:
            order.sort(key=lambda i: self.lengths[i])
            batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
            random.Random(self.seed).shuffle(batches)
            return batches
        rng = random.Random(self.seed + self.epoch)
        rng.shuffle(order)
        pool = self.batch_size * self.bucket
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: self.lengths[i])
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        self.epoch += 1
        return iter(batches[self.rank : self._usable(len(batches)) : self.world])

    def __len__(self) -> int:
        return len(range(self.rank, self._usable(-(-len(self.lengths) // self.batch_size)), self.world))

    def _usable(self, n: int) -> int:
        return n - n % self.world if self.shuffle and n >= self.world else n


def reverse_padded(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row of ``ids`` ``(B, T, ...)`` reversed within its length; padding stays where it is.

    ``out[b, t] = ids[b, lengths[b] - 1 - t]`` for ``t < lengths[b]``, else ``ids[b, t]``. Its own inverse.
    """
    steps = torch.arange(ids.size(1), device=ids.device)
    lengths = lengths.to(ids.device)[:, None]
    index = torch.where(steps[None] < lengths, lengths - 1 - steps[None], steps[None])  # (B, T)
    index = index.view(*index.shape, *([1] * (ids.dim() - 2))).expand_as(ids)
    return ids.gather(1, index)
