"""The parity classifier: bits -> sequence model -> linear head over {0, 1}, trained with (truncated) BPTT.

``target=running``: cross-entropy at every valid step (sequence labelling). ``target=final``: one label per
sequence, read at its last valid step (many-to-one), so under TBPTT the earlier chunks only advance the state
(loss ``None``). Metrics: ``loss`` (logged by the base class, nats per label) and ``acc`` (exact: right answers /
answers over the whole split, summed over DDP ranks).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from seqlab.api import State, StepResult, Sums, TBPTTModule, build_model
from seqlab_parity.data import PAD_LABEL


class ParityModule(TBPTTModule):
    def __init__(self, config: DictConfig | dict) -> None:
        super().__init__(config)  # the whole run config, as self.cfg (saved in checkpoints)
        self.final_only = self.cfg.task.target == "final"
        self.encoder = build_model(self.cfg.model, 1)  # whichever model the run names; 1 input feature
        self.head = nn.Linear(self.encoder.output_size, 2)
        self._hits = Sums(2)  # right answers, answers; summed over DDP ranks by torchmetrics

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        out, state = self.encoder(x, state, lengths)
        return self.head(out), state

    def split_batch(self, batch: Any) -> list[Any]:
        """TBPTT chunks ``(x, y, lengths, last)``: the valid steps of each row within the chunk, and whether the
        chunk holds the sequences' last steps (the default split repeats ``lengths`` unchanged in every chunk)."""
        chunks = super().split_batch(batch)
        out, start = [], 0
        for i, (x, y, lengths) in enumerate(chunks):
            out.append((x, y, (lengths - start).clamp(0, x.size(1)), i == len(chunks) - 1))
            start += x.size(1)
        return out

    def chunks_per_batch(self) -> int:
        """Optimizer steps per batch (sizes the LR schedule): one when only the last chunk has a loss."""
        return 1 if self.final_only else super().chunks_per_batch()

    def _step(
        self, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor, state: State, last: bool
    ) -> tuple[StepResult, int]:
        """The result of one chunk (or a whole batch) and its number of right answers."""
        tokens = int(lengths.sum())
        if self.final_only and not last:  # no label here: only carry the state to the next chunk
            with torch.no_grad():  # the base class detaches the state after this chunk anyway
                _, state = self.encoder(x, state, lengths)
            return StepResult(loss=None, count=0, state=state, tokens=tokens), 0
        logits, state = self(x, state, lengths)
        if self.final_only:  # the output at each sequence's last valid step
            rows = torch.arange(x.size(0), device=x.device)
            logits, y = logits[rows, lengths - 1], y[rows, lengths - 1]
        else:  # every valid step
            keep = y != PAD_LABEL
            logits, y = logits[keep], y[keep]
        loss = F.cross_entropy(logits, y)
        right = int((logits.argmax(-1) == y).sum())
        return StepResult(loss=loss, count=y.numel(), state=state, tokens=tokens), right

    def train_chunk(self, chunk: Any, state: State) -> StepResult:
        x, y, lengths, last = chunk
        return self._step(x, y, lengths, state, last)[0]

    def whole_batch_loss(self, batch: Any) -> StepResult:
        """The batch as one chunk (for the grad-flow callback): ``train_chunk`` takes the split format."""
        x, y, lengths = batch
        return self._step(x, y, lengths, None, last=True)[0]

    def eval_batch(self, batch: Any, state: State, stage: str) -> StepResult:
        x, y, lengths = batch
        result, right = self._step(x, y, lengths, None, last=True)
        self._hits.update([right, result.count])
        return result

    # ---- accuracy: the base class logs {val,test}/loss only ------------------------------------------------------
    def _log_acc(self, stage: str) -> None:
        right, answers = self._hits.totals()  # the same totals on every rank
        if answers > 0:
            self.log(f"{stage}/acc", float(right / answers))

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._hits.reset()

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_acc("val")

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self._hits.reset()

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._log_acc("test")
