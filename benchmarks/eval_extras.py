"""Validation-time extras (sample generation, BLEU decoding with attention pictures, caption decoding with
pictures) as a share of a default run's wall time, per task.

For each task a short fit at its default settings (``steps`` training batches, then one validation over
``val_batches`` batches) is timed by a callback: the mean training batch, the mean validation (loss) batch, and the
extras (the module's hook, wrapped with a clock). A default run validates once per epoch, so one epoch of the
default run is ``train batch x batches per epoch + val batch x val batches + extras``; the share is extras / that.
Tasks: charlm, wordlm (the generated sample), translate (task=translate_tutorial: beam decoding of
``decode.val_sentences``, printed examples, attention picture), caption (beam captions of ``decode.val_images``,
the picture of ``decode.show`` images; trained here on 1,000 generated scenes, the epoch counted at the default
5,000). Sentiment has no validation extras (its confusion picture is drawn at test only). Goal: < 10 % per task.

Usage: SEQLAB_DATA_DIR=../shared/data python benchmarks/eval_extras.py [tasks=all] [steps=6] [val_batches=4]
       [threads=1] [out=eval_extras]
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, publish, seqlab_config  # noqa: E402

SPEC = {"tasks": (str, "all"), "steps": (int, 6), "val_batches": (int, 4), "threads": (int, 1), "out": (str, "")}
# task -> (overrides, the module's extra hook, training batches per epoch at the defaults or None = the loader's)
TASKS: dict[str, tuple[list[str], str, int | None]] = {
    "charlm": (["task=charlm", "model=lstm"], "generate", None),
    "wordlm": (["task=wordlm", "model=lstm"], "generate", None),
    "translate": (["task=translate_tutorial", "model=gru"], "_decode_stage", None),
    "caption": (
        ["task=caption", "model=lstm", "task.data.scenes.num_train=1000", "task.data.scenes.num_val=200"],
        "_decode_stage",
        math.ceil(5000 / 64),
    ),
}
COLUMNS = {
    "task": "{task}",
    "train s/epoch": "{train_s:.1f}",
    "val loss s": "{val_s:.1f}",
    "extras s": "{extras_s:.1f}",
    "extras share": "{share:.1%}",
}


class Clock(pl.Callback):
    """Sums of training and validation batch times (sanity checks excluded)."""

    def __init__(self) -> None:
        self.train, self.val, self.started = [], [], 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.train.append(time.perf_counter() - self.started)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.started = time.perf_counter()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.val.append(time.perf_counter() - self.started)


def timed(fn: Any, spent: list[float]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    return wrapper


def measure(task: str, steps: int, val_batches: int, threads: int) -> dict[str, Any]:
    from seqlab import registry
    from seqlab.training.trainer import build_trainer

    overrides, hook, train_batches = TASKS[task]
    fixed = [f"trainer.max_steps={steps}", f"trainer.val_check_interval={steps}", "trainer.num_sanity_val_steps=0"]
    fixed += [f"trainer.limit_val_batches={val_batches}", "trainer.enable_progress_bar=false", "logger=csv"]
    cfg = seqlab_config([*overrides, *fixed, f"hardware.threads={threads}"], checked=True)
    pl.seed_everything(0, verbose=False)
    module, data = registry.get_task(cfg.task.name).build(cfg)
    spent: list[float] = []
    setattr(module, hook, timed(getattr(module, hook), spent))
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(cfg, Path(tmp), extra_callbacks=[clock])
        trainer.fit(module, datamodule=data)
        n_train = train_batches or len(data.train_dataloader())
        n_val = len(data.val_dataloader())
    train_mean = sum(clock.train[1:]) / max(1, len(clock.train) - 1)  # the first batch warms up
    train_s, val_s = train_mean * n_train, sum(clock.val) / max(1, len(clock.val)) * n_val
    extras_s = sum(spent)
    row = {"task": task, "overrides": overrides, "hook": hook, "train_batches": n_train, "val_batches": n_val}
    row |= {"train_s": train_s, "val_s": val_s, "extras_s": extras_s, "share": extras_s / (train_s + val_s + extras_s)}
    print(f"{task}: {row['share']:.1%} (extras {extras_s:.1f} s, load {os.getloadavg()[0]:.1f})", flush=True)
    return row


def main(argv: list[str]) -> dict[str, Any]:
    a = options(argv, SPEC, __doc__)
    torch.set_num_threads(a["threads"])
    names = list(TASKS) if a["tasks"] in (None, "all") else str(a["tasks"]).split(",")
    load_before = os.getloadavg()
    rows = [measure(n, a["steps"], a["val_batches"], a["threads"]) for n in names]
    data = {
        "command": "python benchmarks/eval_extras.py " + " ".join(argv),
        "machine": machine(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "rows": rows,
    }
    publish(markdown_table(COLUMNS, rows), a["out"] or "eval_extras", data)
    return data


if __name__ == "__main__":
    main(sys.argv[1:])
