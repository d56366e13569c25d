"""Long-range dependencies: rnn / lstm / gru on the adding problem and the copy task, a fixed step budget each.

    python benchmarks/long_range.py                    # adding T in {50,100,200}, copy delay in {10,50,100}
    python benchmarks/long_range.py --steps 100 --quick   # adding T=50 and copy delay 10 only
    python benchmarks/long_range.py --tasks seqdigits --merge  # 8x8 digits read pixel by pixel (T=64)

Every (task, length, model) is one seqlab run (``seqlab.run.job.run``, the same code as ``python -m seqlab``) with
``callbacks=grad_flow``: one layer of ``--hidden`` units, Adam (``--lr``, clip_grad_norm 1.0), batch ``--batch-size``,
``--steps`` optimizer steps (one epoch over ``steps * batch`` seeded training sequences), full BPTT, then
validation and test on 500 fixed sequences each. Reported: adding, test MSE (always answering 1.0 scores 1/6 ~ 0.167);
copy (L=``--length`` symbols of K=8), test per-symbol accuracy on the copied part (chance 1/8 = 0.125);
seqdigits (scikit-learn's 8x8 digits, one pixel per step, T=64), test accuracy (chance 0.1), ``--steps`` optimizer
steps over as many epochs of its ~1250 training images as that takes.

Results: a markdown table on stdout and in ``benchmarks/results/long_range.{md,json}``; gradient-flow curves
(||dL/dh_t|| of one batch at step 1 and at the end, normalized by its value at the last step) of every
(task, length) in ``docs/img/long_range_<task>_<len>.png``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, seqlab_config, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# model variants: name -> overrides (lstm-fb1: forget-gate bias 1, Jozefowicz et al. 2015)
VARIANTS = {
    "rnn": ["model=rnn"],
    "lstm": ["model=lstm"],
    "gru": ["model=gru"],
    "lstm-fb1": ["model=lstm", "model.forget_bias=1.0"],
}


def configs(quick: bool, length: int, tasks: list[str]) -> list[tuple[str, int, list[str]]]:
    adding = [50] if quick else [50, 100, 200]
    copy = [10] if quick else [10, 50, 100]
    out = (
        [("adding", t, ["task=adding", f"task.seq_len={t}"]) for t in adding]
        + [("copy", d, ["task=copy", f"task.delay={d}", f"task.length={length}", "task.vocab=8"]) for d in copy]
        + [("seqdigits", 64, ["task=seqdigits", "task.mode=pixels"])]
    )
    return [c for c in out if c[0] in tasks]


def one_run(task_overrides: list[str], variant: str, args: argparse.Namespace, run_dir: Path) -> dict:
    from seqlab.errors import TrainingDiverged
    from seqlab.run.job import run

    synthetic = task_overrides[0] != "task=seqdigits"  # adding/copy: one epoch of fresh sequences
    sizes = (
        [
            f"task.data.train_size={args.steps * args.batch_size}",
            "task.data.val_size=500",
            "task.data.test_size=500",
            "trainer.max_epochs=1",
        ]
        if synthetic
        else ["trainer.max_epochs=null"]
    )
    overrides = [
        *task_overrides,
        *VARIANTS[variant],
        f"model.hidden_size={args.hidden}",
        "model.num_layers=1",
        f"task.batch_size={args.batch_size}",
        *sizes,
        f"optimizer.lr={args.lr}",
        "optimizer.clip_grad_norm=1.0",
        f"trainer.max_steps={args.steps}",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "logger=none",
        "callbacks=grad_flow",
        f"callbacks.grad_flow.every_n_steps={args.steps}",
        "callbacks.grad_flow.max_batch_size=32",
    ]
    cfg = seqlab_config(overrides)
    started = time.time()
    try:
        results = run(cfg, run_dir)
    except TrainingDiverged as exc:
        results = {"diverged": str(exc)}
    results["seconds"] = time.time() - started
    return results


def grad_flow_curves(run_dir: Path) -> dict[int, list[float]]:
    if not (run_dir / "grad_flow").is_dir():
        return {}
    return {
        int(p.stem.split("_")[1]): json.loads(p.read_text())["time_norms"]
        for p in sorted((run_dir / "grad_flow").glob("step_*.json"))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--length", type=int, default=5, help="copy: symbols to recall")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tasks", nargs="+", default=["adding", "copy"], choices=["adding", "copy", "seqdigits"])
    parser.add_argument("--models", nargs="+", default=["rnn", "lstm", "gru"], choices=list(VARIANTS))
    parser.add_argument("--merge", action="store_true", help="add to the rows of an earlier long_range.json")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "long_range")
    parser.add_argument("--img", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from seqlab.training.grad_flow_plot import plot_curves

    rows = []
    for task, length, task_overrides in configs(args.quick, args.length, args.tasks):
        for model in args.models:
            res = one_run(task_overrides, model, args, args.out / f"{task}_{length}_{model}")
            metric = "test/mse" if task == "adding" else "test/acc"
            row = {
                "task": task,
                "length": length,
                "model": model,
                "metric": metric,
                "value": res.get(metric),
                "val": res.get(metric.replace("test/", "val/")),
                "seconds": round(res["seconds"], 1),
                "diverged": res.get("diverged"),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    saved = args.out.parent / "long_range.json"
    if args.merge and saved.is_file():
        new_keys = {(r["task"], r["length"], r["model"]) for r in rows}
        rows = [
            r for r in json.loads(saved.read_text())["rows"] if (r["task"], r["length"], r["model"]) not in new_keys
        ] + rows
    for task, length in sorted({(r["task"], r["length"]) for r in rows}):
        curves = {
            f"{model} (step {step})": norms
            for model in VARIANTS
            for step, norms in grad_flow_curves(args.out / f"{task}_{length}_{model}").items()
        }
        if curves:
            label = "delay" if task == "copy" else "T"
            plot_curves(
                curves,
                args.img / f"long_range_{task}_{length}.png",
                f"{task}, {label}={length}: gradient flow at the first and the last step",
            )
    table = markdown(rows)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out.parent / "long_range.md").write_text(table)
    meta = {
        "argv": sys.argv[1:],
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": args.threads,
        "rows": rows,
    }
    write_json(saved, meta)


def markdown(rows: list[dict]) -> str:
    models = [m for m in VARIANTS if any(r["model"] == m for r in rows)]
    order = {"adding": 0, "copy": 1, "seqdigits": 2}
    body = []
    for task, length in sorted({(r["task"], r["length"]) for r in rows}, key=lambda k: (order[k[0]], k[1])):
        cells = []
        for model in models:
            r = next((r for r in rows if (r["task"], r["length"], r["model"]) == (task, length, model)), None)
            if r is None:
                cells.append("-")
            elif r["diverged"]:
                cells.append("diverged")
            else:
                cells.append(f"{r['value']:.3f} ({r['seconds']:.0f}s)")
        what, baseline = {
            "adding": (f"T={length}, test MSE", "0.167"),
            "copy": (f"delay={length}, test acc", "0.125"),
            "seqdigits": (f"pixels T={length}, test acc", "0.100"),
        }[task]
        body.append([task, what, *cells, baseline])
    return markdown_table(["task", "length", *models, "baseline"], body) + "\n"


if __name__ == "__main__":
    main()
