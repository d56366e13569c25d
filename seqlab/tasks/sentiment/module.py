"""The sentiment classifier: embedding -> sequence model (packed) -> pooling -> dropout -> linear -> softmax.

Loss: mean cross-entropy over reviews. Evaluation sums an exact confusion matrix ``C[true, predicted]`` and logs
``{val,test}/acc`` and ``{val,test}/f1_macro`` from it; at test end it writes ``confusion_matrix_test.png`` to the
run folder. Models with ``input_kind = "ids"`` (the bag-of-words baseline) read token ids instead of embeddings;
models with ``pooled = True`` (the baselines) summarize the sequence themselves, so ``task.pooling`` is not used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from seqlab import registry
from seqlab.data.batching import collate_labelled
from seqlab.data.tokenize import tokenize
from seqlab.data.vocab import Vocab
from seqlab.models.base import State
from seqlab.tasks.base import build_model
from seqlab.tasks.sentiment.data import encode_ids
from seqlab.tasks.sentiment.embeddings import load_word2vec_text
from seqlab.tasks.sentiment.metrics import accuracy, confusion_matrix, macro_f1, plot_confusion
from seqlab.tasks.sentiment.pooling import Pooling
from seqlab.training.loggers import log_image
from seqlab.training.metric_sums import Sums
from seqlab.training.tbptt import StepResult, TBPTTModule


class SentimentModule(TBPTTModule):
    """``vocab`` (list of tokens) and ``labels`` (class names) are saved in the checkpoint's hparams."""

    def __init__(self, config: DictConfig | dict, vocab: list[str], labels: list[str], pretrained: bool = True) -> None:
        super().__init__(config, vocab=list(vocab), labels=list(labels))
        self.vocab, self.labels = Vocab(vocab), list(labels)
        task = self.task
        self.reads_ids = getattr(registry.get_model(self.cfg.model.name), "input_kind", "embeddings") == "ids"
        if self.reads_ids:
            self.embedding = None
            self.encoder = build_model(self.job.model, len(self.vocab))
        else:
            self.embedding = nn.Embedding(len(self.vocab), task.embedding_dim, padding_idx=Vocab.pad_id)
            if task.embeddings.path and pretrained:
                load_word2vec_text(task.embeddings.path, self.vocab.stoi, self.embedding.weight.data)
            self.embedding.weight.requires_grad_(not task.embeddings.freeze)
            self.encoder = build_model(self.job.model, task.embedding_dim)
        self.pre_pooled = bool(getattr(self.encoder, "pooled", False))
        size = self.encoder.output_size
        self.pool = (
            None if self.pre_pooled else Pooling(task.pooling, size, self.encoder.bidirectional, task.attention_size)
        )
        self.dropout = nn.Dropout(task.dropout)
        self.head = nn.Linear(size, len(self.labels))
        self._confusion = Sums(len(self.labels) ** 2)  # the confusion matrix of one pass, flattened

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the trained embedding is in the state_dict: reloading must not need the word2vec file
        checkpoint["hyper_parameters"]["pretrained"] = False

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, classes)`` for padded ``ids (B, T)`` with valid ``lengths (B,)``."""
        x = ids if self.reads_ids else self.dropout(self.embedding(ids))
        out, state = self.encoder(x, lengths=lengths)
        features = out[:, 0] if self.pre_pooled else self.pool(out, state, lengths)
        return self.head(self.dropout(features))

    def _step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        ids, lengths, labels = batch
        logits = self(ids, lengths)
        return F.cross_entropy(logits, labels), logits, labels, int(lengths.sum())

    def train_chunk(self, chunk: Any, state: State) -> StepResult:
        loss, _, labels, tokens = self._step(chunk)
        return StepResult(loss=loss, count=labels.numel(), tokens=tokens)

    def eval_batch(self, batch: Any, state: State, stage: str) -> StepResult:
        loss, logits, labels, tokens = self._step(batch)
        cm = confusion_matrix(labels, logits.argmax(-1), len(self.labels))
        self._confusion.update(cm.flatten())
        return StepResult(loss=loss, count=labels.numel(), tokens=tokens)

    # ---- metrics -------------------------------------------------------------------------------------------
    def _eval_start(self) -> None:
        super()._eval_start()
        self._confusion.reset()

    def _eval_end(self, stage: str) -> dict[str, float]:
        metrics = super()._eval_end(stage)
        n = len(self.labels)
        cm = self._confusion.totals().reshape(n, n).round().long()  # summed over DDP ranks
        if cm.sum() == 0:
            return metrics
        metrics.update(acc=accuracy(cm), f1_macro=macro_f1(cm))
        self.log(f"{stage}/acc", metrics["acc"], prog_bar=True)
        self.log(f"{stage}/f1_macro", metrics["f1_macro"])
        self.last_confusion = cm
        if stage == "test" and self.trainer.is_global_zero and not self.trainer.sanity_checking:
            path = Path(self.trainer.default_root_dir) / "confusion_matrix_test.png"
            plot_confusion(cm, self.labels, path, title=f"{self.cfg.model.name} test")
            log_image(self.trainer, "confusion_matrix_test", path, self.trainer.global_step)
        return metrics

    # ---- prediction ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_texts(self, texts: list[str], batch_size: int = 64) -> list[tuple[str, float]]:
        """``(label, probability)`` of the most likely class for each text."""
        was_training = self.training
        self.eval()
        task = self.cfg.task
        results: list[tuple[str, float]] = []
        for start in range(0, len(texts), batch_size):
            items = [
                (encode_ids(tokenize(t, task.lowercase), self.vocab, task.max_len, task.truncate), 0)
                for t in texts[start : start + batch_size]
            ]
            ids, lengths, _ = collate_labelled(items)
            probs = torch.softmax(self(ids.to(self.device), lengths), dim=-1)
            best = probs.max(dim=-1)
            results += [(self.labels[int(i)], float(p)) for p, i in zip(best.values, best.indices)]
        self.train(was_training)
        return results
