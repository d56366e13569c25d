"""Sunspots benchmark: test MASE of rnn/lstm/gru forecasters beside the naive and seasonal-naive baselines.

Usage (budgets are epochs, not wall-clock):

    SEQLAB_DATA_DIR=/work/shared/data python benchmarks/forecast.py \
        [models=rnn,lstm,gru] [seeds=0,1,2] [epochs=150] [hidden=64] [layers=1] [lr=0.003] [input_len=22] \
        [horizon=1] [mode=direct] [threads=1] [out=benchmarks/results/forecast] [extra="key=value key=value"] \
        [reuse=false]

Every run is a normal seqlab run (``python -m seqlab task=forecast model=... ...``, run folder under
``out/runs/``), tested with its best-by-val/loss checkpoint. Writes ``out/summary.json`` and ``out/table.md`` and
prints the table. ``reuse=true`` takes a finished run's results.json instead of training it again (to complete
an interrupted benchmark). MASE = test MAE / (train one-step naive MAE); see docs/forecast.md.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, markdown_table, options, seqlab_config, write_json  # noqa: E402

from seqlab.run.job import run  # noqa: E402

SPEC = {
    "models": (str, "rnn,lstm,gru"),
    "seeds": (str, "0,1,2"),
    "epochs": (int, 150),
    "hidden": (int, 64),
    "layers": (int, 1),
    "lr": (float, 0.003),
    "input_len": (int, 22),
    "horizon": (int, 1),
    "mode": (str, "direct"),
    "series": (str, "sunspots"),
    "threads": (int, 1),
    "out": (str, "benchmarks/results/forecast"),
    "extra": (str, ""),
    "reuse": (bool, False),
}


HEAD = [
    "forecaster",
    "params",
    "epochs (steps)",
    "test MASE (mean ± sd over seeds)",
    "per seed",
    "test MAE",
    "test RMSE",
    "fit s/run",
]


def overrides(a: dict, model: str, seed: int) -> list[str]:
    """The command line of one run (as ``python -m seqlab`` takes it)."""
    return [
        "task=forecast",
        f"model={model}",
        f"task.data.series={a['series']}",
        f"task.input_len={a['input_len']}",
        f"task.horizon={a['horizon']}",
        f"task.mode={a['mode']}",
        f"model.hidden_size={a['hidden']}",
        f"model.num_layers={a['layers']}",
        f"optimizer.lr={a['lr']}",
        f"trainer.max_epochs={a['epochs']}",
        f"seed={seed}",
        "logger=none",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        *a["extra"].split(),
    ]


def run_one(a: dict, model: str, seed: int, root: Path) -> dict:
    args = overrides(a, model, seed)
    cfg = seqlab_config(args)
    run_dir = root / "runs" / f"{model}_seed{seed}"
    done = run_dir / "results.json"
    results = json.loads(done.read_text()) if a["reuse"] and done.is_file() else run(cfg, run_dir)
    return {"model": model, "seed": seed, "command": "python -m seqlab " + " ".join(args), **results}


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def table(rows: list[dict], a: dict) -> str:
    lines = []
    for model in a["models"].split(","):
        runs = [r for r in rows if r["model"] == model]
        if not runs:
            continue
        mase = [r["test/mase"] for r in runs]
        lines.append(
            [
                f"{model} (hidden {a['hidden']}, {a['layers']} layer)",
                runs[0]["trainable_parameters"],
                f"{runs[0]['epochs']} ({runs[0]['optimizer_steps']})",
                _fmt(mase),
                ", ".join(f"{m:.3f}" for m in mase),
                _fmt([r["test/mae"] for r in runs]),
                _fmt([r["test/rmse"] for r in runs]),
                f"{statistics.mean(r['fit_seconds'] for r in runs):.0f}",
            ]
        )
    first = rows[0]
    for name, key in (("naive (last value)", "naive"), ("seasonal naive (m = season)", "seasonal_naive")):
        errors = [f"{first[f'test/{key}_{metric}']:.3f}" for metric in ("mase", "mae", "rmse")]
        lines.append([name, 0, "-", errors[0], "-", *errors[1:], "-"])
    return markdown_table(HEAD, lines)


def main(argv: list[str]) -> None:
    a = options(argv, SPEC, __doc__)
    torch.set_num_threads(a["threads"])  # on a shared 2-core machine one thread per run is much faster
    root = Path(a["out"])
    rows = []
    started = time.time()
    for model in a["models"].split(","):
        for seed in (int(s) for s in a["seeds"].split(",")):
            row = run_one(a, model, seed, root)
            rows.append(row)
            print(
                f"{model} seed {seed}: test/mase={row['test/mase']:.3f} val/mase={row['val/mase']:.3f} "
                f"fit {row['fit_seconds']:.0f}s",
                flush=True,
            )
    text = table(rows, a)
    summary = {
        "args": a,
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs visible",
        "torch_threads": a["threads"],
        "wall_seconds": time.time() - started,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "runs": rows,
    }
    write_json(root / "summary.json", summary)
    (root / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
