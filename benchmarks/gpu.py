"""The GPU rows in one command: fused vs compiled cells in fp32 and bf16, seqlab's training throughput of the char
LM, word LM and translation at ``hardware=gpu``, and a DDP relaunch under ``hardware=multigpu`` with the devices
present; the table goes to stdout, ``benchmarks/results/gpu.json`` and docs/benchmarks.md (between the
``<!-- gpu-table -->`` markers, which it replaces). Sized to finish in under 8 minutes on one GPU.

On a machine without a CUDA device it says so in one line and exits 0 (nothing written).

Usage: SEQLAB_DATA_DIR=../shared/data python benchmarks/gpu.py [steps=60] [warmup=10] [docs=docs/benchmarks.md]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, publish, seqlab_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPEC = {"steps": (int, 60), "warmup": (int, 10), "docs": (str, str(ROOT / "docs" / "benchmarks.md"))}
BEGIN, END = "<!-- gpu-table:begin -->", "<!-- gpu-table:end -->"
THROUGHPUT_ROWS = ("charlm", "wordlm_full", "translate")
DDP_TIMEOUT_S = 150


def cell_rows() -> list[dict[str, Any]]:
    """Fused vs compiled cells (LSTM, GRU; H=256, T=50, batch 64) in fp32 and bf16, through cells.py's worker."""
    from cells import run_one

    rows = []
    for dtype in ("float32", "bfloat16"):
        for mode in ("lstm", "gru"):
            spec = {
                "mode": mode,
                "hidden": 256,
                "length": 50,
                "impls": ["fused", "cells-compiled"],
                "device": "cuda",
                "batch": 64,
                "repeats": 3,
                "min_time": 0.3,
                "threads": 0,
                "dtype": dtype,
            }
            by = {r["impl"]: r for r in run_one(spec, timeout=90)}
            fused, compiled = by["fused"], by["cells-compiled"]
            ok = "tokens_per_s" in fused and "tokens_per_s" in compiled
            rows.append(
                {
                    "what": f"cells {mode} H=256 T=50 {dtype}",
                    "result": (
                        f"fused {fused['tokens_per_s']:,.0f} tok/s, compiled {compiled['tokens_per_s']:,.0f} tok/s "
                        f"(fused/compiled {fused['tokens_per_s'] / compiled['tokens_per_s']:.2f}x)"
                        if ok
                        else f"error: {fused.get('error') or compiled.get('error')}"
                    ),
                }
            )
    return rows


def throughput_rows(steps: int, warmup: int) -> list[dict[str, Any]]:
    """seqlab's training tokens/s at ``hardware=gpu`` (bf16-mixed) for the overhead benchmark's models."""
    from overhead_rows import COMMON, rows

    from seqlab import registry
    from seqlab.training.trainer import build_trainer

    out = []
    with tempfile.TemporaryDirectory() as scratch:
        table = rows(Path(scratch))
        for name in THROUGHPUT_ROWS:
            row = table[name]
            cfg = seqlab_config([*row.overrides, *COMMON, "hardware=gpu", f"trainer.max_steps={warmup + steps}"])
            pl.seed_everything(0, verbose=False)
            module, data = registry.get_task(cfg.task.name).build(cfg)
            timer = _Timer(warmup, row.tokens)
            trainer = build_trainer(cfg, Path(scratch) / name, extra_callbacks=[timer])
            trainer.fit(module, datamodule=data)
            rate = timer.tokens / (timer.end - timer.start)
            out.append({"what": f"{name} hardware=gpu (bf16-mixed)", "result": f"{rate:,.0f} tok/s", "tok_s": rate})
    return out


class _Timer(pl.Callback):
    """Tokens and wall time of the training batches after ``warmup``, the GPU synchronized at both ends."""

    def __init__(self, warmup: int, tokens: Any) -> None:
        self.warmup, self.count_tokens = warmup, tokens
        self.done, self.start, self.end, self.tokens = 0, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.done == self.warmup:
            torch.cuda.synchronize()
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.done += 1
        if self.done > self.warmup:
            self.tokens += self.count_tokens(batch)
            torch.cuda.synchronize()
            self.end = time.perf_counter()


def ddp_row(steps: int) -> dict[str, Any]:
    """``python -m seqlab hardware=multigpu`` (the DDP relaunch) on every device present; its tokens/s or error."""
    devices = torch.cuda.device_count()
    if devices < 2:
        return {"what": "DDP hardware=multigpu", "result": f"skipped: {devices} device (needs 2 or more)"}
    args = [sys.executable, "-m", "seqlab", "hardware=multigpu", f"trainer.max_steps={steps}"]
    args += ["trainer.limit_val_batches=2", "test=false", "logger=none", "trainer.enable_progress_bar=false"]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        try:
            proc = subprocess.run(args, cwd=tmp, capture_output=True, text=True, timeout=DDP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {"what": f"DDP hardware=multigpu, {devices} devices", "result": f"timed out ({DDP_TIMEOUT_S} s)"}
        wall = time.perf_counter() - start
        results = list(Path(tmp).glob("outputs/**/results.json"))
        if proc.returncode != 0 or not results:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"what": f"DDP hardware=multigpu, {devices} devices", "result": f"exit {proc.returncode}: {tail[0]}"}
        data = json.loads(results[0].read_text())
    return {
        "what": f"DDP hardware=multigpu, {devices} devices",
        "result": f"{data['tokens_per_second']:,.0f} tok/s (all ranks), {wall:.0f} s wall",
    }


def write_docs(path: Path, text: str) -> None:
    """Replace the text between the markers in ``path`` (or append a section with them)."""
    doc = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip("\n") + "\n\n## GPU (benchmarks/gpu.py)\n\n" + block + "\n"
    path.write_text(doc)


def main(argv: list[str]) -> int:
    a = options(argv, SPEC, __doc__)
    if not torch.cuda.is_available():
        print("gpu: no CUDA device on this machine (torch.cuda.is_available() is false); nothing run")
        return 0
    started = time.perf_counter()
    rows = [*cell_rows(), *throughput_rows(a["steps"], a["warmup"]), ddp_row(a["steps"])]
    info = machine()
    header = (
        f"Card: {info.get('gpu')} ({torch.cuda.device_count()} present), torch {info['torch']}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}; "
        f"`python benchmarks/gpu.py {' '.join(argv)}` took {time.perf_counter() - started:.0f} s."
    )
    text = header + "\n\n" + markdown_table({"row": "{what}", "result": "{result}"}, rows)
    write_docs(Path(a["docs"]), text)
    publish(text, "gpu", {"command": "python benchmarks/gpu.py " + " ".join(argv), "machine": info, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
