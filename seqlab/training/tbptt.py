"""Truncated backpropagation through time under Lightning 2 manual optimization.

Lightning 2 removed ``truncated_bptt_steps``; this base class brings it back for every task. A training batch is
split along time into chunks of ``k = task.tbptt_steps`` steps (``x.split(k, dim=1)``; the last chunk may be
shorter); for each chunk: forward from the carried state, backward, clip, optimizer step, schedule step, and the
state is detached before the next chunk. ``tbptt_steps=null`` is full BPTT (one chunk). With ``carry_state`` the
detached state also flows from one batch to the next (a contiguous language-model stream); it is reset at the start
of every epoch and of every validation/test pass. ``global_step`` counts optimizer steps, i.e. chunks.

With ``task.tbptt_accumulate=true`` the chunks of one batch are accumulated into a single optimizer step: chunk c
(mean loss L_c over n_c predictions) contributes the gradient of n_c * L_c, and the sum is divided by N = sum n_c
before clipping, so the step follows d/dθ (sum_c n_c L_c / N), the gradient of the batch's mean loss with the graph
cut at chunk borders; with one chunk (``tbptt_steps >= T`` or null) it is exactly full BPTT. ``global_step`` then
counts batches.

Gradient-norm watching: when ``watch_grads`` is set (the grad-flow callback sets it), every optimizer step first
records the per-parameter gradient norms before clipping, and any non-finite norm or one above ``explode_threshold``
is appended to ``grad_alerts`` as ``(step, parameter name, norm)``.

``train/loss`` (the batch's mean loss over its predictions) is handed to Lightning's ``self.log`` only after the
batches Lightning's loggers write, unless a progress bar or a callback reads it after every batch
(seqlab/training/log_steps.py); ``train_loss`` always holds the latest batch's value (progress lines, results.json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from seqlab.config.job import JobConfig, job_config
from seqlab.errors import TrainingDiverged
from seqlab.models.base import SequenceModel, State, detach_state
from seqlab.old_paths import keep_old_paths
from seqlab.training.log_steps import loggers_write_now, read_every_step
from seqlab.training.metric_sums import Sums
from seqlab.training.optim import build_optimizer, build_scheduler, clip_config, steps_per_optimizer_step


@dataclass
class StepResult:
    """What a subclass returns for one chunk (training) or one batch (evaluation).

    ``loss`` is the mean over the ``count`` predictions it covers (``None`` when the chunk has no target, e.g. an
    early chunk of a many-to-one sequence); ``tokens`` is the number of input time steps consumed."""

    loss: torch.Tensor | None
    count: int
    state: State = None
    tokens: int = 0


def split_time(batch: Any, k: int | None) -> list[Any]:
    """Split every tensor of ``batch`` with a time dimension (dim >= 2, dim 1 = time) into chunks of ``k`` steps.

    Tensors without a time dimension (labels, lengths) are repeated in every chunk. ``k=None`` returns ``[batch]``.
    """
    if k is None:
        return [batch]
    if isinstance(batch, torch.Tensor):
        return list(batch.split(k, dim=1)) if batch.dim() >= 2 else None
    if isinstance(batch, tuple | list):
        parts = [split_time(b, k) for b in batch]
        n = max((len(p) for p in parts if p is not None), default=1)
        columns = [p if p is not None else [b] * n for p, b in zip(parts, batch)]
        return [type(batch)(col[i] for col in columns) for i in range(n)]
    if isinstance(batch, dict):
        keys = list(batch)
        return [dict(zip(keys, chunk)) for chunk in split_time([batch[k_] for k_ in keys], k)]
    raise TypeError(f"cannot split a batch of type {type(batch).__name__}")


TRAIN_LOSS = "train/loss"


class TBPTTModule(pl.LightningModule):
    """Base LightningModule of seqlab tasks. Subclasses implement ``train_chunk`` and ``eval_batch``."""

    def __init__(self, config: JobConfig | DictConfig | dict, **extras: Any) -> None:
        """``config`` is the job's config: the JobConfig validation built, or the composed config (a dict when
        ``load_from_checkpoint`` rebuilds the module); ``extras`` (e.g. a vocabulary) are saved beside it in
        ``hparams`` so that ``load_from_checkpoint(path)`` rebuilds the module with no other input.

        ``self.job`` is the JobConfig, ``self.task`` its typed task config (the keys and defaults of the task's
        ``Config``), ``self.cfg`` the composed DictConfig (saved in the checkpoint)."""
        super().__init__()
        self.automatic_optimization = False
        self.job = job_config(config)
        self.task = self.job.task
        cfg = self.cfg = self.job.raw
        self.save_hyperparameters({"config": OmegaConf.to_container(cfg, resolve=True), **extras})
        # keys of the TBPTT loop; a task whose schema lacks one trains without it (full BPTT, no carried state)
        self.tbptt_steps: int | None = getattr(self.task, "tbptt_steps", None)
        self.carry_state: bool = bool(getattr(self.task, "carry_state", False))
        self.tbptt_accumulate: bool = bool(getattr(self.task, "tbptt_accumulate", False))
        self.watch_grads = False
        self.explode_threshold = float("inf")
        self.grad_alerts: list[tuple[int, str, float]] = []
        self.clip = clip_config(self.job.optimizer)
        self.tokens_seen = 0
        self.train_loss: float | None = None  # the mean loss of the latest training batch that had one
        self._train_loss_every_step = False  # something reads train/loss after every batch (on_train_start)
        # set by training_step; on_train_batch_end logs it or not, then clears it
        self._train_loss_unlogged: float | None = None
        self._train_state: State = None
        self._eval_state: State = None
        self._eval_sums = Sums(2)  # sum of loss x count, count (one evaluation pass at a time)

    # ---- what subclasses provide ---------------------------------------------------------------------------
    def train_chunk(self, chunk: Any, state: State) -> StepResult:
        """Forward one chunk from ``state``; return the mean loss and the new (attached) state."""
        raise NotImplementedError

    def eval_batch(self, batch: Any, state: State, stage: str) -> StepResult:
        """Forward one whole evaluation batch; the base class accumulates ``loss * count``."""
        raise NotImplementedError

    def derived_metrics(self, loss: float) -> dict[str, float]:
        """Metrics computed from the mean evaluation loss (e.g. bits per char, perplexity)."""
        return {}

    def split_batch(self, batch: Any) -> list[Any]:
        return split_time(batch, self.tbptt_steps)

    def model_parameters(self) -> int | None:
        """results.json's ``model_parameters``: the trainable parameters of the ``model`` group's component, the
        sequence encoder a task registers as its submodule ``encoder``; None when it has none (caption's ``model``
        group builds the decoder's cell). A task whose encoder lives elsewhere overrides this."""
        encoder = self._modules.get("encoder")
        return encoder.num_parameters() if isinstance(encoder, SequenceModel) else None

    def extra_results(self) -> dict[str, Any]:
        """Entries a task adds to results.json beyond the logged metrics (e.g. a metric's signature)."""
        return {}

    def whole_batch_loss(self, batch: Any) -> StepResult:
        """One training batch as a single chunk from a zero state (full BPTT; used by the grad-flow recorder)."""
        return self.train_chunk(batch, None)

    # ---- training --------------------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        self._train_loss_every_step = read_every_step(self.trainer, TRAIN_LOSS)

    def on_train_epoch_start(self) -> None:
        self._train_state = None

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opt = self.optimizers()
        sched = self.lr_schedulers()
        state = self._train_state if self.carry_state else None
        loss_sum, count = 0.0, 0
        if self.tbptt_accumulate:
            opt.zero_grad(set_to_none=True)
        for chunk in self.split_batch(batch):
            result = self.train_chunk(chunk, state)
            self.tokens_seen += result.tokens
            if result.loss is not None:
                loss = result.loss.item()
                self._check_finite(loss)
                if self.tbptt_accumulate:
                    self.manual_backward(result.loss * result.count)
                else:
                    opt.zero_grad(set_to_none=True)
                    self.manual_backward(result.loss)
                    self.clip_and_step(opt, sched)
                loss_sum += loss * result.count
                count += result.count
            state = detach_state(result.state)
        if self.tbptt_accumulate and count:
            for param in self.parameters():
                if param.grad is not None:
                    param.grad.div_(count)
            self.clip_and_step(opt, sched)
        self._train_state = state if self.carry_state else None
        if count:
            self.train_loss = loss_sum / count
            if self._train_loss_every_step:
                self._log_train_loss(self.train_loss)
            else:
                self._train_loss_unlogged = self.train_loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Hand ``train/loss`` to Lightning when its loggers will write it (every callback's hook has run, so a
        stop one of them asked for at this batch counts)."""
        if self._train_loss_unlogged is not None and loggers_write_now(self.trainer):
            self._log_train_loss(self._train_loss_unlogged)
        self._train_loss_unlogged = None

    def _log_train_loss(self, value: float) -> None:
        self.log(TRAIN_LOSS, value, prog_bar=True, on_step=True, on_epoch=False)

    def clip_and_step(self, opt: Any, sched: Any) -> None:
        """Clip (by norm and/or value, through Lightning so precision plugins unscale first), then step."""
        if self.watch_grads:
            self._watch_grad_norms()
        if self.clip.norm:
            self.clip_gradients(opt, gradient_clip_val=self.clip.norm, gradient_clip_algorithm="norm")
        if self.clip.value:
            self.clip_gradients(opt, gradient_clip_val=self.clip.value, gradient_clip_algorithm="value")
        try:
            opt.step()
        except RuntimeError as exc:  # e.g. Adam with lr=1e38: the update itself overflows float32
            if "overflow" not in str(exc):
                raise
            raise TrainingDiverged(
                f"training stopped: the optimizer step overflowed at step {self.global_step} ({exc}); "
                "the last good checkpoint is kept (try a lower optimizer.lr)",
                step=int(self.global_step),
            ) from None
        if steps_per_optimizer_step(sched):  # schedule=plateau steps after each validation instead
            sched.step()

    def _watch_grad_norms(self) -> None:
        """Record non-finite or huge per-parameter gradient norms (before clipping) in ``grad_alerts``."""
        for name, param in self.named_parameters():
            if param.grad is None:
                continue
            norm = float(param.grad.detach().norm())
            if not math.isfinite(norm) or norm > self.explode_threshold:
                self.grad_alerts.append((int(self.global_step), name, norm))

    def _check_finite(self, loss: float | torch.Tensor) -> None:
        value = float(loss)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"training stopped: non-finite loss ({value}) at step {self.global_step}; "
                "the last good checkpoint is kept (try a lower optimizer.lr or optimizer.clip_grad_norm)",
                step=int(self.global_step),
            )

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.parameters(), self.cfg.optimizer)
        # estimated_stepping_batches counts batches (min of max_steps and epochs x batches); max_steps counts
        # optimizer steps, one per chunk, so it caps the product
        total = int(self.trainer.estimated_stepping_batches) * self.chunks_per_batch()
        if self.trainer.max_steps > 0:
            total = min(total, self.trainer.max_steps)
        total = max(1, total)
        mode = str(self.cfg.checkpoint.mode)
        return {"optimizer": optimizer, "lr_scheduler": build_scheduler(optimizer, self.job.optimizer, total, mode)}

    def chunks_per_batch(self) -> int:
        """Optimizer steps per training batch (for the length of the LR schedule)."""
        seq_len = self.sequence_length()
        if self.tbptt_steps is None or self.tbptt_accumulate or not seq_len:
            return 1
        return math.ceil(seq_len / self.tbptt_steps)

    def sequence_length(self) -> int | None:
        """Time steps of a training batch (``task.seq_len`` unless a subclass knows better; None: not known)."""
        return getattr(self.task, "seq_len", None)

    # ---- evaluation ------------------------------------------------------------------------------------------
    def _eval_start(self) -> None:
        self._eval_state = None
        self._eval_sums.reset()

    def _eval_step(self, batch: Any, stage: str) -> None:
        result = self.eval_batch(batch, self._eval_state if self.carry_state else None, stage)
        self._eval_state = detach_state(result.state) if self.carry_state else None
        self._eval_sums.update([float(result.loss) * result.count, result.count])

    def _eval_end(self, stage: str) -> dict[str, float]:
        totals = self._eval_sums.totals()  # summed over DDP ranks by torchmetrics
        if totals[1] == 0:
            return {}
        loss = float(totals[0] / totals[1])
        metrics = {"loss": loss, **self.derived_metrics(loss)}
        for name, value in metrics.items():
            self.log(f"{stage}/{name}", value, prog_bar=(name == "loss"), sync_dist=False)
        return metrics

    def on_validation_epoch_start(self) -> None:
        self._eval_start()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_start()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("StepResult", "TBPTTModule", "split_time"))
