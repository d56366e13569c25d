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


class LabelledSequences:
    """Id sequences with a class label each, stored end to end in one tensor.

    ``split[i]`` is ``(ids (T_i,), label)``; ``split.batch(indices)`` is ``collate_labelled([split[i] for i in
    indices])``, ``(ids (B, T_max) padded with 0, lengths (B,), labels (B,))``, gathered in a few tensor operations
    instead of a Python loop over the rows (a loader of these skips per-example collation: 35 against ~250 us for
    32 sentences). ``lengths`` (a list) is what :class:`BucketBatchSampler` sorts by."""

    def __init__(self, ids: Sequence[torch.Tensor], labels: torch.Tensor) -> None:
        self.lengths = [len(x) for x in ids]
        self.labels = labels
        self._lengths = torch.tensor(self.lengths, dtype=torch.long)
        self._starts = self._lengths.cumsum(0) - self._lengths
        longest = max(self.lengths, default=0)
        # a row's gather may run past the last sequence by up to `longest` steps: they read padding
        self._flat = torch.cat([*ids, torch.zeros(longest, dtype=torch.long)]) if ids else torch.zeros(0).long()
        self.ids = self._flat.split([*self.lengths, longest])[:-1] if ids else ()  # views, no copies

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.ids[i], int(self.labels[i])

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(indices, dtype=torch.long)
        lengths = self._lengths[rows]
        steps = torch.arange(int(lengths.max()))
        ids = self._flat[self._starts[rows, None] + steps]
        ids.masked_fill_(steps >= lengths[:, None], 0)
        return ids, lengths, self.labels[rows]


class WholeBatches:
    """A map-style dataset of batches: item ``indices`` (a list, from a batch sampler used as the loader's
    ``sampler`` with ``batch_size=None``) is ``split.batch(indices)``."""

    def __init__(self, split: LabelledSequences) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.split.batch(indices)


def as_is(batch: object) -> object:
    """The collate function of a loader over :class:`WholeBatches`: the batch is made already."""
    return batch


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
