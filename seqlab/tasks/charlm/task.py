"""Task ``charlm``: the checks of its config (config.py) and the module/data pair."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from seqlab.models.capabilities import Needs
from seqlab.tasks.base import Task, task_config
from seqlab.tasks.charlm.config import CharLMConfig
from seqlab.tasks.charlm.inference import CharLMInference
from seqlab.tasks.language_model_options import check_stream_lm

if TYPE_CHECKING:  # imported in build: a task's check runs without Lightning
    from seqlab.tasks.charlm.data import CharDataModule
    from seqlab.tasks.charlm.module import CharLMModule


class CharLMTask(Task):
    """Character-level language modelling with truncated BPTT on a contiguous stream."""

    Config = CharLMConfig
    module_class = "seqlab.tasks.charlm.module:CharLMModule"  # imported when first read (seqlab/tasks/base.py)
    inference = CharLMInference
    causal = True
    needs = Needs(per_step=True, causal=True)

    @classmethod
    def check(cls, cfg: DictConfig) -> None:
        super().check(cfg)
        check_stream_lm(task_config(cfg))

    @classmethod
    def build(cls, cfg: DictConfig) -> tuple[CharLMModule, CharDataModule]:
        from seqlab.tasks.charlm.data import CharDataModule
        from seqlab.tasks.charlm.module import CharLMModule

        data = CharDataModule(task_config(cfg))
        vocab = data.prepare()
        return CharLMModule(cfg, vocab.chars), data
