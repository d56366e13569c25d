"""Tokenizers of normalised text (``task.tokens``): ``encode(text) -> tokens``, ``decode(tokens) -> text``.

- ``word``: the text split on whitespace; decode joins with one space.
- ``char``: every character, spaces included; decode joins them.
- ``sentencepiece``: subwords of a SentencePiece model trained in memory on the training texts only
  (``unigram`` or ``bpe``, no normalisation of its own, one thread so the same texts always give the same model).

``state()`` holds only str/int/bytes values (the sentencepiece model as its serialised bytes), so it can be stored
in a checkpoint read with ``torch.load(weights_only=True)``; :func:`tokenizer_from_state` rebuilds the tokenizer.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any, Protocol

from seqlab.errors import ConfigError

TOKENIZERS = ("word", "char", "sentencepiece")
SP_MODEL_TYPES = ("unigram", "bpe")


class Tokenizer(Protocol):
    kind: str

    def encode(self, text: str) -> list[str]: ...

    def decode(self, tokens: list[str]) -> str: ...

    def state(self) -> dict[str, Any]: ...


class SentencePieceOptions(Protocol):
    """What :func:`build_tokenizer` reads of ``task.sentencepiece``."""

    vocab_size: int
    model_type: str


class WordTokenizer:
    """Whitespace-separated words."""

    kind = "word"

    def encode(self, text: str) -> list[str]:
        return text.split()

    def decode(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind}


class CharTokenizer:
    """Characters, spaces included."""

    kind = "char"

    def encode(self, text: str) -> list[str]:
        return list(text)

    def decode(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind}


class SentencePieceTokenizer:
    """Pieces of a serialised SentencePiece model (``model``: its bytes, which are also its state)."""

    kind = "sentencepiece"

    def __init__(self, model: bytes) -> None:
        import sentencepiece as spm

        self.model = bytes(model)
        self.processor = spm.SentencePieceProcessor(model_proto=self.model)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, model_type: str = "unigram") -> SentencePieceTokenizer:
        """A model trained on ``texts``; ``vocab_size`` is a soft limit (small data may give fewer pieces)."""
        import sentencepiece as spm

        if model_type not in SP_MODEL_TYPES:
            raise ConfigError("task.sentencepiece.model_type", f"unknown model type '{model_type}'", SP_MODEL_TYPES)
        texts = [t for t in texts if t.strip()]
        if not texts:
            raise ConfigError("task.tokens", "sentencepiece needs at least one non-empty training sentence")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not 0 < vocab_size < 2**31:
            raise ConfigError(
                "task.sentencepiece.vocab_size", f"must be an integer from 1 to {2**31 - 1}, got {vocab_size!r}"
            )
        out = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(texts),
                model_writer=out,
                vocab_size=vocab_size,
                model_type=model_type,
                hard_vocab_limit=False,
                character_coverage=1.0,
                normalization_rule_name="identity",  # the task normalises; decode(encode(x)) gives x back
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                unk_id=0,
                num_threads=1,  # unigram training depends on the thread count
                minloglevel=2,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ConfigError("task.sentencepiece.vocab_size", _training_failure(exc, vocab_size, len(texts))) from None
        return cls(out.getvalue())

    def encode(self, text: str) -> list[str]:
        return list(self.processor.encode(text, out_type=str))

    def decode(self, tokens: list[str]) -> str:
        return self.processor.decode_pieces(list(tokens))

    def pieces(self) -> list[str]:
        """Every piece of the model, by id."""
        return [self.processor.id_to_piece(i) for i in range(self.processor.get_piece_size())]

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model}


def _training_failure(exc: Exception, vocab_size: int, sentences: int) -> str:
    """sentencepiece's error in the words of the task's keys."""
    text = " ".join(str(exc).split())
    small = re.search(r"required_chars\. (\d+) vs (\d+)", text)
    if small:
        return (
            f"{vocab_size} is too small: the characters of the training text (with <unk>) need at least "
            f"{small.group(2)} pieces"
        )
    return f"sentencepiece could not train a model of {vocab_size} pieces on {sentences} sentences: {text}"


def build_tokenizer(kind: str, train_texts: Iterable[str], sp_config: SentencePieceOptions | None = None) -> Tokenizer:
    """The ``kind`` tokenizer; ``sentencepiece`` is trained on ``train_texts`` with ``sp_config``'s keys."""
    if kind == "word":
        return WordTokenizer()
    if kind == "char":
        return CharTokenizer()
    if kind == "sentencepiece":
        if sp_config is None:
            raise ConfigError("task.sentencepiece", "tokens=sentencepiece needs its vocab_size and model_type")
        return SentencePieceTokenizer.train(train_texts, sp_config.vocab_size, sp_config.model_type)
    raise ConfigError("task.tokens", f"unknown tokenizer '{kind}'", allowed=TOKENIZERS)


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """The tokenizer whose :meth:`state` this is (as read back from a checkpoint)."""
    kind = state.get("kind")
    if kind == "word":
        return WordTokenizer()
    if kind == "char":
        return CharTokenizer()
    if kind == "sentencepiece":
        return SentencePieceTokenizer(state["model"])
    raise ValueError(f"unknown tokenizer kind {kind!r} in a saved state (allowed: {', '.join(TOKENIZERS)})")
