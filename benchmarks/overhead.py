"""seqlab's overhead: each task family's model trained by seqlab and by a hand-written PyTorch loop.

Rows (``rows=charlm,wordlm_full,...``; default all): ``charlm`` (tiny Shakespeare, Embedding 64 -> LSTM 2 x 256,
64 x 100), ``wordlm_full`` / ``wordlm_adaptive`` (WikiText-2 from $SEQLAB_DATA_DIR, else a generated corpus;
LSTM 2 x 200, 20 x 35, full or adaptive softmax), ``translate`` (the tutorial subset, GRU encoder + GRU decoder
with Bahdanau attention, teacher forcing), ``caption`` (generated scenes, small CNN + soft attention + LSTM),
``sentiment`` (UCI sentences, bi-LSTM over packed variable-length batches). Definitions: benchmarks/overhead_rows.py.

Both sides train the same network (built by the seqlab task, same initial weights), with the same optimizer (the
run's Adam), global-norm clipping 5 and the same batches in the same order: the plain loop iterates the batches of
the task's training loader collated into memory beforehand; seqlab runs ``Trainer.fit`` with its loaders, TBPTT
module, callbacks and metric sums (no logger, no validation). The two alternate batch by batch in this one process
(seqlab batch, plain batch, seqlab batch, ...: a callback runs the plain step after each seqlab batch and its time
is taken out of seqlab's), so a change in the machine's load hits both alike; each round is one fit of a fresh copy
of the model on both sides, skips ``warmup`` batches and counts the next ``steps``. Reported per row: the median
over rounds of seqlab / plain throughput and its spread (min-max). Goal: >= 0.95 (char LM >= 0.98). Both sides use
``threads`` torch threads (seqlab's ``hardware.threads=auto`` would give cores away to other seqlab runs).

The third side, **Lightning alone**, splits the gap: the plain loop's step written as a bare LightningModule
(manual optimization: ``manual_backward``, ``clip_gradients``, the optimizer's step) fitted by a bare Trainer (no
logger, no checkpoint, no callback but the pairing one) on the same batches, collated beforehand, interleaved with
its own plain loop the same way. Lightning alone / plain is the cost of Lightning's loop; seqlab / plain below it is
seqlab's own (its loaders, TBPTT module, callbacks and metrics).

Usage: SEQLAB_DATA_DIR=../shared/data python benchmarks/overhead.py [rows=all] [steps=20] [warmup=3] [rounds=3]
       [threads=0 (torch's default; both sides)] [out=overhead]
"""

from __future__ import annotations

import copy
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, publish, seqlab_config  # noqa: E402
from overhead_rows import COMMON, Row, rows  # noqa: E402

from seqlab.models.base import detach_state  # noqa: E402

SPEC = {
    "rows": (str, "all"),
    "steps": (int, 20),
    "warmup": (int, 3),
    "rounds": (int, 3),
    "threads": (int, 0),
    "out": (str, "overhead"),
}
COLUMNS = {
    "row": "{name}",
    "plain loop tok/s": "{plain_tok_s:,.0f}",
    "seqlab tok/s": "{seqlab_tok_s:,.0f}",
    "Lightning alone / plain": "{lightning_ratio_median:.3f}",
    "seqlab / plain (median)": "{ratio_median:.3f}",
    "rounds min-max": "{ratio_min:.3f}-{ratio_max:.3f}",
    "goal": "{goal:.2f}",
}


class PlainLoop:
    """The hand-written loop, one batch per call: forward, loss, zero_grad, backward, clip, optimizer step, and the
    carried state detached; it cycles through ``batches`` (collated in memory before any clock starts)."""

    def __init__(self, module: Any, batches: list[Any], row: Row, cfg: Any) -> None:
        from seqlab.training.optim import build_optimizer

        self.module, self.row, self.batches = module.train(), row, itertools.cycle(batches)
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.opt = build_optimizer(self.params, cfg.optimizer)
        self.clip = float(cfg.optimizer.clip_grad_norm)
        self.state: Any = None

    def step(self) -> int:
        """Train on the next batch; the tokens it counted."""
        batch = next(self.batches)
        loss, state = self.row.loss(self.module, batch, self.state)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        self.state = detach_state(state)
        return self.row.tokens(batch)


class LightningAlone(pl.LightningModule):
    """The plain loop's step as a bare LightningModule: Lightning's loop and its manual-optimization calls, nothing
    of seqlab's."""

    def __init__(self, module: Any, row: Row, cfg: Any) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net, self.row, self.cfg = module, row, cfg
        self.clip = float(cfg.optimizer.clip_grad_norm)
        self.state: Any = None

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opt = self.optimizers()
        loss, state = self.row.loss(self.net, batch, self.state)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        self.clip_gradients(opt, gradient_clip_val=self.clip, gradient_clip_algorithm="norm")
        opt.step()
        self.state = detach_state(state)

    def configure_optimizers(self) -> Any:
        from seqlab.training.optim import build_optimizer

        return build_optimizer([p for p in self.net.parameters() if p.requires_grad], self.cfg.optimizer)


class Paired(pl.Callback):
    """Interleaves the plain loop with a fit (seqlab's, or Lightning alone) batch by batch: after each batch of the
    fit ends, one plain step runs.

    The fit's time for batch i is from its start to the start of batch i+1 (Lightning's loop, seqlab's hooks and
    loader included) less the plain step run in between; the first ``warmup`` batches of both are not counted,
    nor anything after ``warmup + steps`` batches (the fit runs one batch more, to close the last interval; the
    plain loop takes only the first ``warmup + steps`` batches)."""

    def __init__(self, plain: PlainLoop, tokens: Any, warmup: int, steps: int) -> None:
        self.plain, self.count_tokens, self.warmup, self.last = plain, tokens, warmup, warmup + steps
        self.done, self.started, self.plain_seconds, self.pending = 0, None, 0.0, 0
        self.seqlab_s = self.plain_s = 0.0
        self.seqlab_tokens = self.plain_tokens = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        now = time.perf_counter()
        if self.started is not None and self.warmup < self.done <= self.last:
            self.seqlab_s += now - self.started - self.plain_seconds
            self.seqlab_tokens += self.pending
        self.started = now

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.done += 1
        self.pending, self.plain_seconds = self.count_tokens(batch), 0.0
        if self.done <= self.last:
            start = time.perf_counter()
            tokens = self.plain.step()
            self.plain_seconds = time.perf_counter() - start
            if self.done > self.warmup:
                self.plain_s += self.plain_seconds
                self.plain_tokens += tokens

    def rates(self) -> tuple[float, float]:
        """(plain tok/s, the fit's tok/s) over the counted batches."""
        return self.plain_tokens / self.plain_s, self.seqlab_tokens / self.seqlab_s


def paired_round(module: Any, batches: list[Any], data: Any, row: Row, cfg: Any, warmup: int, steps: int):
    """(plain tok/s, seqlab tok/s) of one fit with the plain loop interleaved batch by batch."""
    from seqlab.training.trainer import build_trainer

    pl.seed_everything(0, verbose=False)
    paired = Paired(PlainLoop(copy.deepcopy(module), batches, row, cfg), row.tokens, warmup, steps)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(cfg, Path(tmp), extra_callbacks=[paired])
        trainer.fit(copy.deepcopy(module), datamodule=data)
    return paired.rates()


def lightning_round(module: Any, batches: list[Any], row: Row, cfg: Any, warmup: int, steps: int):
    """(plain tok/s, Lightning-alone tok/s) of one bare fit with the plain loop interleaved batch by batch."""
    from torch.utils.data import DataLoader

    from seqlab.data.batching import as_is

    pl.seed_everything(0, verbose=False)
    paired = Paired(PlainLoop(copy.deepcopy(module), batches, row, cfg), row.tokens, warmup, steps)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=warmup + steps + 1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[paired],
    )
    loader = DataLoader(batches, batch_size=None, collate_fn=as_is)
    trainer.fit(LightningAlone(copy.deepcopy(module), row, cfg), train_dataloaders=loader)
    return paired.rates()


def measure(row: Row, steps: int, warmup: int, rounds: int, threads: int) -> dict[str, Any]:
    """Alternating rounds of one row; each round trains a fresh copy of the same initial model. Both sides run
    ``threads`` torch threads (seqlab's ``hardware.threads=auto`` would share the cores with other seqlab runs on
    the machine and so measure the neighbours, not the framework)."""
    from seqlab import registry

    fixed = [*COMMON, f"trainer.max_steps={warmup + steps + 1}", f"hardware.threads={threads}"]
    cfg = seqlab_config([*row.overrides, *fixed], checked=True)
    pl.seed_everything(0, verbose=False)
    module, data = registry.get_task(cfg.task.name).build(cfg)
    data.setup("fit")
    pl.seed_everything(0, verbose=False)
    # the batches seqlab's first epoch sees (one more for Lightning alone: its fit, too, closes the last interval)
    batches = list(itertools.islice(data.train_dataloader(), warmup + steps + 1))
    plain, ours, alone = [], [], []
    for r in range(rounds):
        torch.set_num_threads(threads)
        plain_tok_s, seqlab_tok_s = paired_round(module, batches, data, row, cfg, warmup, steps)
        plain.append(plain_tok_s)
        ours.append(seqlab_tok_s)
        alone.append(lightning_round(module, batches, row, cfg, warmup, steps))
        print(
            f"{row.name} round {r}: plain {plain[-1]:,.0f} tok/s  seqlab {ours[-1]:,.0f} tok/s  "
            f"ratio {ours[-1] / plain[-1]:.3f}  Lightning alone {alone[-1][1] / alone[-1][0]:.3f}  "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    ratios = [o / p for o, p in zip(ours, plain)]
    lightning_ratios = [a / p for p, a in alone]
    return {
        "name": row.name,
        "overrides": row.overrides,
        "goal": row.goal,
        "plain_tok_s": statistics.median(plain),
        "seqlab_tok_s": statistics.median(ours),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "plain": plain,
        "seqlab": ours,
        "ratios": ratios,
        "lightning_ratio_median": statistics.median(lightning_ratios),
        "lightning_ratios": lightning_ratios,
    }


def main(argv: list[str]) -> dict[str, Any]:
    a = options(argv, SPEC, __doc__)
    threads = a["threads"] if a["threads"] > 0 else torch.get_num_threads()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        table = rows(Path(scratch))
        names = list(table) if a["rows"] in (None, "all") else [n.strip() for n in str(a["rows"]).split(",")]
        unknown = [n for n in names if n not in table]
        if unknown:
            print(f"overhead: error: rows: unknown {', '.join(unknown)} (allowed: all, {', '.join(table)})")
            raise SystemExit(2)
        results = [measure(table[n], a["steps"], a["warmup"], a["rounds"], threads) for n in names]
    data = {
        "command": "python benchmarks/overhead.py " + " ".join(argv),
        "steps": a["steps"],
        "warmup": a["warmup"],
        "rounds": a["rounds"],
        "threads": threads,
        "machine": machine(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "rows": results,
    }
    publish(markdown_table(COLUMNS, results), a["out"], data)
    return data


if __name__ == "__main__":
    main(sys.argv[1:])
