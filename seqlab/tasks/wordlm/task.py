"""Task ``wordlm``: a word-level language model (WikiText-2, PTB, or a user's text) with perplexity, tied weights,
AWD-style regularization, adaptive softmax, character-aware words and embeddings you can query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.config.job import JobConfig
from seqlab.data.word_corpus import CORPORA
from seqlab.errors import ConfigError
from seqlab.models.capabilities import Needs
from seqlab.models.char_words import CharWordConfig
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.inference import WordLanguageModelInference
from seqlab.tasks.language_model_options import LanguageModelOptions, check_stream_lm

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.tasks.wordlm.data import WordDataModule
    from seqlab.tasks.wordlm.module import WordLMModule

SOFTMAXES = ("full", "adaptive")
WORD_INPUTS = ("lookup", "chars")


@dataclass
class WordDataConfig:
    corpus: str = "wikitext2"  # wikitext2 | ptb (under $SEQLAB_DATA_DIR)
    path: str | None = None  # a folder with train/valid/test files, or one text file split in order by lines
    val_fraction: float = 0.05  # path=FILE only
    test_fraction: float = 0.05


@dataclass
class WordVocabConfig:
    min_freq: int = 1
    max_size: int | None = None


@dataclass
class WordSampleConfig:
    every_n_val: int = 1
    length: int = 50  # words
    temperature: float = 0.8
    prompt: str = "\n"


@dataclass
class WordLMConfig(LanguageModelOptions):  # tie_weights, softmax, cutoffs, embedding_dropout, ar, tar, init_range
    name: str = "wordlm"
    data: WordDataConfig = field(default_factory=WordDataConfig)
    vocab: WordVocabConfig = field(default_factory=WordVocabConfig)
    batch_size: int = 20
    seq_len: int = 35
    tbptt_steps: int | None = None
    tbptt_accumulate: bool = False
    carry_state: bool = True
    embedding_dim: int = 200
    word_input: str = "lookup"  # lookup | chars
    char_words: CharWordConfig = field(default_factory=CharWordConfig)  # word_input=chars
    evaluate_embeddings: bool = True  # analogies and word similarity at the end of the run (results.json)
    sample: WordSampleConfig = field(default_factory=WordSampleConfig)


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
