"""Task ``wordlm``: a word-level language model (WikiText-2, PTB, or a user's text) with perplexity, tied weights,
AWD-style regularization, adaptive softmax, character-aware words and embeddings you can query."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.config.job import JobConfig
from seqlab.data.word_corpus import CORPORA
from seqlab.errors import ConfigError
from seqlab.models.capabilities import Needs
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.inference import WordLanguageModelInference
from seqlab.tasks.language_model_options import check_stream_lm
from seqlab.tasks.wordlm.config import SOFTMAXES, WORD_INPUTS, WordLMConfig

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.tasks.wordlm.data import WordDataModule
    from seqlab.tasks.wordlm.module import WordLMModule


class WordLMTask(Task):
    """Word-level language modelling with truncated BPTT on a contiguous stream (``<eos>`` after every line)."""

    Config = WordLMConfig
    module_class = "seqlab.tasks.wordlm.module:WordLMModule"  # imported when first read (seqlab/tasks/base.py)
    inference = WordLanguageModelInference
    causal = True
    needs = Needs(per_step=True, causal=True)

    @classmethod
    def check(cls, cfg: JobConfig | DictConfig) -> None:
        super().check(cfg)
        task = task_config(cfg)
        check_stream_lm(task)
        if task.data.path is None and task.data.corpus not in CORPORA:
            raise ConfigError("task.data.corpus", f"unknown corpus '{task.data.corpus}'", allowed=sorted(CORPORA))
        if task.softmax not in SOFTMAXES:
            raise ConfigError("task.softmax", f"unknown softmax '{task.softmax}'", allowed=SOFTMAXES)
        if task.word_input not in WORD_INPUTS:
            raise ConfigError("task.word_input", f"unknown word input '{task.word_input}'", allowed=WORD_INPUTS)
        if task.tie_weights and task.word_input != "lookup":
            raise ConfigError(
                "task.tie_weights", "tying needs a lookup-table embedding (task.word_input=lookup)", allowed=[False]
            )
        if task.tie_weights and task.softmax != "full":
            raise ConfigError("task.tie_weights", "tying needs task.softmax=full", allowed=[False])
        if task.softmax == "adaptive" and list(task.cutoffs) != sorted(set(task.cutoffs)):
            raise ConfigError("task.cutoffs", f"must be increasing, got {list(task.cutoffs)}")
        for key in ("embedding_dropout",):
            if not 0.0 <= getattr(task, key) < 1.0:
                raise ConfigError(f"task.{key}", f"must be in [0, 1), got {getattr(task, key)}")
        if task.init_range is not None and task.init_range <= 0:
            raise ConfigError("task.init_range", f"must be > 0 or null, got {task.init_range}")
        if task.ar < 0 or task.tar < 0:
            raise ConfigError("task.ar", "ar and tar must be >= 0")

    @classmethod
    def build(cls, cfg: JobConfig | DictConfig) -> tuple[WordLMModule, WordDataModule]:
        from seqlab.tasks.wordlm.data import WordDataModule
        from seqlab.tasks.wordlm.module import WordLMModule

        data = WordDataModule(task_config(cfg))
        vocab = data.prepare()
        return WordLMModule(cfg, vocab.itos), data
