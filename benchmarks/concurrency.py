"""Two seqlab runs at once on one machine: tokens/s with torch's default threads vs ``hardware.threads=auto``.

Three scenarios through the real CLI (`python -m seqlab model=lstm task=charlm trainer.max_steps=N ...`, batches of
64 x 100 characters), each run in its own folder, the two runs of a pair started together with no launcher and no
OMP_NUM_THREADS:

- one run alone (``hardware.threads=auto``: alone it takes every core, as torch would);
- two together with ``hardware.threads=torch`` (torch's default: every run takes every core; seqlab before auto);
- two together with ``hardware.threads=auto`` (the runs find each other and share the cores).

tokens/s is each run's ``tokens_per_second`` (results.json: time inside training batches); "together" is the sum.
Goal: two auto runs together reach at least 0.9x the tokens/s of one run alone.

Usage: SEQLAB_DATA_DIR=../shared/data python benchmarks/concurrency.py [steps=40] [torch_steps=40] [quiet=0.8]
(torch_steps: the steps of the torch-default pair, which can run ~20x slower on a small machine, so fewer may do;
quiet: before each scenario wait, up to 10 minutes, for a 1-minute load below this and no other seqlab run
registered)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, publish  # noqa: E402

from seqlab.training.threads import Registry  # noqa: E402

SPEC = {"steps": (int, 40), "torch_steps": (int, None), "quiet": (float, 0.8)}
COLUMNS = {
    "runs at once": "{runs}",
    "hardware.threads": "{threads}",
    "steps": "{steps}",
    "tokens/s per run": lambda row: " / ".join(f"{r['tokens_per_second']:,.0f}" for r in row["per_run"]),
    "tokens/s together": "{together:,.0f}",
    "vs one alone": "{vs_alone:.2f}x",
    "load before / after": "{load_before:.2f} / {load_after:.2f}",
}
# the char LM of issue 2 (embedding 64, LSTM 2 x 256), pinned to its 64 x 100-character batches: the batch of the
# figures in issue 12, whatever the default budget's batch is
ARGS = [
    "model=lstm",
    "task=charlm",
    "task.batch_size=64",
    "task.seq_len=100",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "task.sample.every_n_val=0",
    "logger=none",
]


def wait_quiet(load: float, limit_s: float = 600.0) -> None:
    """Wait until the 1-minute load is below ``load`` and no other seqlab run is registered (or ``limit_s``)."""
    deadline = time.time() + limit_s
    while time.time() < deadline and (os.getloadavg()[0] >= load or Registry().entries()):
        time.sleep(5)


def _logged(text: str, marker: str) -> list[str]:
    return [line.split(" - ", 1)[-1] for line in text.splitlines() if marker in line]


def run_together(count: int, threads: str, steps: int) -> dict:
    """Start ``count`` runs at once; wait for all; their tokens/s and what seqlab logged about threads."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["WANDB_MODE"] = "disabled"
    load, others = os.getloadavg()[0], len(Registry().entries())
    with tempfile.TemporaryDirectory() as tmp:
        procs, started = [], time.time()
        for i in range(count):
            cwd = Path(tmp) / str(i)
            cwd.mkdir()
            log = (cwd / "log.txt").open("w")
            cmd = [sys.executable, "-m", "seqlab", *ARGS, f"trainer.max_steps={steps}", f"hardware.threads={threads}"]
            procs.append((subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT), cwd, log))
        runs = []
        for proc, cwd, log in procs:
            proc.wait()
            log.close()
            text = (cwd / "log.txt").read_text()
            if proc.returncode != 0:
                raise SystemExit(text[-3000:])
            (results,) = cwd.glob("outputs/**/results.json")
            data = json.loads(results.read_text())
            runs.append(
                {
                    "tokens_per_second": data["tokens_per_second"],
                    "fit_seconds": data["fit_seconds"],
                    "thread_changes": _logged(text, "torch threads ("),
                    "busy_warning": _logged(text, "machine busy"),
                }
            )
        wall = time.time() - started
    return {
        "runs": count,
        "threads": threads,
        "steps": steps,
        "load_before": round(load, 2),
        "other_seqlab_runs_before": others,
        "load_after": round(os.getloadavg()[0], 2),
        "wall_seconds": wall,
        "per_run": runs,
        "together": sum(r["tokens_per_second"] for r in runs),
    }


def main(argv: list[str]) -> None:
    a = options(argv, SPEC, __doc__)
    steps = a["steps"]
    torch_steps = steps if a["torch_steps"] is None else a["torch_steps"]
    rows = []
    for count, threads, n in [(1, "auto", steps), (2, "torch", torch_steps), (2, "auto", steps)]:
        wait_quiet(a["quiet"])
        rows.append(run_together(count, threads, n))
    for row in rows:
        row["vs_alone"] = row["together"] / rows[0]["together"]
    goal = rows[2]["vs_alone"] >= 0.9
    publish(
        markdown_table(COLUMNS, rows)
        + f"\ngoal (two auto runs together >= 0.9x one alone): {'met' if goal else 'NOT met'}",
        "concurrency",
        {
            "command": "python benchmarks/concurrency.py " + " ".join(argv),
            "machine": machine(),
            "rows": rows,
            "goal_met": goal,
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
