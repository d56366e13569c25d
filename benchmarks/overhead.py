"""seqlab's overhead: the same model, batch and sequence length trained by seqlab and by a hand-written loop.

Both read the same tiny Shakespeare stream (64 rows x 100 steps), run Embedding(64) -> LSTM(2 x 256) -> Linear,
Adam with global-norm clipping 5 and the hidden state carried and detached, in the same process. Rounds alternate
(plain, seqlab, plain, seqlab, ...) so load on the machine hits both alike; each timing skips warm-up batches and
covers batch start to batch end including data loading. Goal: seqlab at 0.98x the plain loop or better.

Usage: SEQLAB_DATA_DIR=../shared/data python benchmarks/overhead.py [steps=30] [warmup=5] [rounds=3]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, options, publish, seqlab_config  # noqa: E402

from seqlab.models.base import detach_state  # noqa: E402
from seqlab.tasks.charlm.data import CharVocab, read_corpus  # noqa: E402
from seqlab.training.stream import StreamBatches  # noqa: E402

BATCH, SEQ, EMB, HIDDEN, LAYERS = 64, 100, 64, 256, 2
SPEC = {"steps": (int, 30), "warmup": (int, 5), "rounds": (int, 3)}
COLUMNS = {
    "plain loop tok/s": "{plain_tok_s:,.0f}",
    "seqlab tok/s": "{seqlab_tok_s:,.0f}",
    "seqlab / plain (median of rounds)": "{ratio_median:.3f}",
}


def plain_loop(ids: torch.Tensor, vocab: int, steps: int, warmup: int) -> float:
    """Tokens/s of a hand-written PyTorch loop over the same stream."""
    torch.manual_seed(0)
    emb, rnn, head = nn.Embedding(vocab, EMB), nn.LSTM(EMB, HIDDEN, LAYERS, batch_first=True), nn.Linear(HIDDEN, vocab)
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=2e-3)
    state, start, tokens = None, None, 0
    stream = iter(StreamBatches(ids, BATCH, SEQ))
    for step in range(steps + warmup):
        if step == warmup:
            start, tokens = time.perf_counter(), 0
        x, y = next(stream)
        out, state = rnn(emb(x), state)
        loss = F.cross_entropy(head(out).reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        state = detach_state(state)
        tokens += x.numel()
    return tokens / (time.perf_counter() - start)


class _Timer(pl.Callback):
    """Wall time from the start of batch ``warmup`` to the end of the last batch."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.tokens = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx >= self.warmup:
            self.tokens += batch[0].numel()
            self.end = time.perf_counter()


def seqlab_loop(steps: int, warmup: int, corpus: Path) -> float:
    """Tokens/s of the same training through seqlab (config, TBPTT module, Lightning Trainer)."""
    from seqlab.tasks.charlm.task import CharLMTask
    from seqlab.training.trainer import build_trainer

    cfg = seqlab_config(
        [
            f"task.data.path={corpus}",
            "model=lstm",
            f"model.hidden_size={HIDDEN}",
            f"model.num_layers={LAYERS}",
            f"task.batch_size={BATCH}",
            f"task.seq_len={SEQ}",
            f"task.embedding_dim={EMB}",
            "logger=none",
            f"trainer.max_steps={steps + warmup}",
            "trainer.limit_val_batches=0",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "optimizer.clip_grad_norm=5.0",
            "seed=0",
        ],
        checked=True,
    )
    pl.seed_everything(0, verbose=False)
    module, data = CharLMTask.build(cfg)
    timer = _Timer(warmup)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_trainer(cfg, Path(tmp), extra_callbacks=[timer])
        trainer.fit(module, datamodule=data)
    return timer.tokens / (timer.end - timer.start)


def main(argv: list[str]) -> None:
    a = options(argv, SPEC, __doc__)
    steps, warmup, rounds = a["steps"], a["warmup"], a["rounds"]
    text, corpus = read_corpus(None)
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    plain, ours = [], []
    for r in range(rounds):
        plain.append(plain_loop(ids, len(vocab), steps, warmup))
        ours.append(seqlab_loop(steps, warmup, corpus))
        print(
            f"round {r}: plain {plain[-1]:,.0f} tok/s  seqlab {ours[-1]:,.0f} tok/s  ratio {ours[-1] / plain[-1]:.3f}",
            flush=True,
        )
    ratios = [o / p for o, p in zip(ours, plain)]
    row = {
        "plain_tok_s": statistics.median(plain),
        "seqlab_tok_s": statistics.median(ours),
        "ratio_median": statistics.median(ratios),
        "ratios": ratios,
    }
    publish(
        markdown_table(COLUMNS, [row]),
        "overhead",
        {
            "command": "python benchmarks/overhead.py " + " ".join(argv),
            "steps": steps,
            "warmup": warmup,
            "rounds": rounds,
            "machine": machine(),
            **row,
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
