"""Translation benchmark on the PyTorch tutorial's subset (task=translate_tutorial, French -> English, 11,445 pairs,
one seeded split by source sentence for every row): test BLEU and chrF (sacrebleu, every reference of a source),
greedy and beam search, parameters and training time.

Usage:

    SEQLAB_DATA_DIR=/work/shared/data python benchmarks/translate.py \
        [rows=none,none_rev,bahdanau,luong,bahdanau_s1,bahdanau_s2] [epochs=10] [hidden=256] [lr=0.002] \
        [beam=5] [threads=1] [full=false] [full_minutes=30] [out=benchmarks/results/translate] [extra="k=v ..."]

Each row is a normal run (``python -m seqlab task=translate_tutorial model=gru ...``, folder ``out/runs/<row>``):
a one-layer GRU encoder and a one-layer GRU decoder (hidden 256, the encoder's last state handed over as is,
``task.bridge=last``), trained ``epochs`` epochs with Adam; its best-by-val/loss checkpoint is then decoded on the
whole test split greedily and with beam search (``beam``, GNMT alpha 0.6). The ``ensemble`` row decodes with the
three Bahdanau seeds together (log-probabilities averaged per step). ``full=true`` adds one row on the whole corpus
(task=translate, English -> French, 135,842 pairs) trained for ``full_minutes``. Writes ``out/summary.json`` and
``out/table.md`` and prints the table.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, seqlab_config, write_json  # noqa: E402

SPEC = {
    "rows": (str, "none,none_rev,bahdanau,luong,bahdanau_s1,bahdanau_s2"),
    "epochs": (int, 10),
    "hidden": (int, 256),
    "lr": (float, 0.002),
    "beam": (int, 5),
    "threads": (int, 1),
    "full": (bool, False),
    "full_minutes": (int, 30),
    "out": (str, "benchmarks/results/translate"),
    "extra": (str, ""),
}
ROWS = {
    "none": ["task.decoder.attention=none"],
    "none_rev": ["task.decoder.attention=none", "task.reverse_source=true"],
    "bahdanau": ["task.decoder.attention=bahdanau"],
    "luong": ["task.decoder.attention=luong_general"],
    "bahdanau_s1": ["task.decoder.attention=bahdanau", "seed=1"],
    "bahdanau_s2": ["task.decoder.attention=bahdanau", "seed=2"],
}
ENSEMBLE = ("bahdanau", "bahdanau_s1", "bahdanau_s2")
NAN = float("nan")
COLUMNS = {
    "row": "{name}",
    "attention": "{attention}",
    "reversed": "{reverse}",
    "params": lambda r: f"{r['params']:,}" if r.get("params") else "-",
    "epochs (steps)": lambda r: f"{r['epochs']} ({r['steps']})" if r.get("steps") else "-",
    "test BLEU greedy": lambda r: f"{r.get('bleu_greedy', NAN):.2f}",
    "test BLEU beam": lambda r: f"{r.get('bleu_beam', NAN):.2f}",
    "test chrF greedy": lambda r: f"{r.get('chrf_greedy', NAN):.2f}",
    "test chrF beam": lambda r: f"{r.get('chrf_beam', NAN):.2f}",
    "val ppl": lambda r: f"{r.get('val_ppl', NAN):.2f}",
    "fit min": lambda r: f"{r['fit_seconds'] / 60:.1f}" if r.get("fit_seconds") else "-",
}


def common(a: dict) -> list[str]:
    h = a["hidden"]
    return [
        "model=gru",
        f"model.hidden_size={h}",
        "model.num_layers=1",
        f"task.decoder.hidden_size={h}",
        "task.bridge=last",
        f"task.decode.beam_size={a['beam']}",
        f"optimizer.lr={a['lr']}",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        f"hardware.threads={a['threads']}",
    ]


def evaluate(run_dirs: list[Path], beam: int) -> dict:
    """Test BLEU/chrF of the best checkpoints of ``run_dirs`` (one model or an ensemble): greedy and beam."""
    from seqlab.checkpoint import load_module
    from seqlab.tasks.translate.data import TranslationDataModule
    from seqlab.tasks.translate.decode import check_members, decode_batch
    from seqlab.tasks.translate.scoring import score

    members = [load_module(_best(d)) for d in run_dirs]
    check_members(members)
    data = TranslationDataModule(members[0].task)
    data.prepare()
    items = data.references("test")
    out: dict = {"test_sources": len(items)}
    for label, method in (("greedy", "greedy"), ("beam", "beam")):
        decode = dataclasses.replace(members[0].task.decode, method=method, beam_size=beam)
        started = time.time()
        texts = [t.text for t in decode_batch(members, [i.ids for i in items], decode)]
        scores = score(texts, [i.references for i in items])
        out |= {
            f"bleu_{label}": scores.bleu,
            f"chrf_{label}": scores.chrf,
            f"decode_seconds_{label}": time.time() - started,
            "signature": scores.bleu_signature,
            "chrf_signature": scores.chrf_signature,
        }
    return out


def _best(run_dir: Path) -> Path:
    found = sorted((run_dir / "checkpoints").glob("best-*.ckpt"))
    return found[-1] if found else run_dir


def train(name: str, overrides: list[str], root: Path) -> dict:
    from seqlab.run.job import run

    started = time.time()
    results = run(seqlab_config(overrides), root / "runs" / name)
    return {
        "name": name,
        "command": "python -m seqlab " + " ".join(overrides),
        "params": results["trainable_parameters"],
        "epochs": results["epochs"],
        "steps": results["optimizer_steps"],
        "fit_seconds": results["fit_seconds"],
        "val_ppl": results.get("val/perplexity"),
        "run_test_bleu": results.get("test/bleu"),
        "wall_seconds": time.time() - started,
    }


def main(argv: list[str]) -> None:
    a = options(argv, SPEC, __doc__)
    torch.set_num_threads(a["threads"])
    root = Path(a["out"])
    summary_path = root / "summary.json"
    import json

    previous = json.loads(summary_path.read_text())["rows"] if summary_path.is_file() else []
    rows: list[dict] = []

    def save(row: dict) -> None:
        rows.append(row)
        done = {r["name"] for r in rows}
        merged = [r for r in previous if r["name"] not in done] + rows
        write_json(summary_path, {"machine": machine(), "args": a, "rows": merged})
        (root / "table.md").write_text(markdown_table(COLUMNS, merged) + "\n")
        print(markdown_table(COLUMNS, [row]), flush=True)

    for name in [r for r in a["rows"].split(",") if r]:
        overrides = ["task=translate_tutorial", *common(a), *ROWS[name], f"trainer.max_epochs={a['epochs']}"]
        overrides += a["extra"].split()
        row = train(name, overrides, root)
        attention = next(o.split("=")[1] for o in ROWS[name] if o.startswith("task.decoder.attention"))
        row |= {"attention": attention, "reverse": "task.reverse_source=true" in ROWS[name]}
        save(row | evaluate([root / "runs" / name], a["beam"]))
    if all((root / "runs" / n / "checkpoints").is_dir() for n in ENSEMBLE):
        row = {"name": "ensemble_3", "attention": "bahdanau", "reverse": False, "members": list(ENSEMBLE)}
        save(row | evaluate([root / "runs" / n for n in ENSEMBLE], a["beam"]))
    if a["full"]:
        overrides = [
            "task=translate",
            *common(a),
            "task.decoder.attention=bahdanau",
            "trainer.max_epochs=100",
            f"trainer.max_time=00:00:{a['full_minutes']:02d}:00",
            *a["extra"].split(),
        ]
        row = train("full_corpus", overrides, root) | {"attention": "bahdanau", "reverse": False}
        save(row | evaluate([root / "runs" / "full_corpus"], a["beam"]))
    print(markdown_table(COLUMNS, rows))


if __name__ == "__main__":
    main(sys.argv[1:])
