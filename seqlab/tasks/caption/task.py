"""Task ``caption``: an image encoder and a recurrent decoder, with or without soft attention (Show and Tell; Show,
Attend and Tell), on generated scenes, a Karpathy split, a folder of captioned images or precomputed features."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab import registry
from seqlab.errors import ConfigError
from seqlab.generation.checks import check_decode, decode_values
from seqlab.models.capabilities import Needs
from seqlab.models.soft_attention_decoder import INITS as SOFT_INITS
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.caption.config import CaptionTaskConfig
from seqlab.tasks.caption.inference import CaptionInference
from seqlab.tasks.caption.roles import ATTENTIONS, CELLS, build_image_encoder, recurrent_cell
from seqlab.training.tbptt_check import check_positive

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.tasks.caption.data import CaptionDataModule
    from seqlab.tasks.caption.module import CaptionModule


def attribute_words(task: CaptionTaskConfig) -> list[str]:
    """The scene words whose exact match is scored (generated scenes only)."""
    if task.data.source != "synthetic":
        return []
    scenes = task.data.scenes
    return sorted({*scenes.sizes, *scenes.colours, *scenes.shapes})


class CaptionTask(Task):
    """Image -> caption. The ``model`` group is the decoder's recurrent cell (``model=lstm``: an LSTM decoder)."""

    Config = CaptionTaskConfig
    module_class = "seqlab.tasks.caption.module:CaptionModule"  # imported when first read (seqlab/tasks/base.py)
    inference = CaptionInference
    causal = True  # the decoder writes word t from words < t: a bidirectional cell is refused
    needs = Needs(per_step=True, causal=True)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        if task_config(cfg).tbptt_steps is not None:
            raise ConfigError(
                "task.tbptt_steps", "a caption is decoded as one sequence: captioning trains with full BPTT", ["null"]
            )
        if recurrent_cell(cfg.model.name) is None:
            serving = [n for n in registry.names("model") if _is_recurrent(n)]
            raise ConfigError(
                "model",
                f"'{cfg.model.name}' cannot serve task 'caption' (needs a recurrent cell, one of {', '.join(CELLS)}, "
                "to build the caption decoder from; it has none)",
                allowed=serving,
            )
        super().check(cfg)
        task = task_config(cfg)
        if task.decoder.attention not in ATTENTIONS:
            raise ConfigError("task.decoder.attention", f"unknown attention '{task.decoder.attention}'", ATTENTIONS)
        check_positive(task.decoder, "embedding_dim", "attention_size", prefix="task.decoder")
        check_decode(decode_values(task.decode), prefix="task.decode")  # shared with the tools and translate
        if task.decoder.init not in SOFT_INITS:
            raise ConfigError("task.decoder.init", f"unknown init '{task.decoder.init}'", allowed=SOFT_INITS)
        if task.decoder.doubly_stochastic < 0:
            raise ConfigError("task.decoder.doubly_stochastic", "must be >= 0")
        build_image_encoder(task.image_encoder)  # checks its keys; small and cheap for the built-ins

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[CaptionModule, CaptionDataModule]:
        from seqlab.tasks.caption.data import CaptionDataModule
        from seqlab.tasks.caption.module import CaptionModule

        task = task_config(cfg)
        data = CaptionDataModule(task)
        vocab = data.prepare()
        return CaptionModule(cfg, vocab.itos, attribute_words(task)), data


def _is_recurrent(name: str) -> bool:
    try:
        return recurrent_cell(name) is not None
    except Exception:  # a broken plugin serves nothing
        return False
