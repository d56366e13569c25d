"""Averaged SGD for language models: ``optimizer=asgd`` and ``optimizer=ntasgd`` (Merity et al. 2017, AWD-LSTM).

- :class:`NTASGD`, non-monotonically triggered ASGD: plain SGD steps ``w <- w - lr (g + wd w)`` until the validation
  loss has not improved for ``nonmono`` validations, that is (as AWD-LSTM's ``main.py``) when validation ``k`` has
  ``L_k > min(L_0 .. L_{k-1-nonmono})``; from then on each step also updates the running mean of the iterates,
  ``ax <- ax + (w - ax) / n`` (``n`` = steps since the switch, so ``ax`` is their arithmetic mean). The SGD steps
  themselves never change; ``momentum`` and the rest of ``torch.optim.SGD``'s arguments are accepted.
- ``torch.optim.ASGD`` with AWD-LSTM's ``t0=0, lambd=0``: SGD steps whose ``state["ax"]`` averages from the start.

:class:`AveragedEvaluation` (added to the Trainer for both, seqlab/training/optim.py ``optimizer_callbacks``) makes the
averages what is evaluated, as AWD-LSTM does: validation and a test of the in-memory weights swap ``ax`` into the
parameters and back; every checkpoint saved once averages exist holds them as its ``state_dict`` (so the best
checkpoint, test, generate and predict use them) and keeps the raw SGD iterate under ``seqlab_averaged_weights`` so
that a resumed fit continues from it. For NT-ASGD it also feeds each fit validation's ``val/loss`` to the trigger.
The trigger's record (losses seen, the switch) is in the optimizer's state_dict, so it survives a resume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn

KEY = "seqlab_averaged_weights"
MONITOR = "val/loss"


class NTASGD(torch.optim.SGD):
    """SGD that switches to averaging after ``nonmono`` validations without improvement (see the module doc)."""

    def __init__(self, params: Iterable[Any], lr: float = 1.0, nonmono: int = 5, **sgd: Any) -> None:
        if not isinstance(nonmono, int) or isinstance(nonmono, bool) or nonmono < 1:
            raise ValueError(f"nonmono must be an integer >= 1, got {nonmono!r}")
        super().__init__(params, lr=lr, **sgd)
        self.nonmono = nonmono
        self.history: list[float] = []  # the validation losses seen, in order
        self.averaging = False
        self.switched_at: int | None = None  # the number of validations seen when averaging started

    def observe(self, loss: float) -> bool:
        """Record one validation loss; True when this one starts the averaging."""
        seen = self.history
        switch = not self.averaging and len(seen) > self.nonmono and loss > min(seen[: -self.nonmono])
        seen.append(float(loss))
        if switch:
            self.averaging, self.switched_at = True, len(seen)
        return switch

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = super().step(closure)
        if self.averaging:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    count = state.get("avg_count", 0) + 1
                    if count == 1:
                        state["ax"] = p.detach().clone()
                    else:
                        state["ax"].add_(p.detach() - state["ax"], alpha=1.0 / count)
                    state["avg_count"] = count
        return loss

    def averages(self) -> dict[torch.Tensor, torch.Tensor]:
        """``{parameter: its running mean}`` since the switch (empty before the first averaged step)."""
        return {p: s["ax"] for p, s in self.state.items() if "ax" in s}

    def state_dict(self) -> dict[str, Any]:
        out = super().state_dict()
        out["ntasgd"] = {"history": list(self.history), "averaging": self.averaging, "switched_at": self.switched_at}
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop("ntasgd", None)
        super().load_state_dict(state_dict)
        if extra is not None:
            self.history = [float(x) for x in extra["history"]]
            self.averaging, self.switched_at = bool(extra["averaging"]), extra["switched_at"]


def averaged_parameters(optimizer: torch.optim.Optimizer) -> dict[torch.Tensor, torch.Tensor]:
    """The averages an optimizer keeps, by parameter: NT-ASGD's since its switch, ASGD's ``ax`` once it stepped;
    empty for any other optimizer."""
    if isinstance(optimizer, NTASGD):
        return optimizer.averages()
    if isinstance(optimizer, torch.optim.ASGD):
        return {p: s["ax"] for p, s in optimizer.state.items() if "ax" in s and float(s.get("step", 0)) > 0}
    return {}


class AveragedEvaluation(pl.Callback):
    """Evaluate and checkpoint the averaged weights; drive NT-ASGD's switch with ``val/loss`` (module doc)."""

    def __init__(self) -> None:
        self.swapped = False  # the parameters hold the averages, ``ax`` the raw weights

    @staticmethod
    def _optimizer(trainer: pl.Trainer) -> torch.optim.Optimizer | None:
        optimizers = getattr(trainer, "optimizers", None) or []
        return optimizers[0] if optimizers else None

    def _averages(self, trainer: pl.Trainer) -> dict[torch.Tensor, torch.Tensor]:
        optimizer = self._optimizer(trainer)
        return averaged_parameters(optimizer) if optimizer is not None else {}

    def swap(self, trainer: pl.Trainer) -> bool:
        """Exchange every parameter with its average, in place (an involution); False when there are none."""
        averages = self._averages(trainer)
        if not averages:
            return False
        with torch.no_grad():
            for param, average in averages.items():
                raw = param.detach().clone()
                param.copy_(average)
                average.copy_(raw)
        self.swapped = not self.swapped
        return True

    def _swap_in(self, trainer: pl.Trainer) -> None:
        if not self.swapped:
            self.swap(trainer)

    def _swap_out(self, trainer: pl.Trainer) -> None:
        if self.swapped:
            self.swap(trainer)

    # ---- evaluation -------------------------------------------------------------------------------------------
    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._swap_in(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._swap_out(trainer)
        optimizer = self._optimizer(trainer)
        loss = trainer.callback_metrics.get(MONITOR)
        fitting = trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking
        if isinstance(optimizer, NTASGD) and fitting and loss is not None and optimizer.observe(float(loss)):
            pl_module.print(
                f"NT-ASGD: {MONITOR} has not improved for {optimizer.nonmono} validations; averaging the weights "
                f"from step {trainer.global_step} on (evaluation and checkpoints use the average)"
            )

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.ckpt_path is None:  # a checkpoint already holds the weights to evaluate
            self._swap_in(trainer)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._swap_out(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._swap_out(trainer)

    # ---- checkpoints ------------------------------------------------------------------------------------------
    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if not self._averages(trainer):
            return
        current = _copy(pl_module.state_dict())
        self.swap(trainer)
        other = _copy(pl_module.state_dict())
        self.swap(trainer)
        averaged, raw = (current, other) if self.swapped else (other, current)
        checkpoint["state_dict"] = averaged
        checkpoint[KEY] = {"raw_state_dict": raw}

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        saved = checkpoint.get(KEY)
        if saved is not None and trainer.state.fn == TrainerFn.FITTING:  # resume from the raw iterate
            pl_module.load_state_dict(saved["raw_state_dict"])
        self.swapped = False


def _copy(state_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in state_dict.items()}
