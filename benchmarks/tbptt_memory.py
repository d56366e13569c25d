"""Peak memory of one training step against sequence length: truncated BPTT (fixed k) against full BPTT.

    python benchmarks/tbptt_memory.py            # lengths 1k, 4k, 16k; k = 100; full, tbptt, tbptt+accumulate
    python benchmarks/tbptt_memory.py --lengths 1000 2000 --k 50

The step is seqlab's own: task ``copy`` (a loss at every step, so every chunk has a loss and a backward) with
``task.delay = length - 2 * 10``, one LSTM layer of 64 units, batch 16, Adam, through a Lightning Trainer
(``TBPTTModule.training_step`` under manual optimization). Each (length, mode) runs in a fresh subprocess and trains
three batches; reported is the third. Two measures per step:

- ``saved``: the peak of the bytes autograd keeps for backward (``torch.autograd.graph.saved_tensors_hooks``,
  counted once per storage, released when the graph is freed): the activation memory BPTT needs.
- ``rss``: the growth of the process's resident set during the step (Linux ``VmHWM`` reset through
  ``/proc/self/clear_refs``, glibc's mmap threshold fixed at 64 KiB so freed tensors leave the RSS).

Results: a markdown table on stdout and ``benchmarks/results/tbptt_memory.{md,json}``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytorch_lightning as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, seqlab_config, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HEAD = ["length", "mode", "saved for backward (MiB)", "RSS growth (MiB)", "optimizer steps / batch"]
MODES = {
    "full": ["task.tbptt_steps=null"],
    "tbptt": ["task.tbptt_steps={k}"],
    "tbptt+accumulate": ["task.tbptt_steps={k}", "task.tbptt_accumulate=true"],
}


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(spec: dict) -> dict:
    import torch

    from seqlab.tasks.copy.task import CopyTask

    torch.set_num_threads(spec["threads"])
    length, k = spec["length"], spec["k"]
    overrides = [
        "task=copy",
        "model=lstm",
        "model.hidden_size=64",
        "model.num_layers=1",
        "task.length=10",
        f"task.delay={length - 20}",
        "task.batch_size=16",
        "task.data.train_size=48",
        "task.data.val_size=16",
        "task.data.test_size=16",
        *[o.format(k=k) for o in MODES[spec["mode"]]],
    ]
    cfg = seqlab_config(overrides)
    module, data = CopyTask.build(cfg)
    meter = StepMemory()
    trainer = pl.Trainer(
        max_steps=10**6,
        max_epochs=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[meter],
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=data)
    return {
        **spec,
        "saved_mib": meter.saved_peak / 2**20,
        "rss_mib": meter.rss_mib,
        "optimizer_steps": trainer.global_step,
    }


class _Saved:
    """Counts the bytes of each storage autograd saves, once, until the last reference to it is dropped."""

    def __init__(self) -> None:
        self.live: dict[int, list[int]] = {}
        self.bytes = 0
        self.peak = 0

    def pack(self, tensor):
        key = tensor.untyped_storage().data_ptr()
        entry = self.live.setdefault(key, [0, tensor.untyped_storage().nbytes()])
        if entry[0] == 0:
            self.bytes += entry[1]
            self.peak = max(self.peak, self.bytes)
        entry[0] += 1
        return _Handle(self, key, tensor)

    def unpack(self, handle):
        return handle.tensor

    def release(self, key: int) -> None:
        entry = self.live[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.bytes -= entry[1]
            del self.live[key]


class _Handle:
    def __init__(self, owner: _Saved, key: int, tensor) -> None:
        self.owner, self.key, self.tensor = owner, key, tensor

    def __del__(self) -> None:
        self.owner.release(self.key)


class StepMemory(pl.Callback):
    """Measures each training batch; keeps the numbers of the last one."""

    def __init__(self) -> None:
        self.saved_peak = 0
        self.rss_mib = 0.0
        self._ctx = None
        self._saved: _Saved | None = None
        self._before = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        import torch

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)
        gc.collect()
        libc.malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
        self._before = rss_kib("VmRSS")
        self._saved = _Saved()
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._saved.pack, self._saved.unpack)
        self._ctx.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._ctx.__exit__(None, None, None)
        self.rss_mib = (rss_kib("VmHWM") - self._before) / 1024
        self.saved_peak = self._saved.peak


def run_one(spec: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1800,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        return {**spec, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))), flush=True)
        return
    rows = []
    for length in args.lengths:
        for mode in MODES:
            row = run_one({"length": length, "mode": mode, "k": args.k, "threads": args.threads})
            rows.append(row)
            print(json.dumps(row), flush=True)
    body = [
        [r["length"], r["mode"], f"error: {r['error']}", "", ""]
        if "error" in r
        else [r["length"], r["mode"], f"{r['saved_mib']:.1f}", f"{r['rss_mib']:.1f}", r["optimizer_steps"] // 3]
        for r in rows
    ]
    table = markdown_table(HEAD, body) + "\n"
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tbptt_memory.md").write_text(table)
    write_json(args.out / "tbptt_memory.json", {"k": args.k, "rows": rows})


if __name__ == "__main__":
    main()
