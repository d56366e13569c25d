"""Decoding evaluation under DDP: every val/test item decoded once, by one rank, and all of them scored together.

Rank ``r`` of ``w`` decodes items ``r, r + w, r + 2w, ...``; the ``(index, output)`` pairs are gathered on every rank
(``gather_objects``), so each rank scores the whole split and logs the same numbers (``sync_dist`` is not needed).
Used by the encoder-decoder tasks (translate, caption) at the end of each validation and test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl

from seqlab.training.ddp import gather_objects

__all__ = ["DecodedStage", "decode_stage_once"]


@dataclass
class DecodedStage:
    """``items`` of the stage in order; ``outputs[i]`` the decoding of ``items[i]``; ``decoded`` how many decodings
    the ranks made together (``len(items)`` when each item was decoded exactly once)."""

    items: list[Any]
    outputs: dict[int, Any]
    decoded: int


def decode_stage_once(
    module: pl.LightningModule, stage: str, limit: int | None, decode: Callable[[list[Any]], list[Any]]
) -> DecodedStage | None:
    """The data module's ``references(stage)`` (the first ``limit``, or all), decoded by ``decode`` (a list of items
    in, one picklable output per item out) across the ranks. None during Lightning's sanity check, without a data
    module offering ``references``, or when the stage has no items."""
    trainer = module.trainer
    data = getattr(trainer, "datamodule", None)
    if trainer.sanity_checking or data is None or not hasattr(data, "references"):
        return None
    items = data.references(stage)[:limit] if limit is not None else data.references(stage)
    if not items:
        return None
    mine = list(range(trainer.global_rank, len(items), trainer.world_size))
    local = list(zip(mine, decode([items[i] for i in mine])))
    gathered = [pair for part in gather_objects(local) for pair in part]
    return DecodedStage(items, dict(gathered), len(gathered))
