"""The config schema of task ``translate`` (and its preset ``translate_tutorial``): data, tokens, the decoder role,
the bridge, teacher forcing and decoding."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.data.normalize import NORMALIZATIONS
from seqlab.data.tokenizers import TOKENIZERS as TOKENS
from seqlab.generation.checks import DECODE_METHODS as CHECKED_METHODS
from seqlab.tasks.decoder_role import decoder_node

__all__ = ["NORMALIZATIONS", "TOKENS", "TranslateConfig"]

DIRECTIONS = ("eng-fra", "fra-eng")
BRIDGES = ("zero", "last", "project")
DECODE_METHODS = CHECKED_METHODS  # seqlab/generation/checks.py

# the PyTorch seq2seq tutorial's filter: English sides (after its normalisation) starting with one of these
TUTORIAL_PREFIXES = (
    "i am ",
    "i m ",
    "he is",
    "he s ",
    "she is",
    "she s ",
    "you are",
    "you re ",
    "we are",
    "we re ",
    "they are",
    "they re ",
)


@dataclass
class TranslateDataConfig:
    path: str | None = None  # UTF-8 TSV source<TAB>target[<TAB>...]; null = $SEQLAB_DATA_DIR/eng-fra/eng-fra.txt
    synthetic: str | None = None  # reverse | sort: generated digit-string pairs instead of a file (no data needed)
    synthetic_pairs: int = 5000
    direction: str = "eng-fra"  # eng-fra: column 1 -> column 2; fra-eng: column 2 -> column 1
    normalize: str = "lower"  # tutorial (ASCII, letters and .!? only) | lower (lower-cased) | none
    max_len: int | None = None  # keep pairs with at most this many words on each side (tutorial-normalised)
    prefixes: list[str] | None = None  # keep pairs whose English side starts with one of these (tutorial-normalised)
    max_pairs: int | None = None  # a seeded random subset of the filtered pairs
    val_fraction: float = 0.05  # of the distinct source sentences
    test_fraction: float = 0.05
    split_seed: int = 1234


@dataclass
class VocabConfig:
    min_freq: int = 1  # rarer tokens (in train) become <unk>
    max_size: int | None = None


@dataclass
class SentencePieceConfig:
    vocab_size: int = 4000  # per side; a soft limit (the trainer may stop below it on small data)
    model_type: str = "unigram"  # unigram | bpe


@dataclass
class DecodeConfig:
    method: str = "beam"  # greedy | beam | sample: how val/test BLEU and the CLI decode
    beam_size: int = 5
    alpha: float = 0.6  # GNMT length penalty ((5 + len) / 6) ** alpha; 0 = none
    max_len_ratio: float = 1.5  # a hypothesis stops after ratio * source length + max_len_extra tokens
    max_len_extra: int = 5
    temperature: float = 1.0  # method=sample
    val_sentences: int = 500  # BLEU at each validation on this fixed subset of val sources (0 = none); test: all
    show: int = 4  # fixed val sentences printed (and attention maps drawn) at each validation
    batch_size: int = 64


@dataclass
class TranslateConfig:
    name: str = "translate"
    data: TranslateDataConfig = field(default_factory=TranslateDataConfig)
    tokens: str = "word"  # word | char | sentencepiece
    vocab: VocabConfig = field(default_factory=VocabConfig)
    sentencepiece: SentencePieceConfig = field(default_factory=SentencePieceConfig)
    embedding_dim: int = 256  # source embedding (the decoder's is task.decoder.embedding_dim)
    dropout: float = 0.1  # on the source embeddings
    # the decoder role: `name` (a registered decoder) and that decoder's own Config fields, checked against it in
    # TranslateTask.check, so a plugin decoder brings its own keys (seqlab/tasks/decoder_role.py)
    decoder: dict[str, Any] = field(default_factory=decoder_node)
    bridge: str = "project"  # zero | last | project: the decoder's initial state from the encoder's final state
    reverse_source: bool = False  # Sutskever et al. 2014: read the source backwards
    teacher_forcing: float = 1.0  # probability of feeding the reference (else the model's own argmax) token
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    batch_size: int = 64
    bucket_batches: int = 50
    tbptt_steps: int | None = None  # refused: a sentence pair is one sequence
