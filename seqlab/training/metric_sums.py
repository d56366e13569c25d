"""Running sums of an evaluation pass, summed over DDP ranks by torchmetrics.

Every metric seqlab logs at validation and test is a ratio of sums (loss = sum of loss x count / sum of counts,
accuracy = hits / scored, MAE = sum |e| / n, a confusion matrix), so each module keeps one :class:`Sums` and
derives its metrics from the totals. torchmetrics owns the reduction: ``compute()`` sums the state over every rank
(``dist_reduce_fx="sum"``), so no module calls ``strategy.reduce`` itself. The size is fixed up front, so every rank
holds the same state even when it saw no batch, and the reduction is always collective-safe.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from seqlab.old_paths import keep_old_paths


class Sums(Metric):
    """``size`` float64 running sums; ``update(values)`` adds a ``(size,)`` tensor (or anything of that many
    elements); ``compute()`` returns the totals over all ranks; ``reset()`` starts a new pass."""

    full_state_update = False

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.add_state("total", default=torch.zeros(size, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, values: torch.Tensor | list[float] | tuple[float, ...]) -> None:
        self.total += torch.as_tensor(values, dtype=torch.float64, device=self.total.device).reshape(self.size)

    def compute(self) -> torch.Tensor:
        return self.total

    def totals(self) -> torch.Tensor:
        """The totals over all ranks, on the CPU (zeros when no batch was added on any rank)."""
        if self.update_count == 0:  # a rank without batches still takes part in the reduction
            self.update(torch.zeros(self.size, dtype=torch.float64))
        return self.compute().detach().cpu()


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("Sums",))
