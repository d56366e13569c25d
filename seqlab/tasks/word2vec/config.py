"""The config schema of task ``word2vec``: the corpus, the vocabulary and skip-gram's window, negatives and
subsampling."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Word2VecDataConfig:
    corpus: str = "wikitext2"
    path: str | None = None
    val_fraction: float = 0.05
    test_fraction: float = 0.05


@dataclass
class Word2VecVocabConfig:
    min_freq: int = 5
    max_size: int | None = None


@dataclass
class Word2VecConfig:
    name: str = "word2vec"
    data: Word2VecDataConfig = field(default_factory=Word2VecDataConfig)
    vocab: Word2VecVocabConfig = field(default_factory=Word2VecVocabConfig)
    embedding_dim: int = 100
    window: int = 5
    negatives: int = 5
    subsample: float = 1e-3
    noise_power: float = 0.75
    batch_size: int = 16384
    evaluate: bool = True
