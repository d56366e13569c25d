"""The config schema of task ``sentiment``: the reviews (a bundled source or a CSV/TSV), the vocabulary and
embeddings, truncation, pooling and batches."""

from __future__ import annotations

from dataclasses import dataclass, field

TRUNCATIONS = ("head", "tail")


@dataclass
class SentimentDataConfig:
    source: str = "imdb"
    path: str | None = None
    test_path: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    delimiter: str | None = None
    header: bool = True
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 1234
    max_examples: int | None = None


@dataclass
class VocabConfig:
    max_size: int | None = 25000
    min_freq: int = 2


@dataclass
class EmbeddingsConfig:
    path: str | None = None
    freeze: bool = False


@dataclass
class SentimentConfig:
    name: str = "sentiment"
    data: SentimentDataConfig = field(default_factory=SentimentDataConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    lowercase: bool = True
    max_len: int = 400
    truncate: str = "head"
    embedding_dim: int = 100
    embeddings: EmbeddingsConfig = field(default_factory=EmbeddingsConfig)
    pooling: str = "last"
    attention_size: int = 64
    dropout: float = 0.3
    batch_size: int = 64
    bucket_batches: int = 50
    tbptt_steps: int | None = None
