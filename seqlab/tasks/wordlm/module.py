"""The word LM: the shared language model (seqlab/tasks/language_model.py) over a word vocabulary, with a
lookup-table or character-aware input, and its input vectors offered as word vectors you can query.

Text <-> ids: a text's lines are its words followed by ``<eos>``; generated ``<eos>`` is a newline. A word outside
the vocabulary reads as ``<unk>``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from seqlab.config.job import JobConfig
from seqlab.data.vocab import Vocab
from seqlab.data.word_corpus import EOS
from seqlab.models.char_words import CharAwareEmbedding
from seqlab.tasks.language_model import LanguageModelModule
from seqlab.vectors import WordVectors, evaluate_all

log = logging.getLogger(__name__)


class WordCodec:
    """Words <-> ids; ``<eos>`` ends every line."""

    separator = " "

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def encode(self, text: str) -> torch.Tensor:
        lines = text.split("\n")
        tokens: list[str] = []
        for i, line in enumerate(lines):
            tokens.extend(line.split())
            if i < len(lines) - 1:
                tokens.append(EOS)
        return self.vocab.encode(tokens or [EOS])

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        words = self.vocab.decode(ids)
        text = " ".join(words).replace(f" {EOS} ", "\n").replace(f"{EOS} ", "\n").replace(f" {EOS}", "\n")
        return text.replace(EOS, "\n")


class WordLMModule(LanguageModelModule):
    """``vocab`` is the word list (ids = positions), saved in the checkpoint's hparams."""

    unit = "word"

    def __init__(self, config: JobConfig | DictConfig | dict, vocab: list[str]) -> None:
        super().__init__(config, vocab, WordCodec(Vocab(list(vocab))))

    def make_embedding(self, vocab: list[str]) -> nn.Module:
        task = self.task
        if task.word_input == "chars":
            return CharAwareEmbedding.from_words(vocab, task.char_words)
        return nn.Embedding(len(vocab), task.embedding_dim)

    # ---- word vectors ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def word_vectors(self) -> WordVectors:
        """The input embedding of every vocabulary word (specials left out); a char-aware model embeds any word."""
        words = [w for w in self.codec.vocab.itos if not (w.startswith("<") and w.endswith(">"))]
        if isinstance(self.embedding, CharAwareEmbedding):
            embedding = self.embedding
            was = embedding.training
            embedding.eval()
            matrix = embedding.embed_words(words).cpu()
            embedding.train(was)
            return WordVectors(words, matrix, embed=lambda ws: _embed_eval(embedding, ws))
        ids = torch.tensor([self.codec.vocab.stoi[w] for w in words])
        return WordVectors(words, self.embedding.weight[ids].detach().cpu())

    def extra_results(self) -> dict[str, Any]:
        """Analogy accuracy and word-similarity correlations of the input vectors (when the files are present)."""
        if not self.task.evaluate_embeddings or not self.trainer.is_global_zero:
            return {}
        scores = evaluate_all(self.word_vectors())
        return {f"embeddings/{k}": v for k, v in scores.items()}


@torch.no_grad()
def _embed_eval(embedding: CharAwareEmbedding, words: list[str]) -> torch.Tensor:
    was = embedding.training
    embedding.eval()
    try:
        return embedding.embed_words(words).cpu()
    finally:
        embedding.train(was)
