"""Word LM data: a corpus's train/valid/test token streams (``<eos>`` per line), a vocabulary built on train, and
per-rank stream batches (the same :class:`~seqlab.training.stream.StreamBatches` as the char LM)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader

from seqlab.data.vocab import Vocab
from seqlab.data.word_corpus import WordCorpus, load_word_corpus
from seqlab.training.ddp import RankAwareData, rank_and_world
from seqlab.training.stream import StreamBatches

SPLITS = ("train", "valid", "test")


class WordDataModule(RankAwareData):
    """Reads the corpus once (``prepare``), then serves per-rank stream batches of word ids.

    The vocabulary is the training split's words (``min_freq``, ``max_size``); rarer words and words never seen in
    train read as ``<unk>`` (WikiText-2 and PTB already write ``<unk>`` themselves, and their valid and test words
    all occur in train). Id 0 is ``<pad>``, which no stream contains: the model learns to give it no probability.
    """

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab: Vocab | None = None
        self.ids: dict[str, torch.Tensor] = {}
        self.corpus: WordCorpus | None = None
        self.unknown_share: dict[str, float] = {}

    def prepare(self) -> Vocab:
        """Read and encode the corpus (needed before the model is built)."""
        if self.vocab is None:
            data = self.cfg.data
            corpus = load_word_corpus(data.corpus, data.path, data.val_fraction, data.test_fraction)
            vocab = Vocab.build([corpus.train], self.cfg.vocab.max_size, self.cfg.vocab.min_freq)
            for split in SPLITS:
                tokens = corpus.split(split)
                ids = vocab.encode(tokens)
                self.ids[split] = ids
                self.unknown_share[split] = float((ids == Vocab.unk_id).float().mean())
            self.corpus, self.vocab = corpus, vocab
        return self.vocab

    def _loader(self, split: str) -> DataLoader:
        self.prepare()
        rank, world = rank_and_world(self.trainer)
        name = {"valid": "val"}.get(split, split)
        stream = StreamBatches(self.ids[split], self.cfg.batch_size, self.cfg.seq_len, rank, world, name)
        if split == "train":
            self.shard = stream.shard
        return DataLoader(stream, batch_size=None)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
