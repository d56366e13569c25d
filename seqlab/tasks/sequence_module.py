"""A LightningModule for sequence regression/classification (many-to-one) and per-step labelling (many-to-many).

encoder (any registered sequence model) -> linear head. Objectives:

- ``regression``: y_hat = w . h_T + b, loss = mean (y_hat - y)^2 (``mse``).
- ``classification``: logits = W h_T + b, loss = cross-entropy, metric ``acc``.
- ``per_step``: logits_t = W h_t + b at every step, loss = mean cross-entropy over all steps; metric ``acc`` over the
  steps a mask marks (e.g. the copied part of the copy task).

Batches are tuples ``(x, y[, mask])``; ``x`` is ``(B, T, F)`` float, or ``(B, T)`` ids one-hot encoded to
``one_hot`` features. Under TBPTT a many-to-one batch has its target only in its last chunk: earlier chunks only
advance the state (loss ``None``).
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

OBJECTIVES = ("regression", "classification", "per_step")


class SequenceModule(TBPTTModule):
    """``input_size`` features per step, ``output_size`` outputs (1 for regression, classes otherwise)."""

    def __init__(
        self,
        config: DictConfig | dict,
        input_size: int,
        output_size: int,
        objective: str,
        one_hot: int | None = None,
        seq_len: int | None = None,
    ) -> None:
        super().__init__(
            config,
            input_size=input_size,
            output_size=output_size,
            objective=objective,
            one_hot=one_hot,
            seq_len=seq_len,
        )
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.objective = objective
        self.one_hot = one_hot
        self.seq_len = seq_len
        self.encoder = build_model(self.job.model, input_size)
        self.head = nn.Linear(self.encoder.output_size, output_size)
        self._hits = Sums(2)  # right answers, scored answers (classification and per-step labels)

    def sequence_length(self) -> int | None:
        return self.seq_len

    def chunks_per_batch(self) -> int:
        """A many-to-one batch steps the optimizer once (only its last chunk has a loss)."""
        return super().chunks_per_batch() if self.objective == "per_step" else 1

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.one_hot(x, self.one_hot).float() if self.one_hot else x

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """Outputs ``(B, T, output_size)`` for ``per_step``, else ``(B, output_size)`` at the last step."""
        out, state = self.encoder(self.features(x), state)
        if self.objective == "per_step":
            return self.head(out), state
        return self.head(out[:, -1]), state

    # ---- chunks --------------------------------------------------------------------------------------------
    def split_batch(self, batch: Any) -> list[Any]:
        chunks = super().split_batch(tuple(batch))
        return [(*chunk, i == len(chunks) - 1) for i, chunk in enumerate(chunks)]

    def whole_batch_loss(self, batch: Any) -> StepResult:
        return self.train_chunk((*batch, True), None)

    def train_chunk(self, chunk: Any, state: State) -> StepResult:
        *tensors, last = chunk
        x = tensors[0]
        if self.objective != "per_step" and not last:
            with torch.no_grad():  # the state is detached after this chunk: no gradient can flow from here
                _, state = self.encoder(self.features(x), state)
            return StepResult(loss=None, count=0, state=state, tokens=x.size(0) * x.size(1))
        outputs, state = self(x, state)
        loss, count, _ = self._loss(outputs, tensors)
        return StepResult(loss=loss, count=count, state=state, tokens=x.size(0) * x.size(1))

    def _loss(self, outputs: torch.Tensor, tensors: list[torch.Tensor]) -> tuple[torch.Tensor, int, Any]:
        """Mean loss, number of predictions, and ``(correct, total)`` for accuracy (``None`` for regression)."""
        y = tensors[1]
        if self.objective == "regression":
            return F.mse_loss(outputs.squeeze(-1), y.float()), y.numel(), None
        if self.objective == "classification":
            loss = F.cross_entropy(outputs, y)
            return loss, y.numel(), (int((outputs.argmax(-1) == y).sum()), y.numel())
        loss = F.cross_entropy(outputs.reshape(-1, outputs.size(-1)), y.reshape(-1))
        mask = tensors[2] if len(tensors) > 2 else torch.ones_like(y, dtype=torch.bool)
        hits = (outputs.argmax(-1) == y) & mask
        return loss, y.numel(), (int(hits.sum()), int(mask.sum()))

    # ---- evaluation ----------------------------------------------------------------------------------------
    def eval_batch(self, batch: Any, state: State, stage: str) -> StepResult:
        tensors = list(batch)
        outputs, state = self(tensors[0], state)
        loss, count, acc = self._loss(outputs, tensors)
        if acc is not None:
            self._hits.update(acc)
        return StepResult(loss=loss, count=count, state=state, tokens=tensors[0].numel())

    def derived_metrics(self, loss: float) -> dict[str, float]:
        return {"mse": loss} if self.objective == "regression" else {}

    def _eval_start(self) -> None:
        super()._eval_start()
        self._hits.reset()

    def _eval_end(self, stage: str) -> dict[str, float]:
        metrics = super()._eval_end(stage)
        if self.objective != "regression":  # the same on every rank: the reduction is collective
            sums = self._hits.totals()
            if sums[1] > 0:
                metrics["acc"] = float(sums[0] / sums[1])
                self.log(f"{stage}/acc", metrics["acc"], prog_bar=True)
        return metrics
