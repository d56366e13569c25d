"""The fixed cost of one training step in Lightning, and of one ``self.log`` call: what a seqlab row pays per batch
on top of a plain loop, whatever its model (the yardstick of the sentiment row in benchmarks/overhead.py).

A LightningModule with one ``Linear(4, 1)`` and manual optimization (as seqlab's TBPTT module) fits ``steps``
batches of one row, in one thread, without logger, checkpoints or progress bar, three ways in alternating rounds:
no log, ``self.log("train/loss", float)`` and ``self.log("train/loss", tensor)`` each step. Reported: median
milliseconds per step over the rounds (the first 100 batches of each fit are not timed).

Usage: python benchmarks/lightning_step.py [steps=2000] [rounds=3] [out=lightning_step]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, publish  # noqa: E402

SPEC = {"steps": (int, 2000), "rounds": (int, 3), "out": (str, "lightning_step")}
MODES = ("no log", "log a float", "log a tensor")
WARMUP = 100


class Tiny(pl.LightningModule):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.automatic_optimization, self.mode, self.layer = False, mode, torch.nn.Linear(4, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        opt = self.optimizers()
        loss = self.layer(batch[0]).pow(2).mean()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        if self.mode == "log a float":
            self.log("train/loss", loss.item(), prog_bar=True, on_step=True, on_epoch=False)
        elif self.mode == "log a tensor":
            self.log("train/loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class Clock(pl.Callback):
    def __init__(self) -> None:
        self.started = self.seconds = 0.0
        self.counted = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == WARMUP:
            self.started = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self.counted = trainer.global_step - WARMUP
        self.seconds = time.perf_counter() - self.started


def ms_per_step(mode: str, steps: int) -> float:
    data = torch.utils.data.TensorDataset(torch.randn(steps + WARMUP, 4))
    clock = Clock()
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[clock],
    )  # fmt: skip
    trainer.fit(Tiny(mode), torch.utils.data.DataLoader(data, batch_size=1))
    return clock.seconds / clock.counted * 1e3


def main(argv: list[str]) -> None:
    args = options(argv, SPEC, __doc__)
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args["rounds"]):
        for mode in MODES:
            times[mode].append(ms_per_step(mode, args["steps"]))
    rows = [{"mode": m, "ms": statistics.median(t), "lo": min(t), "hi": max(t)} for m, t in times.items()]
    table = markdown_table({"step": "{mode}", "ms / step (median)": "{ms:.3f}", "min-max": "{lo:.3f}-{hi:.3f}"}, rows)
    publish(table, args["out"], {"machine": machine(), **args, "rows": rows})


if __name__ == "__main__":
    main(sys.argv[1:])
