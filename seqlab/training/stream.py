"""Stateful batching of a token stream for language models (pytorch/examples' ``batchify``).

The stream is cut into ``world_size`` contiguous shards (one per DDP rank), each shard into ``batch_size`` parallel
rows, and batch ``i`` is columns ``[i*T, (i+1)*T)``: row ``b`` of batch ``i+1`` continues row ``b`` of batch ``i``,
so a hidden state carried across batches sees unbroken text. Targets are the inputs shifted by one token.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import IterableDataset

from seqlab.errors import DataError


class StreamBatches(IterableDataset):
    """Yields ``(inputs, targets)`` of shape ``(batch_size, <=seq_len)`` in stream order (never shuffled)."""

    def __init__(
        self,
        tokens: torch.Tensor,
        batch_size: int,
        seq_len: int,
        rank: int = 0,
        world_size: int = 1,
        name: str = "stream",
    ) -> None:
        super().__init__()
        usable = (len(tokens) - 1) // world_size
        shard = tokens[rank * usable : rank * usable + usable + 1]
        self.shard = {"rank": rank, "start": rank * usable, "tokens": usable}
        columns = (len(shard) - 1) // batch_size
        if columns < 2:
            raise DataError(
                f"the {name} split has {len(tokens)} tokens: too few for batch_size={batch_size} x "
                f"{world_size} process(es); use a larger file or a smaller task.batch_size"
            )
        self.inputs = shard[: columns * batch_size].view(batch_size, columns)
        self.targets = shard[1 : columns * batch_size + 1].view(batch_size, columns)
        self.seq_len = seq_len
        self.skip_batches = 0  # set by ExactResume: batches of the current epoch already trained on

    def __len__(self) -> int:
        return math.ceil(self.inputs.size(1) / self.seq_len)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        first, self.skip_batches = self.skip_batches * self.seq_len, 0
        for start in range(first, self.inputs.size(1), self.seq_len):
            end = start + self.seq_len
            yield self.inputs[:, start:end], self.targets[:, start:end]
