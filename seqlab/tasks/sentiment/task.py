"""Task ``sentiment``: the checks of its config (config.py) and the module/data pair."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.errors import ConfigError
from seqlab.models.capabilities import Needs
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.sentiment.config import TRUNCATIONS, SentimentConfig
from seqlab.tasks.sentiment.inference import SentimentInference
from seqlab.tasks.sentiment.pooling import POOLINGS
from seqlab.tasks.sentiment.sources import SOURCES

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.tasks.sentiment.data import SentimentDataModule
    from seqlab.tasks.sentiment.module import SentimentModule


class SentimentTask(Task):
    """Many-to-one classification of a text (movie review) into one of the training labels."""

    Config = SentimentConfig
    module_class = "seqlab.tasks.sentiment.module:SentimentModule"  # imported when first read (seqlab/tasks/base.py)
    inference = SentimentInference
    causal = False
    needs = Needs(per_step=False, inputs=("embeddings", "ids"))  # pooled baselines and bag-of-words serve too

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        super().check(cfg)
        task = task_config(cfg)
        if task.data.source not in SOURCES:
            raise ConfigError("task.data.source", f"unknown source '{task.data.source}'", allowed=SOURCES)
        if task.pooling not in POOLINGS:
            raise ConfigError("task.pooling", f"unknown pooling '{task.pooling}'", allowed=POOLINGS)
        if task.truncate not in TRUNCATIONS:
            raise ConfigError("task.truncate", f"unknown truncation '{task.truncate}'", allowed=TRUNCATIONS)
        if task.tbptt_steps is not None:
            raise ConfigError(
                "task.tbptt_steps",
                "a review is classified from its whole packed sequence, so sentiment trains with full BPTT",
                allowed=[None],
            )
        for key in ("max_len", "embedding_dim", "batch_size", "bucket_batches", "attention_size"):
            if getattr(task, key) < 1:
                raise ConfigError(f"task.{key}", f"must be >= 1, got {getattr(task, key)}")
        if not 0.0 <= task.dropout < 1.0:
            raise ConfigError("task.dropout", f"must be in [0, 1), got {task.dropout}")
        if task.vocab.min_freq < 1 or (task.vocab.max_size is not None and task.vocab.max_size < 1):
            raise ConfigError("task.vocab", "min_freq must be >= 1 and max_size >= 1 or null")
        if task.data.max_examples is not None and task.data.max_examples < 4:
            raise ConfigError("task.data.max_examples", f"must be >= 4 or null, got {task.data.max_examples}")

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[SentimentModule, SentimentDataModule]:
        from seqlab.tasks.sentiment.data import SentimentDataModule
        from seqlab.tasks.sentiment.module import SentimentModule

        data = SentimentDataModule(task_config(cfg))
        vocab, labels = data.prepare()
        return SentimentModule(cfg, vocab.itos, labels), data
