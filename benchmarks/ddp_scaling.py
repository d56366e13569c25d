"""Training throughput of the char LM with 1 vs 2 DDP processes (CPU here; GPUs with `accelerator=gpu`).

Each configuration runs through the real CLI (`python -m seqlab hardware=...`) so the DDP launch is the one users
get; tokens/s is summed over ranks (time inside training batches). On CPU each rank gets cores/devices threads
(OMP_NUM_THREADS), so 1 and 2 processes use the same cores.

Usage: SEQLAB_DATA_DIR=../shared/data python benchmarks/ddp_scaling.py [steps=40] [accelerator=cpu] [devices=1,2]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402


def run_once(devices: int, steps: int, accelerator: str) -> dict:
    threads = max(1, (os.cpu_count() or 1) // devices) if accelerator == "cpu" else 1
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "disabled"}
    strategy = "ddp" if devices > 1 else "auto"
    args = [
        sys.executable,
        "-m",
        "seqlab",
        f"trainer.accelerator={accelerator}",
        f"trainer.devices={devices}",
        f"trainer.strategy={strategy}",
        f"trainer.max_steps={steps}",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "trainer.enable_progress_bar=false",
        "task.sample.every_n_val=0",
        "logger=none",
    ]
    if accelerator == "gpu":
        args.append("trainer.precision=bf16-mixed")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(args, cwd=tmp, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        (results,) = Path(tmp).glob("outputs/**/results.json")
        data = json.loads(results.read_text())
    return {
        "devices": devices,
        "threads_per_rank": threads,
        "tokens_per_second": data["tokens_per_second"],
        "tokens_seen": data["tokens_seen"],
        "fit_seconds": data["fit_seconds"],
    }


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv)
    steps, accelerator = int(args.get("steps", 40)), args.get("accelerator", "cpu")
    rows = [run_once(int(d), steps, accelerator) for d in args.get("devices", "1,2").split(",")]
    base = rows[0]["tokens_per_second"]
    print("| devices | threads/rank | tokens/s (all ranks) | speed-up | fit s |\n|---|---|---|---|---|")
    for row in rows:
        row["speedup"] = row["tokens_per_second"] / base
        print(
            f"| {row['devices']} | {row['threads_per_rank']} | {row['tokens_per_second']:,.0f} | "
            f"{row['speedup']:.2f}x | {row['fit_seconds']:.1f} |"
        )
    path = write_results(
        f"ddp_scaling_{accelerator}",
        {"command": "python benchmarks/ddp_scaling.py " + " ".join(argv), "machine": machine(), "rows": rows},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
