"""Start-up time of seqlab's command line: how long a typo, ``--help`` and the plugin listing take to answer.

Each command runs as a fresh process (``python -m ...``) in an empty temporary folder, once untimed (disk cache),
then ``runs`` times; rounds alternate between the commands so load on the machine hits all alike. The time is wall
time from start to exit, median of the runs. ``import pytorch_lightning`` is the yardstick: what every command
cost before the heavy imports were moved out of the way. ``root=DIR`` times another checkout (e.g. a
``git worktree`` of an older commit) with the same Python, through PYTHONPATH.

Usage: python benchmarks/startup.py [runs=5] [root=DIR] [name=startup]
Prints a Markdown table and writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, publish  # noqa: E402

SPEC = {"runs": (int, 5), "root": (str, None), "name": (str, "startup")}

COMMANDS = {  # label -> (arguments after ``python``, expected exit code)
    "bad option (`python -m seqlab model=lstmx`)": (["-m", "seqlab", "model=lstmx"], 2),
    "unknown key (`python -m seqlab model.hiden_size=3`)": (["-m", "seqlab", "model.hiden_size=3"], 2),
    "`python -m seqlab --help`": (["-m", "seqlab", "--help"], 0),
    "`python -m seqlab.plugins`": (["-m", "seqlab.plugins"], 0),
    'for comparison: `python -c "import pytorch_lightning"`': (["-c", "import pytorch_lightning"], 0),
}


def time_once(args: list[str], expected: int, cwd: Path, env: dict[str, str]) -> float:
    """Seconds from start to exit of ``python ARGS``; raises when it exits with another code than ``expected``."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    if proc.returncode != expected:
        raise RuntimeError(f"python {' '.join(args)} exited {proc.returncode}, not {expected}:\n{proc.stderr[-2000:]}")
    return seconds


def main(argv: list[str]) -> None:
    a = options(argv, SPEC, __doc__)
    runs = a["runs"]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    if a["root"]:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(a["root"]).resolve()), env.get("PYTHONPATH")) if p)
    times: dict[str, list[float]] = {label: [] for label in COMMANDS}
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        where = subprocess.run(
            [sys.executable, "-c", "import seqlab; print(seqlab.__file__)"],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"seqlab from {where}", file=sys.stderr)
        for r in range(runs + 1):
            for label, (cmd, expected) in COMMANDS.items():
                seconds = time_once(cmd, expected, Path(tmp), env)
                if r:  # the first round warms the disk cache
                    times[label].append(seconds)
            if r:
                print(f"round {r}: " + "  ".join(f"{t[-1]:.2f}" for t in times.values()), file=sys.stderr, flush=True)
    rows = [
        {"command": label, "median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "runs": t}
        for label, t in times.items()
    ]
    columns = {
        "command": "{command}",
        f"median s (of {runs})": "{median_s:.2f}",
        "min s": "{min_s:.2f}",
        "max s": "{max_s:.2f}",
    }
    load = {"start": load_start, "end": os.getloadavg()}
    averages = "; ".join(f"{k} {' '.join(f'{x:.2f}' for x in v)}" for k, v in load.items())
    publish(
        markdown_table(columns, rows) + f"\n\nload average (1, 5, 15 min): {averages}; seqlab from {where}",
        a["name"],
        {
            "command": "python benchmarks/startup.py " + " ".join(argv),
            "seqlab": where,
            "runs": runs,
            "load_average": load,
            "machine": machine(),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
