"""Word LM benchmark on WikiText-2 (or PTB): test perplexity of a 2 x 200 LSTM untied / tied / adaptive softmax /
AWD-style regularization / char-aware words, GRU and a Transformer, each under the same wall-clock budget.

Usage:

    SEQLAB_DATA_DIR=/work/shared/data python benchmarks/wordlm.py \
        [rows=untied,tied,adaptive,awd,chars,gru,transformer,word2vec,ptb_small] [minutes=10] [corpus=wikitext2] \
        [threads=1] [lr=0.002] [out=benchmarks/results/wordlm] [extra="key=value ..."]

pytorch/examples' word_language_model setup: batch 20, 35 steps of carried state (full BPTT per batch), 2 layers of
200, dropout 0.2 between layers; Adam (lr 2e-3, clip 0.25) instead of its SGD lr 20, since a wall-clock budget of
minutes rewards a fast optimizer. Each row trains ``minutes`` minutes (``trainer.max_time``; whole epochs where they
fit), validating every 1,000 steps on 50 batches and at the end, then tests its best checkpoint on the whole test
stream. ``word2vec`` trains the SGNS baseline (task=word2vec, its defaults) for the embedding table. ``ptb_small`` is
Zaremba et al.'s small PTB configuration with its own optimizer and schedule (see ``ptb_small``), ``minutes`` its cap.
Writes ``out/summary.json`` (with each row's validation perplexity curve) and ``out/table.md`` and prints the table.
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
    "rows": (str, "untied,tied,adaptive,awd,chars,gru,transformer"),
    "minutes": (int, 10),
    "corpus": (str, "wikitext2"),
    "threads": (int, 1),
    "lr": (float, 0.002),
    "out": (str, "benchmarks/results/wordlm"),
    "extra": (str, ""),
}
LSTM = ["model=lstm", "model.hidden_size=200", "model.num_layers=2", "model.dropout=0.2", "task.embedding_dim=200"]
ROWS = {
    "untied": LSTM,
    "tied": [*LSTM, "task.tie_weights=true"],
    "adaptive": [*LSTM, "task.softmax=adaptive"],
    "awd": [
        *LSTM,
        "task.tie_weights=true",
        "model.weight_drop=0.3",
        "model.input_dropout=0.3",
        "model.output_dropout=0.3",
        "task.embedding_dropout=0.1",
        "task.ar=2.0",
        "task.tar=1.0",
    ],
    # the encoder and word-input comparisons run on the adaptive softmax: with a full softmax the output layer takes
    # most of a CPU step, and a minutes budget would compare output layers rather than encoders
    "chars": [*LSTM, "task.softmax=adaptive", "task.word_input=chars", "task.char_words.output_dim=200"],
    "gru": [
        "model=gru",
        "model.hidden_size=235",  # 9h^2 + 612h = the 2 x 200 LSTM's 643,200 encoder weights
        "model.num_layers=2",
        "model.dropout=0.2",
        "task.embedding_dim=200",
        "task.softmax=adaptive",
    ],
    "transformer": [
        "task.softmax=adaptive",
        "model=transformer",
        "model.hidden_size=200",
        "model.num_layers=2",
        "model.num_heads=4",
        "model.ffn_size=400",
        "model.dropout=0.2",
        "task.embedding_dim=200",
    ],
}
NAN = float("nan")
COLUMNS = {
    "row": "{name}",
    "params": "{trainable_parameters:,}",
    "minutes": lambda r: f"{r['fit_seconds'] / 60:.1f}",
    "epochs (steps)": "{epochs} ({optimizer_steps})",
    "tokens/s": "{tokens_per_second:,.0f}",
    "val ppl": lambda r: f"{r.get('val/ppl', NAN):.1f}",
    "test ppl": lambda r: f"{r.get('test/ppl', NAN):.1f}",
    "analogy acc": lambda r: f"{_vec(r, 'analogy/accuracy'):.3f}",
    "WS353 rho": lambda r: f"{_vec(r, 'wordsim353/spearman'):.3f}",
    "SimLex rho": lambda r: f"{_vec(r, 'simlex999/spearman'):.3f}",
}


def _vec(row: dict, key: str) -> float:
    """A word-vector score: ``embeddings/<key>`` for a word LM, ``<key>`` for word2vec."""
    return row.get(f"embeddings/{key}", row.get(key, NAN))


def ptb_small(a: dict) -> list[str]:
    """Zaremba et al.'s small PTB model: 2 x 200 LSTM, no dropout, batch 20 x 20, SGD lr 1 halved every epoch after
    the fourth, clip 5, weights uniform in [-0.1, 0.1], 13 epochs (or ``minutes``, whichever ends first), validated
    on the whole valid set per epoch.

    Their loss is summed over the 20 time steps (averaged over the batch); seqlab's is the mean per token, whose
    gradient is 20 times smaller. The same updates are lr 20 and a clip of 5 / 20 = 0.25 on the mean loss (the values
    pytorch/examples uses), so those are what this row sets."""
    from seqlab.data.word_corpus import load_word_corpus

    epoch_steps = -(-((len(load_word_corpus("ptb", None).train) - 1) // 20) // 20)
    return [
        "task=wordlm",
        "task.data.corpus=ptb",
        *LSTM[:3],
        "model.dropout=0.0",
        "task.embedding_dim=200",
        "task.batch_size=20",
        "task.seq_len=20",
        "task.init_range=0.1",
        "optimizer=sgd",
        "optimizer.lr=20.0",  # = lr 1 on the loss summed over seq_len=20 steps
        "optimizer.clip_grad_norm=0.25",  # = a clip of 5 on that summed loss
        "optimizer.schedule=step",
        f"optimizer.step_size={epoch_steps}",
        f"optimizer.decay_start={3 * epoch_steps}",
        "trainer.max_epochs=13",
        f"trainer.max_time=00:00:{a['minutes']:02d}:00",
        "eval.val_batches=null",
        "task.sample.every_n_val=0",
        f"hardware.threads={a['threads']}",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        *a["extra"].split(),
    ]


def overrides(a: dict, name: str) -> list[str]:
    if name == "ptb_small":
        return ptb_small(a)
    if name == "word2vec":  # the word-vector baseline on the same corpus (its own defaults: ~10 epochs, ~10 minutes)
        return [
            "task=word2vec",
            f"task.data.corpus={a['corpus']}",
            f"hardware.threads={a['threads']}",
            "logger=csv",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            *a["extra"].split(),
        ]
    return [
        "task=wordlm",
        *ROWS[name],
        f"task.data.corpus={a['corpus']}",
        f"optimizer.lr={a['lr']}",
        "optimizer.clip_grad_norm=0.25",
        "trainer.max_epochs=100",
        f"trainer.max_time=00:00:{a['minutes']:02d}:00",
        "trainer.val_check_interval=1000",
        "trainer.check_val_every_n_epoch=null",
        "eval.val_batches=50",
        "task.sample.every_n_val=0",
        f"hardware.threads={a['threads']}",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        *a["extra"].split(),
    ]


def main(argv: list[str]) -> None:
    from seqlab.report.runs import curve, read_run
    from seqlab.run.job import run

    a = options(argv, SPEC, __doc__)
    torch.set_num_threads(a["threads"])
    root = Path(a["out"])
    summary_path = root / "summary.json"
    previous = json.loads(summary_path.read_text())["rows"] if summary_path.is_file() else []
    rows: list[dict] = []
    for name in [r for r in a["rows"].split(",") if r]:
        args = overrides(a, name)
        started = time.time()
        results = run(seqlab_config(args), root / "runs" / name)
        row = {"name": name, "command": "python -m seqlab " + " ".join(args), **results}
        row["run_wall_seconds"] = time.time() - started
        row["val_ppl_curve"] = curve(read_run(root / "runs" / name), "val/ppl")
        rows.append(row)
        done = {r["name"] for r in rows}
        merged = [r for r in previous if r["name"] not in done] + rows
        write_json(summary_path, {"machine": machine(), "args": a, "rows": merged})
        (root / "table.md").write_text(markdown_table(COLUMNS, merged) + "\n")
        print(markdown_table(COLUMNS, [row]), flush=True)
    print(markdown_table(COLUMNS, rows))


if __name__ == "__main__":
    main(sys.argv[1:])
