"""Skip-gram with negative sampling (SGNS; Mikolov, Sutskever, Chen, Corrado, Dean 2013).

Each word has an input vector ``v_w`` (``in_embed``, the word vectors) and an output vector ``u_w``
(``out_embed``). For a (centre ``c``, context ``o``) pair with negatives ``n_1..n_K`` drawn from ``P_n``:

    L = -log sigma(u_o . v_c) - sum_k [n_k != o] log sigma(-u_{n_k} . v_c)

(a negative equal to the context word is skipped, as in word2vec.c), averaged over the pairs of a batch; val/test
loss is the same on held-out pairs with fixed negatives. Initialisation as word2vec.c: ``v ~ U(-0.5/d, 0.5/d)``,
``u = 0``. No sequence model is built: ``cfg.model`` is not used.

The held-out loss bottoms out epochs before the vectors stop improving (WikiText-2, 10 epochs: lowest val/loss at
epoch 6, whose vectors score 6.5% on analogies and 0.45 on WordSim353, against 9.0% and 0.51 at epoch 10), so
results.json scores the final vectors, while ``test/loss`` is, as in every task, that of the best checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from seqlab.data.vocab import Vocab
from seqlab.models.base import State
from seqlab.training.tbptt import StepResult, TBPTTModule
from seqlab.vectors import WordVectors, evaluate_all


class Word2VecModule(TBPTTModule):
    """``vocab`` (the list of words, specials first) is saved in the checkpoint's hparams."""

    def __init__(self, config: DictConfig | dict, vocab: list[str]) -> None:
        super().__init__(config, vocab=list(vocab))
        self.vocab = Vocab(vocab)
        dim = int(self.task.embedding_dim)
        self.in_embed = nn.Embedding(len(self.vocab), dim)
        self.out_embed = nn.Embedding(len(self.vocab), dim)
        with torch.no_grad():
            self.in_embed.weight.uniform_(-0.5 / dim, 0.5 / dim)
            self.out_embed.weight.zero_()

    def forward(self, centres: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """The mean SGNS loss of the pairs ``(centres (B,), contexts (B,))`` with ``negatives (B, K)``."""
        v = self.in_embed(centres)  # (B, d)
        u = self.out_embed(torch.cat([contexts[:, None], negatives], dim=1))  # (B, 1 + K, d)
        scores = torch.bmm(u, v[:, :, None]).squeeze(2)  # (B, 1 + K)
        positive = F.logsigmoid(scores[:, 0])
        negative = (F.logsigmoid(-scores[:, 1:]) * (negatives != contexts[:, None])).sum(1)
        return -(positive + negative).mean()

    def train_chunk(self, chunk: Any, state: State) -> StepResult:
        centres, contexts, negatives = chunk
        return StepResult(loss=self(centres, contexts, negatives), count=len(centres), tokens=len(centres))

    def eval_batch(self, batch: Any, state: State, stage: str) -> StepResult:
        centres, contexts, negatives = batch
        return StepResult(loss=self(centres, contexts, negatives), count=len(centres), tokens=len(centres))

    def word_vectors(self) -> WordVectors:
        """The input vectors ``v_w`` of the vocabulary (``<pad>`` and ``<unk>`` left out)."""
        return WordVectors(self.vocab.itos[2:], self.in_embed.weight[2:].detach().cpu().clone())

    def on_train_end(self) -> None:
        # the test reloads the best checkpoint by val/loss; the vectors to score are the final ones (last.ckpt)
        self._final_vectors = self.word_vectors()

    def extra_results(self) -> dict[str, Any]:
        """The analogy and word-similarity scores (seqlab.vectors.evaluate_all) of the final vectors, those of
        last.ckpt that ``python -m seqlab.embeddings ckpt_path=RUN`` reads, when ``task.evaluate`` and the files
        are there; rank 0 only (it alone writes results.json)."""
        trainer = self._trainer
        if not self.task.evaluate or (trainer is not None and not trainer.is_global_zero):
            return {}
        final = getattr(self, "_final_vectors", None)
        return evaluate_all(final if final is not None else self.word_vectors())
