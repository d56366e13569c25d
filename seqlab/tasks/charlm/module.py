"""The character LM: the shared language model (seqlab/tasks/language_model.py) over the characters of the corpus.

Loss in nats/char, ``bpc = loss / ln 2``, ``ppl = exp(loss)``; prints a sample at validation and generates text from
a prompt (``python -m seqlab.generate``).
"""

from __future__ import annotations

from omegaconf import DictConfig

from seqlab.tasks.charlm.data import CharVocab
from seqlab.tasks.language_model import LanguageModelModule


class CharLMModule(LanguageModelModule):
    """``vocab`` is the list of characters (saved in the checkpoint's hparams)."""

    unit = "char"

    def __init__(self, config: DictConfig | dict, vocab: list[str]) -> None:
        super().__init__(config, vocab, CharVocab(vocab))
        self.vocab = self.codec
