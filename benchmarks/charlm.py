"""Train the default char LM (LSTM, 2 x 256) on tiny Shakespeare for an epoch budget; record val loss, bpc, tokens/s.

Usage: SEQLAB_DATA_DIR=../shared/data python benchmarks/charlm.py [epochs=3] [model=lstm] [key=value ...]
Extra key=value pairs are seqlab overrides. Prints a table and writes benchmarks/results/charlm.json.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, publish, seqlab_config  # noqa: E402

from seqlab.run.job import run  # noqa: E402


def main(argv: list[str]) -> None:
    epochs = next((int(a.split("=")[1]) for a in argv if a.startswith("epochs=")), 3)
    overrides = [a for a in argv if not a.startswith("epochs=")]
    # budget=long: the issue-2 settings (64 x 100, constant lr 2e-3, a validation per epoch), not the 5-minute default
    overrides = [
        "budget=long",
        "logger=csv",
        "trainer.max_steps=-1",
        f"trainer.max_epochs={epochs}",
        "trainer.val_check_interval=1.0",
        "trainer.enable_progress_bar=false",
        "task.sample.length=300",
        *overrides,
    ]
    cfg = seqlab_config(overrides, checked=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = run(cfg, Path(tmp) / "run")
    row = {
        k: results[k]
        for k in (
            "model",
            "trainable_parameters",
            "optimizer_steps",
            "epochs",
            "val/loss",
            "val/bpc",
            "test/loss",
            "test/bpc",
            "tokens_per_second",
            "fit_seconds",
        )
    }
    publish(
        markdown_table(list(row), [[f"{v:.4g}" if isinstance(v, float) else v for v in row.values()]]),
        "charlm",
        {
            "command": "python benchmarks/charlm.py " + " ".join(argv),
            "overrides": overrides,
            "machine": machine(),
            "results": row,
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
