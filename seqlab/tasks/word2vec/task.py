"""Task ``word2vec``: skip-gram with negative sampling, a word-vector baseline without a sequence model."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from omegaconf import DictConfig

from seqlab.data.word_corpus import CORPORA
from seqlab.errors import ConfigError
from seqlab.models.capabilities import Needs
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.inference import WordVectorInference
from seqlab.tasks.word2vec.config import Word2VecConfig
from seqlab.training.tbptt_check import check_positive

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.tasks.word2vec.data import Word2VecDataModule
    from seqlab.tasks.word2vec.module import Word2VecModule


log = logging.getLogger(__name__)


class Word2VecTask(Task):
    """Word vectors from (centre, context) pairs. It builds no encoder, so every ``model`` option is accepted and
    left unused (``uses_encoder = False``; results.json's ``model_parameters`` is null)."""

    Config = Word2VecConfig
    module_class = "seqlab.tasks.word2vec.module:Word2VecModule"  # imported when first read (seqlab/tasks/base.py)
    inference = WordVectorInference
    uses_encoder: ClassVar[bool] = False
    needs = Needs(per_step=False, inputs=("embeddings", "ids"))  # nothing: any model passes, and none is built

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        super().check(cfg)
        task = task_config(cfg)
        check_positive(task, "embedding_dim", "window", "negatives", "batch_size")
        check_positive(task.vocab, "min_freq", prefix="task.vocab")
        if task.vocab.max_size is not None:
            check_positive(task.vocab, "max_size", prefix="task.vocab")
        if task.data.path is None and task.data.corpus not in CORPORA:
            raise ConfigError("task.data.corpus", f"unknown corpus '{task.data.corpus}'", allowed=sorted(CORPORA))
        if not 0 <= task.subsample < 1:
            raise ConfigError("task.subsample", f"must be in [0, 1) (0: keep every word), got {task.subsample}")
        if task.noise_power < 0:
            raise ConfigError("task.noise_power", f"must be >= 0, got {task.noise_power}")

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[Word2VecModule, Word2VecDataModule]:
        from seqlab.tasks.word2vec.data import Word2VecDataModule
        from seqlab.tasks.word2vec.module import Word2VecModule

        log.info("task word2vec trains no sequence model: model=%s is not used", cfg.model.name)
        data = Word2VecDataModule(task_config(cfg), seed=int(cfg.seed))
        vocab = data.prepare()
        return Word2VecModule(cfg, vocab.itos), data
