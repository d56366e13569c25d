"""Captioning benchmark on the generated scenes (task=caption, the default set: 5,000 training images of one or two
shapes, held-out (colour, shape) pairs never seen in training): Show and Tell (no attention) against Show, Attend
and Tell (soft attention), each decoded greedily and with beam search, scored on the seen and the held-out test
images.

Usage:

    python benchmarks/caption.py [rows=none,soft,soft_zero] [epochs=10] [hidden=128] [beam=3] [threads=1] \
        [out=benchmarks/results/caption] [extra="key=value ..."] [train=false]

Each row is a normal run (``python -m seqlab task=caption model=lstm ...``, folder ``out/runs/<row>``) whose best
checkpoint then captions every test image greedily and with beam search. Columns: BLEU-4 and CIDEr-D (coco-caption
definitions) on seen and held-out images, the share of captions naming exactly the right attribute words, and with
attention the attention mass inside the box of the object being named (and "chance", what uniform attention would
get on the same words). ``soft_zero`` starts the decoder from zeros rather than from the mean of the grid, so the
image reaches it only through attention; ``soft_zero_free`` also drops the doubly stochastic penalty.
``train=false`` scores finished runs again without training. Writes ``out/summary.json`` and ``out/table.md`` and
prints the table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, seqlab_config, write_json  # noqa: E402

SPEC = {
    "rows": (str, "none,soft"),
    "epochs": (int, 10),
    "hidden": (int, 128),
    "beam": (int, 3),
    "threads": (int, 1),
    "out": (str, "benchmarks/results/caption"),
    "extra": (str, ""),
    "train": (bool, True),
}
NAN = float("nan")


def _f(key: str, digits: int = 3):
    return lambda r: f"{r.get(key, NAN):.{digits}f}"


COLUMNS = {
    "row": "{name}",
    "decoding": "{decoding}",
    "params": "{params:,}",
    "fit min": lambda r: f"{r['fit_seconds'] / 60:.1f}",
    "BLEU-4 seen": _f("seen_bleu4"),
    "BLEU-4 held-out": _f("heldout_bleu4"),
    "CIDEr-D seen": _f("seen_cider", 2),
    "CIDEr-D held-out": _f("heldout_cider", 2),
    "attributes seen": _f("seen_attributes"),
    "attributes held-out": _f("heldout_attributes"),
    "attention in box": _f("attention_in_box"),
    "chance": _f("attention_in_box_chance"),
}
ROWS = {  # row name -> its decoder keys
    "none": ["task.decoder.attention=none"],
    "soft": ["task.decoder.attention=soft"],
    # the image reaches the decoder only through attention: no h_0 from the mean of the grid
    "soft_zero": ["task.decoder.attention=soft", "task.decoder.init=zero"],
    # and without the doubly stochastic penalty, which pulls every region's total attention towards the same value
    "soft_zero_free": ["task.decoder.attention=soft", "task.decoder.init=zero", "task.decoder.doubly_stochastic=0"],
}


def overrides(a: dict, name: str) -> list[str]:
    return [
        "task=caption",
        "model=lstm",
        f"model.hidden_size={a['hidden']}",
        "model.num_layers=1",
        *ROWS[name],
        f"task.decode.beam_size={a['beam']}",
        f"trainer.max_epochs={a['epochs']}",
        f"hardware.threads={a['threads']}",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        *a["extra"].split(),
    ]


def main(argv: list[str]) -> None:
    from seqlab.checkpoint import load_module
    from seqlab.run.job import run
    from seqlab.tasks.caption.data import CaptionDataModule

    a = options(argv, SPEC, __doc__)
    torch.set_num_threads(a["threads"])
    root = Path(a["out"])
    rows: list[dict] = []
    chosen = "none" if a["rows"] is None else a["rows"]  # key=value reads a lone "none" as null
    for name in [r for r in chosen.split(",") if r]:
        args = overrides(a, name)
        started = time.time()
        folder = root / "runs" / name
        if a["train"]:
            results = run(seqlab_config(args), folder)
        else:  # score the finished run again (after a change to the scoring)
            results = json.loads((folder / "results.json").read_text())
        module = load_module(results["best_checkpoint"] or folder)
        data = CaptionDataModule(module.task)
        items = data.references("test")
        base = {
            "name": name,
            "command": "python -m seqlab " + " ".join(args),
            "params": results["trainable_parameters"],
            "fit_seconds": results["fit_seconds"],
            "run_wall_seconds": time.time() - started,
            "test_images": len(items),
        }
        for decoding, method in (("greedy", "greedy"), (f"beam {a['beam']}", "beam")):
            scores = module.score_images(items, method=method, beam_size=a["beam"])
            row = {**base, "decoding": decoding, **scores}
            rows.append(row)
            print(markdown_table(COLUMNS, [row]), flush=True)
        write_json(root / "summary.json", {"machine": machine(), "args": a, "rows": rows})
        (root / "table.md").write_text(markdown_table(COLUMNS, rows) + "\n")
    print(markdown_table(COLUMNS, rows))
    json.dumps(rows, default=str)


if __name__ == "__main__":
    main(sys.argv[1:])
