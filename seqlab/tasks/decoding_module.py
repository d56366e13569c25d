"""The module base of the tasks that decode a whole output sequence per example (translate, caption).

Each example is one sequence, trained with full BPTT from a fresh state (no truncation, no state carried between
batches, no known sequence length for the schedule). Evaluation logs the teacher-forced ``loss`` and
``perplexity = exp(min(loss, 50))``, and after each validation and test epoch the module decodes the stage
(``decode_stage``: typically a fixed subset of the val references, all test references, through
seqlab/training/sharded_decode.py) and logs what it scores.
"""

from __future__ import annotations

import math
from typing import Any

from seqlab.training.tbptt import StepResult, TBPTTModule

__all__ = ["DecodingModule"]


class DecodingModule(TBPTTModule):
    """A subclass provides ``sequence_loss(batch, training)`` (the teacher-forced loss of a whole batch;
    ``training`` adds what only training adds, e.g. a regulariser) and ``decode_stage(stage)``."""

    def sequence_loss(self, batch: Any, training: bool) -> StepResult:
        raise NotImplementedError

    def decode_stage(self, stage: str) -> None:
        """Decode and score ``stage`` ("val" or "test") at the end of its epoch."""
        raise NotImplementedError

    def train_chunk(self, chunk: Any, state: Any) -> StepResult:
        return self.sequence_loss(chunk, training=True)

    def eval_batch(self, batch: Any, state: Any, stage: str) -> StepResult:
        return self.sequence_loss(batch, training=False)

    def split_batch(self, batch: Any) -> list[Any]:
        return [batch]  # one sequence per example: no truncated BPTT

    def sequence_length(self) -> int | None:
        return None

    def derived_metrics(self, loss: float) -> dict[str, float]:
        return {"perplexity": math.exp(min(loss, 50.0))}

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self.decode_stage("val")

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self.decode_stage("test")
