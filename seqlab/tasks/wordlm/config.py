"""The config schema of task ``wordlm``: the corpus, the vocabulary, the stream's batches, the word input (lookup or
characters), the shared language-model options and the samples drawn at validation."""

from __future__ import annotations

from dataclasses import dataclass, field

from seqlab.models.char_words import CharWordConfig
from seqlab.tasks.language_model_options import LanguageModelOptions

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
