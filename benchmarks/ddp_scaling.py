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
from _common import machine, markdown_table, options, publish  # noqa: E402

SPEC = {"steps": (int, 40), "accelerator": (str, "cpu"), "devices": (str, "1,2")}
COLUMNS = {
    "devices": "{devices}",
    "threads/rank": "{threads_per_rank}",
    "tokens/s (all ranks)": "{tokens_per_second:,.0f}",
    "speed-up": "{speedup:.2f}x",
    "fit s": "{fit_seconds:.1f}",
}


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
    a = options(argv, SPEC, __doc__)
    rows = [run_once(int(d), a["steps"], a["accelerator"]) for d in a["devices"].split(",")]
    for row in rows:
        row["speedup"] = row["tokens_per_second"] / rows[0]["tokens_per_second"]
    publish(
        markdown_table(COLUMNS, rows),
        f"ddp_scaling_{a['accelerator']}",
        {"command": "python benchmarks/ddp_scaling.py " + " ".join(argv), "machine": machine(), "rows": rows},
    )


if __name__ == "__main__":
    main(sys.argv[1:])
