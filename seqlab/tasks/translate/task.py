"""Task ``translate``: sequence-to-sequence translation with an encoder (``model``), a bridge and a decoder
(``task.decoder``) with attention, decoded by greedy, sampling or beam search (one model or an ensemble)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.config.dry_build import dry_build
from seqlab.config.job import JobConfig, job_config
from seqlab.errors import ConfigError
from seqlab.generation.checks import check_decode, decode_values
from seqlab.models.bridge import BRIDGES
from seqlab.models.capabilities import Needs
from seqlab.tasks.base import Task, build_model, task_config
from seqlab.tasks.decoder_role import build_decoder, decoder_config
from seqlab.tasks.translate.config import DIRECTIONS, NORMALIZATIONS, TOKENS, TranslateConfig
from seqlab.tasks.translate.inference import TranslateInference
from seqlab.training.tbptt_check import check_positive

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.tasks.translate.data import TranslationDataModule
    from seqlab.tasks.translate.module import TranslationModule


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(key, f"unknown value '{value}'", allowed=allowed)


def _encoder_size(cfg: JobConfig | DictConfig) -> int:
    """The encoder's output size (its memory width), from a build of the configured model on the meta device."""
    return int(dry_build(lambda: build_model(job_config(cfg).model, 8)).output_size)


class TranslateTask(Task):
    """Source sentence -> target sentence (English <-> French on eng-fra, or any TSV of pairs)."""

    Config = TranslateConfig
    module_class = "seqlab.tasks.translate.module:TranslationModule"  # imported when first read (seqlab/tasks/base.py)
    inference = TranslateInference
    causal = False  # the encoder reads the whole source: it may be bidirectional (the decoder is causal)
    needs = Needs(per_step=True, inputs=("embeddings",))  # attention reads the encoder's output at every step

    @classmethod
    def model_needs(cls, cfg: DictConfig) -> Needs:
        """A bridge other than ``zero`` hands the encoder's final state to the decoder: the encoder must have one."""
        return Needs(per_step=True, inputs=("embeddings",), state=task_config(cfg).bridge != "zero")

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        if task_config(cfg).tbptt_steps is not None:
            raise ConfigError(
                "task.tbptt_steps",
                "a sentence pair is decoded as one sequence, so translation trains with full BPTT",
                allowed=["null"],
            )
        super().check(cfg)
        task = task_config(cfg)
        _choice("task.data.direction", task.data.direction, DIRECTIONS)
        _choice("task.data.normalize", task.data.normalize, NORMALIZATIONS)
        _choice("task.tokens", task.tokens, TOKENS)
        _choice("task.bridge", task.bridge, BRIDGES)
        _choice("task.sentencepiece.model_type", task.sentencepiece.model_type, ("unigram", "bpe"))
        check_positive(task, "embedding_dim", "batch_size", "bucket_batches")
        check_decode(decode_values(task.decode), prefix="task.decode")  # shared with the tools and other tasks
        if task.data.max_len is not None and task.data.max_len < 1:
            raise ConfigError("task.data.max_len", f"must be >= 1 or null, got {task.data.max_len}")
        for key in ("dropout",):
            if not 0.0 <= getattr(task, key) < 1.0:
                raise ConfigError(f"task.{key}", f"must be in [0, 1), got {getattr(task, key)}")
        if not 0.0 <= task.teacher_forcing <= 1.0:
            raise ConfigError("task.teacher_forcing", f"must be in [0, 1], got {task.teacher_forcing}")
        if task.decode.val_sentences < 0 or task.decode.show < 0:
            raise ConfigError("task.decode", "val_sentences and show must be >= 0")
        encoder_size = _encoder_size(cfg)
        _check_sizes(task, encoder_size)
        # the decoder checks its own keys; built on the meta device, at any size
        dry_build(lambda: build_decoder(task.decoder, 8, encoder_size))

    @classmethod
    def build(cls, cfg: JobConfig | DictConfig) -> tuple[TranslationModule, TranslationDataModule]:
        from seqlab.tasks.translate.data import TranslationDataModule
        from seqlab.tasks.translate.module import TranslationModule

        data = TranslationDataModule(task_config(cfg))
        data.prepare()
        tokenizers = {"source": data.src_tokenizer.state(), "target": data.tgt_tokenizer.state()}
        return TranslationModule(cfg, data.src_vocab.itos, data.tgt_vocab.itos, tokenizers), data


def _check_sizes(task: TranslateConfig, encoder_size: int) -> None:
    """Size mismatches that would otherwise fail inside the first step: luong_dot and bridge=last (for a decoder
    whose Config has ``hidden_size``; a plugin decoder without one checks its sizes itself)."""
    decoder = decoder_config(task.decoder)
    hidden = getattr(decoder, "hidden_size", None)
    if not hidden:  # no such key, or a size the decoder's own check refuses
        return
    if getattr(decoder, "attention", None) == "luong_dot" and encoder_size != hidden:
        raise ConfigError(
            "task.decoder.attention",
            f"luong_dot scores h_t . m_s and needs the decoder's hidden_size ({hidden}) to equal the encoder's "
            f"output size ({encoder_size})",
            allowed=["bahdanau", "luong_general", "none"],
        )
    if task.bridge == "last" and encoder_size != hidden:
        raise ConfigError(
            "task.bridge",
            f"'last' hands the encoder's {encoder_size} state units to a decoder of hidden size {hidden}; "
            "make them equal or use project",
            allowed=["project", "zero"],
        )
