"""Start-up time of seqlab's command line: how long a typo, a config error, ``--help`` and the plugin listing take
to answer, and the peak memory (RSS) of each process.

Each command runs as a fresh process (``python -m ...``) in an empty temporary folder, once untimed (disk cache),
then ``runs`` times; rounds alternate between the commands so load on the machine hits all alike. The time is wall
time from start to exit, median of the runs; the peak RSS is the largest ``ru_maxrss`` of the process over the runs
(``os.wait4``). A config error on a 4 x 4096 bidirectional LSTM (4 GB of weights if built) must answer in under 2 s
and 500 MB on a quiet machine: validation builds models on the meta device (seqlab/config/dry_build.py).
``import pytorch_lightning`` is the yardstick: what every command cost before the heavy imports were moved out of
the way; ``import torch`` is the floor of a config error found by validation (pre-flight imports torch for the meta
build, never Lightning). ``root=DIR`` times another checkout (e.g. a ``git worktree`` of an older commit) with the
same Python, through PYTHONPATH.

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
    "config error on a 4 x 4096 bidirectional LSTM (`python -m seqlab model.hidden_size=4096 model.num_layers=4 "
    "model.bidirectional=true`)": (
        ["-m", "seqlab", "model.hidden_size=4096", "model.num_layers=4", "model.bidirectional=true"],
        2,
    ),
    "capability mismatch (`python -m seqlab model=bow`: no per-step output for charlm)": (
        ["-m", "seqlab", "model=bow"],
        2,
    ),
    "`python -m seqlab --help`": (["-m", "seqlab", "--help"], 0),
    "`python -m seqlab.plugins`": (["-m", "seqlab.plugins"], 0),
    'for comparison: `python -c "import pytorch_lightning"`': (["-c", "import pytorch_lightning"], 0),
    'for comparison: `python -c "import torch"` (the floor of a check that builds a model on meta)': (
        ["-c", "import torch"],
        0,
    ),
}


def time_once(args: list[str], expected: int, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from start to exit of ``python ARGS`` and its peak RSS in MB; raises when it exits with another code
    than ``expected``."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != expected:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"python {' '.join(args)} exited {proc.returncode}, not {expected}:\n{tail}")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str]) -> None:
    a = options(argv, SPEC, __doc__)
    runs = a["runs"]
    # as a user's Python: bytecode is cached on the untimed first run (this sandbox sets PYTHONDONTWRITEBYTECODE=1,
    # which would make every timed run compile seqlab's modules from source)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"WANDB_MODE": "disabled"}
    if a["root"]:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(a["root"]).resolve()), env.get("PYTHONPATH")) if p)
    times: dict[str, list[float]] = {label: [] for label in COMMANDS}
    peak_mb: dict[str, float] = dict.fromkeys(COMMANDS, 0.0)
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
                seconds, rss_mb = time_once(cmd, expected, Path(tmp), env)
                if r:  # the first round warms the disk cache
                    times[label].append(seconds)
                    peak_mb[label] = max(peak_mb[label], rss_mb)
            if r:
                print(f"round {r}: " + "  ".join(f"{t[-1]:.2f}" for t in times.values()), file=sys.stderr, flush=True)
    rows = [
        {
            "command": label,
            "median_s": statistics.median(t),
            "min_s": min(t),
            "max_s": max(t),
            "peak_rss_mb": peak_mb[label],
            "runs": t,
        }
        for label, t in times.items()
    ]
    columns = {
        "command": "{command}",
        f"median s (of {runs})": "{median_s:.2f}",
        "min s": "{min_s:.2f}",
        "max s": "{max_s:.2f}",
        "peak RSS MB": "{peak_rss_mb:.0f}",
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
