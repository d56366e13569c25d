"""The parity classifier: bits -> sequence model -> linear head over {0, 1}, trained with (truncated) BPTT.

``target=running``: cross-entropy at every step (sequence labelling). ``target=final``: only the last step of the
sequence is labelled, so under TBPTT the earlier chunks only advance the state (loss ``None``). Metrics: ``loss``
(the base class, nats per label) and ``acc`` (exact: correct / labels over the whole split).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from seqlab.models.base import State
from seqlab.tasks.base import build_model
from seqlab.training.metric_sums import Sums
from seqlab.training.tbptt import StepResult, TBPTTModule


class ParityModule(TBPTTModule):
    def __init__(self, config: DictConfig | dict) -> None:
        super().__init__(config)
        self.final_only = self.cfg.task.target == "final"
        self.encoder = build_model(self.cfg.model, 1)
        self.head = nn.Linear(self.encoder.output_size, 2)
        self._acc = Sums(2)  # right answers, answers; summed over DDP ranks by torchmetrics

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        out, state = self.encoder(x, state)
        return self.head(out), state

    def split_batch(self, batch: Any) -> list[Any]:
        """Chunks along time, each tagged with whether it holds the sequence's last step."""
        chunks = super().split_batch(batch)
        return [(*chunk[:2], i == len(chunks) - 1) for i, chunk in enumerate(chunks)]

    def _step(self, x: torch.Tensor, y: torch.Tensor, state: State, last: bool) -> tuple[StepResult, int]:
        logits, state = self(x, state)
        if self.final_only:
            if not last:
                return StepResult(loss=None, count=0, state=state, tokens=x.shape[0] * x.shape[1]), 0
            logits, y = logits[:, -1], y[:, -1]
        logits, y = logits.reshape(-1, 2), y.reshape(-1)
        loss = F.cross_entropy(logits, y)
        correct = int((logits.argmax(-1) == y).sum())
        return StepResult(loss=loss, count=y.numel(), state=state, tokens=x.shape[0] * x.shape[1]), correct

    def train_chunk(self, chunk: Any, state: State) -> StepResult:
        x, y, last = chunk
        return self._step(x, y, state, last)[0]

    def eval_batch(self, batch: Any, state: State, stage: str) -> StepResult:
        x, y = batch
        result, correct = self._step(x, y, None, last=True)
        self._acc.update([correct, result.count])
        return result

    def _log_acc(self, stage: str) -> None:
        correct, count = self._acc.totals()
        if count > 0:
            self.log(f"{stage}/acc", float(correct / count))

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._acc.reset()

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_acc("val")

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self._acc.reset()

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._log_acc("test")
