"""Fused vs textbook cells: forward+backward throughput and peak memory of one recurrent layer.

    python benchmarks/cells.py                 # rnn/lstm/gru x hidden 128/256/512 x length 50/200, batch 32
    python benchmarks/cells.py --quick         # lstm and gru at hidden 256, length 50
    python benchmarks/cells.py --device cuda   # GPU: peak memory from torch.cuda.max_memory_allocated
    python benchmarks/cells.py --inductor      # add torch.compile (inductor) of the eager step, compile time apart

Implementations: ``fused`` (``torch.nn.RNN/LSTM/GRU``), ``cells-eager`` (CellStack, autograd through the textbook
step), ``cells-compiled`` (CellStack with the TorchScript kernels and hand-derived BPTT; what ``model.compile=auto``
picks), and with ``--inductor`` ``cells-inductor`` (the eager loop with the step wrapped in ``torch.compile``).

Each (cell, hidden, length) runs in a fresh subprocess: one layer, unidirectional, input size = hidden, batch 32,
float32. A step is ``zero_grad(set_to_none)``, forward, ``out.sum().backward()``. Two warm-up steps per
implementation, then ``--repeats`` rounds in which each implementation runs a timed block of at least
``--min-time`` seconds, interleaved (A, B, C, A, B, C, ...); the best block of each is kept (the best, not the mean,
because other processes may share the CPU). tokens/s = batch * length / wall seconds per step; the JSON also has
the process CPU seconds per step.

Peak memory, CPU: the growth of the process's resident set (Linux ``VmHWM`` reset through ``/proc/self/clear_refs``)
during one step, after ``mallopt`` fixes glibc's mmap threshold at 64 KiB and ``malloc_trim`` returns free memory,
so that tensors are mapped and unmapped as they are allocated and freed. It counts activations saved for backward,
gradients and temporaries, not the parameters and input that exist before the step. CUDA:
``max_memory_allocated`` minus ``memory_allocated`` before the step.

Results: a table on stdout and JSON in ``benchmarks/results/cells.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, markdown_table, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMPLS = ("fused", "cells-eager", "cells-compiled")


def build(impl: str, mode: str, hidden: int, device: str):
    import torch
    from torch import nn

    from seqlab.models.cell_stack import CellStack

    if impl == "fused":
        return {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[mode](hidden, hidden, batch_first=True).to(device)
    if impl != "cells-inductor":
        return CellStack(mode, hidden, hidden, compiled=impl == "cells-compiled").to(device)

    class InductorStack(CellStack):
        """The eager loop with its step compiled by torch.compile (inductor)."""

        @property
        def step(self):
            if not hasattr(self, "_inductor_step"):
                self._inductor_step = torch.compile(CellStack.step.fget(self), dynamic=False)
            return self._inductor_step

    return InductorStack(mode, hidden, hidden).to(device)


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(spec: dict) -> list[dict]:
    """Measure every implementation of one (mode, hidden, length) in this process, timing blocks interleaved
    (impl A, B, C, A, B, C, ...) so that a change in the machine's load hits all of them alike."""
    import torch

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device, batch = spec["device"], spec["batch"]
    dtype = getattr(torch, spec.get("dtype", "float32"))
    x = torch.randn(batch, spec["length"], spec["hidden"], device=device, dtype=dtype, requires_grad=True)

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    def make_step(model):
        def step() -> None:
            model.zero_grad(set_to_none=True)
            x.grad = None
            out, _ = model(x)
            out.sum().backward()

        return step

    steps, warmup, iters = {}, {}, {}
    for impl in spec["impls"]:
        steps[impl] = make_step(build(impl, spec["mode"], spec["hidden"], device).to(dtype))
        start = time.perf_counter()
        for _ in range(2):
            steps[impl]()
        sync()
        warmup[impl] = time.perf_counter() - start
        start = time.perf_counter()
        steps[impl]()
        sync()
        iters[impl] = max(1, math.ceil(spec["min_time"] / max(time.perf_counter() - start, 1e-6)))
    best = {impl: float("inf") for impl in steps}
    best_cpu = dict(best)
    for _ in range(spec["repeats"]):
        for impl, step in steps.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(iters[impl]):
                step()
            sync()
            best[impl] = min(best[impl], (time.perf_counter() - start) / iters[impl])
            best_cpu[impl] = min(best_cpu[impl], (time.process_time() - start_cpu) / iters[impl])
    rows = []
    for impl, step in steps.items():
        peak_mib, method = peak_memory(step, device)
        rows.append(
            {
                **{k: spec[k] for k in ("mode", "hidden", "length", "batch", "device")},
                "dtype": str(dtype).removeprefix("torch."),
                "impl": impl,
                "seconds_per_step": best[impl],
                "tokens_per_s": batch * spec["length"] / best[impl],
                "cpu_seconds_per_step": best_cpu[impl],
                "iters_per_repeat": iters[impl],
                "warmup_s": warmup[impl],
                "peak_mib": peak_mib,
                "memory_method": method,
                "threads": torch.get_num_threads(),
            }
        )
    return rows


def peak_memory(step, device: str) -> tuple[float | None, str]:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20, "cuda max_memory_allocated delta"
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD: fixed, no dynamic growth
        gc.collect()
        libc.malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = rss_kib("VmRSS")
        step()
        return (rss_kib("VmHWM") - before) / 1024, "RSS high-water delta (VmHWM, mmap threshold 64 KiB)"
    except (OSError, RuntimeError) as exc:
        return None, f"unavailable ({exc})"


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model() or "unknown",
    }
    import torch

    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_one(spec: dict, timeout: float) -> list[dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return [{**spec, "impl": impl, "error": f"timed out after {timeout:.0f} s"} for impl in spec["impls"]]
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return [{**spec, "impl": impl, "error": tail[0][:300]} for impl in spec["impls"]]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    """Markdown table: one line per (cell, hidden, length), tokens/s and peak MiB per implementation."""
    impls = [i for i in (*IMPLS, "cells-inductor") if any(r["impl"] == i for r in rows)]
    head = ["cell", "H", "T"] + [f"{i} tok/s" for i in impls] + [f"{i} MiB" for i in impls]
    head += [f"fused/{i.removeprefix('cells-')}" for i in impls if i != "fused"]
    body = []
    keys = sorted({(r["mode"], r["hidden"], r["length"]) for r in rows}, key=lambda k: (IMPL_ORDER(k[0]), k[1], k[2]))
    for key in keys:
        by = {r["impl"]: r for r in rows if (r["mode"], r["hidden"], r["length"]) == key}
        cells = [key[0], str(key[1]), str(key[2])]
        cells += [f"{by[i]['tokens_per_s']:,.0f}" if "tokens_per_s" in by.get(i, {}) else "err" for i in impls]
        cells += [_mib(by.get(i, {}).get("peak_mib")) for i in impls]
        fused = by.get("fused", {}).get("tokens_per_s")
        for i in impls:
            if i != "fused":
                other = by.get(i, {}).get("tokens_per_s")
                cells.append(f"{fused / other:.2f}x" if fused and other else "-")
        body.append(cells)
    return markdown_table(head, body)


def IMPL_ORDER(mode: str) -> int:  # noqa: N802 - sort key for modes
    return ("rnn", "lstm", "gru").index(mode)


def _load(values: tuple[float, ...]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="lstm and gru, hidden 256, length 50")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--modes", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden", nargs="+", type=int, default=[128, 256, 512])
    parser.add_argument("--lengths", nargs="+", type=int, default=[50, 200])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks; the best is kept")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per timed block (at least one step)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--inductor", action="store_true", help="also time torch.compile of the eager step")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per measurement subprocess")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cells.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.quick:
        args.modes, args.hidden, args.lengths = ["lstm", "gru"], [256], [50]
    impls = [*IMPLS, "cells-inductor"] if args.inductor else list(IMPLS)
    meta = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "loadavg_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows = []
    for mode in args.modes:
        for hidden in args.hidden:
            for length in args.lengths:
                spec = {
                    "mode": mode,
                    "hidden": hidden,
                    "length": length,
                    "impls": impls,
                    "device": args.device,
                    "batch": args.batch,
                    "repeats": args.repeats,
                    "min_time": args.min_time,
                    "threads": args.threads,
                }
                for row in run_one(spec, args.timeout):
                    rows.append(row)
                    shown = row.get("error") or f"{row['tokens_per_s']:,.0f} tok/s, {_mib(row['peak_mib'])} MiB"
                    print(
                        f"{mode:4s} H={hidden:<4d} T={length:<4d} {row['impl']:15s} {shown}",
                        file=sys.stderr,
                        flush=True,
                    )
    meta["loadavg_end"] = os.getloadavg()
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    meta["memory_method"] = next((r["memory_method"] for r in rows if "memory_method" in r), None)
    write_json(args.out, {"meta": meta, "rows": rows})
    print(table(rows))
    info, threads = meta["machine"], rows[0].get("threads", "?") if rows else "?"
    print(
        f"\nmachine: {info['cpu_model']}, {info['cpus']} cpus, torch {info['torch']} ({threads} threads); "
        f"load average {_load(meta['loadavg_start'])} -> {_load(meta['loadavg_end'])}; JSON: {args.out}"
    )


if __name__ == "__main__":
    main()
