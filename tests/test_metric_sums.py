"""Evaluation sums through torchmetrics: local totals, and totals over DDP ranks (two gloo processes), including a
rank that saw no batch."""

from __future__ import annotations

import os
import socket
import warnings

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from seqlab.training.metric_sums import Sums


def test_sums_add_up_and_reset_without_warnings():
    sums = Sums(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torchmetrics warns on compute() before update(): totals() must not
        assert sums.totals().tolist() == [0.0, 0.0, 0.0]
    sums.reset()
    sums.update([1, 2, 3])
    sums.update(torch.tensor([[0.5, 0.5, 0.5]]))
    assert sums.totals().tolist() == [1.5, 2.5, 3.5] and sums.totals().dtype == torch.float64
    sums.reset()
    sums.update([1, 1, 1])
    assert sums.totals().tolist() == [1.0, 1.0, 1.0]


def _rank(rank: int, port: int, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    sums = Sums(2)
    if rank == 0:  # rank 1 sees no batch at all
        sums.update([3.0, 4.0])
        sums.update([1.0, 1.0])
    out[rank] = sums.totals().tolist()
    dist.destroy_process_group()


def test_sums_are_summed_over_ranks_even_when_a_rank_saw_nothing():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = mp.Manager().dict()
    mp.spawn(_rank, args=(port, out), nprocs=2, join=True)
    assert out[0] == out[1] == [4.0, 5.0]
