"""Variable-length batches: PyTorch's packed path against seqlab's segmented path (seqlab/models/varlen.py).

Times one forward + backward of a fused encoder over an embedded batch whose lengths follow a review-like spread,
and checks both paths agree. Usage:

    python benchmarks/varlen.py [batch=64] [max_len=400] [emb=128] [hidden=128] [threads=2] [repeats=3]
        [device=cpu] [cells=lstm,gru,rnn] [directions=1,2]

Prints a table and writes benchmarks/results/varlen.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, publish  # noqa: E402

from seqlab.models.varlen import run_packed, run_segmented  # noqa: E402

SPEC = {
    "batch": (int, 64),
    "max_len": (int, 400),
    "emb": (int, 128),
    "hidden": (int, 128),
    "threads": (int, 2),
    "repeats": (int, 3),
    "device": (str, "cpu"),
    "cells": (str, "lstm,gru,rnn"),
    "directions": (str, "1,2"),
}
COLUMNS = {
    "cell": "{cell}",
    "directions": "{directions}",
    "packed s": "{packed_s:.3f}",
    "segmented s": "{segmented_s:.3f}",
    "speed-up": "{speedup:.1f}x",
    "segmented tokens/s": "{segmented_tok_s:,.0f}",
    "equal": "{outputs_equal}",
}
FUSED = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def review_lengths(batch: int, max_len: int, seed: int = 0) -> torch.Tensor:
    """Lengths of one length-bucketed batch: a 25% spread around 60% of max_len, capped at max_len."""
    g = torch.Generator().manual_seed(seed)
    centre = 0.6 * max_len
    return (centre * (1 + 0.25 * (torch.rand(batch, generator=g) * 2 - 1))).long().clamp(1, max_len)


def time_step(path, module: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, repeats: int, device: str) -> float:
    """Best wall time of forward + backward (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        xi = x.detach().requires_grad_()
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        out, _ = path(module, xi, None, lengths)
        out.sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str]) -> None:
    a = options(argv, SPEC, __doc__)
    torch.set_num_threads(a["threads"])
    torch.manual_seed(0)
    lengths = review_lengths(a["batch"], a["max_len"])
    tokens = int(lengths.sum())
    rows = []
    for cell in a["cells"].split(","):
        for dirs in (int(d) for d in a["directions"].split(",")):
            module = FUSED[cell](a["emb"], a["hidden"], batch_first=True, bidirectional=dirs == 2).to(a["device"])
            x = torch.randn(a["batch"], int(lengths.max()), a["emb"], device=a["device"])
            with torch.no_grad():
                same = torch.allclose(
                    run_packed(module, x, None, lengths)[0], run_segmented(module, x, None, lengths)[0], atol=1e-5
                )
            packed = time_step(run_packed, module, x, lengths, a["repeats"], a["device"])
            segmented = time_step(run_segmented, module, x, lengths, a["repeats"], a["device"])
            rows.append(
                {
                    "cell": cell,
                    "directions": dirs,
                    "packed_s": packed,
                    "segmented_s": segmented,
                    "speedup": packed / segmented,
                    "packed_tok_s": tokens / packed,
                    "segmented_tok_s": tokens / segmented,
                    "outputs_equal": same,
                }
            )
    heading = (
        f"batch {a['batch']}, lengths {int(lengths.min())}-{int(lengths.max())} ({tokens} tokens), "
        f"emb {a['emb']}, hidden {a['hidden']}, {a['device']}, {a['threads']} threads; forward + backward"
    )
    table = markdown_table(COLUMNS, rows)
    publish(heading + "\n" + table, "varlen", {"args": a, "machine": machine(), "tokens": tokens, "rows": rows})


if __name__ == "__main__":
    main(sys.argv[1:])
