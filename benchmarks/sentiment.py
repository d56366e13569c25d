"""IMDB benchmark: test accuracy / macro F1 of lstm, gru, bi-lstm and the two baselines (bag of words, 1D CNN).

Usage (budgets are epochs, not wall-clock):

    SEQLAB_DATA_DIR=/work/shared/data python benchmarks/sentiment.py \
        [models=bilstm,bow,cnn,lstm,gru] [epochs=2] [hidden=64] [emb=100] [max_len=200] [pooling=max] \
        [lr=0.002] [bow_lr=0.01] [batch=64] [seed=0] [threads=1] [out=benchmarks/results/sentiment] \
        [extra="key=value ..."]

Every run is a normal seqlab run (``python -m seqlab task=sentiment model=... ...``, run folder under
``out/runs/<name>``), tested on the 25k IMDB test reviews with its best-by-val/loss checkpoint. Writes
``out/summary.json`` (appending to earlier runs of the script) and ``out/table.md`` and prints the table.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, options, seqlab_config, write_json  # noqa: E402

from seqlab.run.job import run  # noqa: E402

SPEC = {
    "models": (str, "bilstm,bow,cnn,lstm,gru"),
    "epochs": (int, 2),
    "hidden": (int, 64),
    "emb": (int, 100),
    "max_len": (int, 200),
    "pooling": (str, "max"),
    "lr": (float, 0.002),
    "bow_lr": (float, 0.01),
    "batch": (int, 64),
    "seed": (int, 0),
    "threads": (int, 1),
    "out": (str, "benchmarks/results/sentiment"),
    "extra": (str, ""),
}
NAN = float("nan")
COLUMNS = {
    "model": "{name}",
    "params": "{trainable_parameters:,}",
    "epochs (steps)": "{epochs} ({optimizer_steps})",
    "test acc": lambda r: f"{r.get('test/acc', NAN):.4f}",
    "test macro F1": lambda r: f"{r.get('test/f1_macro', NAN):.4f}",
    "val acc": lambda r: f"{r.get('val/acc', NAN):.4f}",
    "fit s": "{fit_seconds:.0f}",
    "train tokens/s": "{tokens_per_second:.0f}",
}

# each benchmark name -> its model overrides
MODELS = {
    "bilstm": ["model=lstm", "model.bidirectional=true"],
    "lstm": ["model=lstm"],
    "gru": ["model=gru"],
    "bigru": ["model=gru", "model.bidirectional=true"],
    "bow": ["model=bow", "task.dropout=0.0"],
    "cnn": ["model=cnn", "task.dropout=0.5"],
}


def overrides(a: dict, name: str) -> list[str]:
    """The command line of one run (as ``python -m seqlab`` takes it)."""
    recurrent = name not in ("bow", "cnn")
    lr = a["bow_lr"] if name == "bow" else a["lr"]
    rnn = [f"model.hidden_size={a['hidden']}", "model.num_layers=1", f"task.pooling={a['pooling']}"]
    return [
        "task=sentiment",
        *MODELS[name],
        *(rnn if recurrent else []),
        f"task.embedding_dim={a['emb']}",
        f"task.max_len={a['max_len']}",
        f"task.batch_size={a['batch']}",
        f"optimizer.lr={lr}",
        f"trainer.max_epochs={a['epochs']}",
        f"seed={a['seed']}",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        *a["extra"].split(),
    ]


def run_one(a: dict, name: str, root: Path) -> dict:
    args = overrides(a, name)
    results = run(seqlab_config(args), root / "runs" / name)
    return {"name": name, "command": "python -m seqlab " + " ".join(args), **results}


def main(argv: list[str]) -> None:
    a = options(argv, SPEC, __doc__)
    torch.set_num_threads(a["threads"])  # on a shared 2-core machine one thread per run is much faster
    root = Path(a["out"])
    summary_path = root / "summary.json"
    previous = json.loads(summary_path.read_text())["runs"] if summary_path.is_file() else []
    rows = []
    for name in a["models"].split(","):
        started = time.time()
        row = {**run_one(a, name, root), "args": a, "run_wall_seconds": time.time() - started}
        rows.append(row)
        print(f"{name}: test/acc={row.get('test/acc', NAN):.4f} fit {row['fit_seconds']:.0f}s", flush=True)
        done = {r["name"] for r in rows}
        merged = [r for r in previous if r["name"] not in done] + rows
        summary = {
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "runs": merged,
        }
        write_json(summary_path, summary)
        (root / "table.md").write_text(markdown_table(COLUMNS, merged) + "\n")
    print(markdown_table(COLUMNS, rows))


if __name__ == "__main__":
    main(sys.argv[1:])
