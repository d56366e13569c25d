"""The rows of ``benchmarks/overhead.py``: for each task family, the seqlab overrides of its model and batches, the
loss a hand-written loop computes from the same model, and what a batch counts as tokens.

The plain loop calls the model the seqlab task builds (its ``nn.Module`` methods only: embedding, encoder, decoder,
output layer), so both sides train the same network; what differs is the framework around it (Lightning Trainer,
the TBPTT module's training step, seqlab's loaders, callbacks and metric sums)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from seqlab.data.vocab import Vocab

Loss = Callable[[Any, Any, Any], tuple[torch.Tensor, Any]]  # (module, batch, state) -> (mean loss, new state)


@dataclass(frozen=True)
class Row:
    """One task family: ``overrides`` compose its run; ``loss`` is the plain loop's step; ``tokens`` counts a batch
    the same way on both sides; ``goal`` is the ratio seqlab / plain it should reach."""

    name: str
    overrides: list[str]
    loss: Loss
    tokens: Callable[[Any], int]
    goal: float = 0.95


def lm_loss(module: Any, batch: Any, state: Any) -> tuple[torch.Tensor, Any]:
    """Language models: encoder outputs from the carried state, then the output layer's (full or adaptive) loss."""
    inputs, targets = batch
    out, state = module.hidden(inputs, state)
    return module.head.loss(out.reshape(-1, out.size(-1)), targets.reshape(-1)), state


def translate_loss(module: Any, batch: Any, state: Any) -> tuple[torch.Tensor, Any]:
    """Teacher-forced cross-entropy of the target tokens, padding excluded."""
    src, src_lengths, tgt, _ = batch
    logits = module(src, src_lengths, tgt[:, :-1])
    target = tgt[:, 1:].reshape(-1)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), target, ignore_index=Vocab.pad_id), None


def caption_loss(module: Any, batch: Any, state: Any) -> tuple[torch.Tensor, Any]:
    """Teacher-forced cross-entropy of the caption words plus the doubly stochastic attention penalty."""
    from seqlab.models.soft_attention_decoder import doubly_stochastic_penalty

    images, captions, _, _ = batch
    logits, attention = module(images, captions[:, :-1])
    target = captions[:, 1:]
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=Vocab.pad_id)
    weight = float(module.task.decoder.doubly_stochastic)
    if weight > 0 and attention is not None:
        loss = loss + weight * doubly_stochastic_penalty(attention, target != Vocab.pad_id, per_region=True)
    return loss, None


def sentiment_loss(module: Any, batch: Any, state: Any) -> tuple[torch.Tensor, Any]:
    """Cross-entropy of the review labels from the packed bi-LSTM's pooled features."""
    ids, lengths, labels = batch
    return F.cross_entropy(module(ids, lengths), labels), None


def _pair_tokens(batch: Any) -> int:
    return int(batch[1].sum()) + int((batch[2][:, 1:] != Vocab.pad_id).sum())


COMMON = [
    "logger=none",
    "trainer.limit_val_batches=0",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "optimizer.clip_grad_norm=5.0",
    "seed=0",
]
LSTM_WORD = ["model=lstm", "model.hidden_size=200", "model.num_layers=2", "task.embedding_dim=200"]


def word_corpus(scratch: Path) -> list[str]:
    """WikiText-2 from ``$SEQLAB_DATA_DIR`` when present, else a generated corpus written to ``scratch``."""
    data = Path(os.environ.get("SEQLAB_DATA_DIR", "data")) / "wikitext-2"
    if (data / "train.txt").is_file():
        return ["task.data.corpus=wikitext2"]
    generator = torch.Generator().manual_seed(0)
    words = [f"w{i}" for i in range(5000)]
    ranks = torch.multinomial(1.0 / torch.arange(1, 5001).float(), 200_000, True, generator=generator)  # Zipf
    lines = [" ".join(words[int(r)] for r in ranks[i : i + 20]) for i in range(0, len(ranks), 20)]
    path = scratch / "generated_words.txt"
    path.write_text("\n".join(lines) + "\n")
    return [f"task.data.path={path}"]


def rows(scratch: Path) -> dict[str, Row]:
    """Every row by name (``scratch`` holds a generated corpus if WikiText-2 is missing)."""
    words = word_corpus(scratch)
    return {
        "charlm": Row(
            "charlm",
            ["task=charlm", "model=lstm", "model.hidden_size=256", "model.num_layers=2", "task.batch_size=64"]
            + ["task.seq_len=100", "task.embedding_dim=64"],
            lm_loss,
            lambda b: b[0].numel(),
            goal=0.98,
        ),
        "wordlm_full": Row(
            "wordlm_full", ["task=wordlm", *words, *LSTM_WORD, "task.softmax=full"], lm_loss, lambda b: b[0].numel()
        ),
        "wordlm_adaptive": Row(
            "wordlm_adaptive",
            ["task=wordlm", *words, *LSTM_WORD, "task.softmax=adaptive"],
            lm_loss,
            lambda b: b[0].numel(),
        ),
        "translate": Row(
            "translate",
            ["task=translate_tutorial", "model=gru", "model.num_layers=1", "task.bridge=last"],
            translate_loss,
            _pair_tokens,
        ),
        "caption": Row(
            "caption",
            ["task=caption", "model=lstm", "model.num_layers=1", "task.data.scenes.num_train=1000"]
            + ["task.data.scenes.num_val=20", "task.data.scenes.num_test=20"],
            caption_loss,
            lambda b: int((b[1][:, 1:] != Vocab.pad_id).sum()),
        ),
        "sentiment": Row(
            "sentiment",
            ["task=sentiment_uci", "model=lstm", "model.bidirectional=true", "model.num_layers=1"]
            + ["model.hidden_size=128", "task.batch_size=32"],
            sentiment_loss,
            lambda b: int(b[1].sum()),
        ),
    }
