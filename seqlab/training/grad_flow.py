"""Gradient flow through time: ||dL/dh_t|| for every step t of one batch, and per-layer gradient norms.

The recorder forwards a batch as one chunk from a zero state (full BPTT, ``module.whole_batch_loss``) with the
encoder running one step at a time (``encoder.recording_steps``, :mod:`seqlab.models.step_probe`), so that the
hidden state h_t of every step is a tensor whose gradient it keeps (``retain_grad``), and backpropagates. By the
chain rule

    dL/dh_t = dL_t/dh_t + (dh_{t+1}/dh_t)^T dL/dh_{t+1},

so for a loss at the last step only, ||dL/dh_t|| is the product of T - t Jacobians applied to dL/dh_T: it shrinks
geometrically with T - t for a tanh RNN whose Jacobians have norm < 1 (vanishing) and grows when it is > 1
(exploding); an LSTM's additive cell path keeps it flatter. The training gradients are not touched: the parameters'
``.grad`` are restored afterwards.

A fused recurrent encoder (``nn.RNN/LSTM/GRU``, unidirectional) steps each layer on its own, so
``layer_time_norms["l<k>"][t]`` is the total ``||dL/dh_t^k||`` of every layer k: what reaches h_t^k from the layer
above at step t plus what reaches it through the recurrence from step t+1. ``time_norms`` is the last layer's.

``GradFlowCallback`` (``callbacks=grad_flow``) records every ``every_n_steps`` optimizer steps on the first training
batch, writes ``run_dir/grad_flow/step_XXXXXX.{png,json}``, logs the image to W&B when that logger is on, and warns
with the step and the parameter when a training gradient norm (before clipping) is non-finite or above
``explode_threshold``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from seqlab.training.loggers import log_image

log = logging.getLogger(__name__)
_LAYER = re.compile(r"^(?P<module>.*)\.(weight|bias)_(ih|hh|hr)_l(?P<layer>\d+)(?P<rev>_reverse)?$")


@dataclass
class GradFlow:
    """One measurement: ``time_norms[t] = ||dL/dh_t||`` (Frobenius over batch and features), per-parameter and
    per-layer gradient norms, and the loss."""

    step: int
    loss: float
    time_norms: list[float]
    param_norms: dict[str, float]
    layer_norms: dict[str, float] = field(default_factory=dict)
    layer_time_norms: dict[str, list[float]] = field(default_factory=dict)  # "l0", "l1", ...: ||dL/dh_t^l||

    def non_finite(self) -> list[str]:
        """Names of layers (or ``dL/dh``) whose gradient norm is not finite."""
        bad = [name for name, v in self.layer_norms.items() if not math.isfinite(v)]
        return bad + (["dL/dh"] if not all(math.isfinite(v) for v in self.time_norms) else [])


def layer_of(name: str) -> str:
    """``encoder.rnn.weight_hh_l1_reverse`` -> ``encoder.rnn.l1_reverse``; ``head.weight`` -> ``head``."""
    match = _LAYER.match(name)
    if match:
        return f"{match['module']}.l{match['layer']}{match['rev'] or ''}"
    return name.rsplit(".", 1)[0] if "." in name else name


def group_norms(param_norms: dict[str, float]) -> dict[str, float]:
    """Per-layer norms sqrt(sum of squared parameter norms), in parameter order."""
    squares: dict[str, float] = {}
    for name, norm in param_norms.items():
        squares[layer_of(name)] = squares.get(layer_of(name), 0.0) + norm * norm
    return {k: math.sqrt(v) for k, v in squares.items()}


def record_grad_flow(module: pl.LightningModule, batch: Any, step: int = 0) -> GradFlow:
    """Measure gradient flow on ``batch`` (module needs ``encoder``, a unidirectional
    :class:`~seqlab.models.base.SequenceModel`, and ``whole_batch_loss``).

    The encoder runs one step at a time (``encoder.recording_steps``) so that each h_t exists as a tensor: the total
    derivative of h_t is the sum of the gradient reaching its output ``out_t`` (the head, the layer above) and the
    one reaching the state handed to step t+1 (the recurrence). A fused encoder is stepped layer by layer (every
    layer's h_t^l); any other encoder as a whole (its last layer's h_t)."""
    encoder = module.encoder
    # (layer, t) -> [(tensor, index)]: the tensors whose ``tensor[index]`` is h_t^layer (the step's output, the
    # state handed on); their gradients add up to dL/dh_t^layer
    seen: dict[tuple[int, int], list[tuple[torch.Tensor, tuple]]] = {}

    def record(layer: int, t: int, out: torch.Tensor, h: torch.Tensor) -> None:
        seen[(layer, t)] = [(_kept(out), (slice(None), 0)), (_kept(h), (-1,))]

    params = dict(module.named_parameters())
    saved = {name: p.grad for name, p in params.items()}
    try:
        for p in params.values():
            p.grad = None
        with torch.enable_grad():
            with encoder.recording_steps(record):
                result = module.whole_batch_loss(batch)
            if result.loss is None:
                raise ValueError("the batch has no loss: grad flow needs a target")
            result.loss.backward()
        layer_time_norms: dict[str, list[float]] = {}
        for (layer, _t), kept in sorted(seen.items()):
            total = sum(x.grad[index] for x, index in kept if x.grad is not None)
            total = total if isinstance(total, torch.Tensor) else torch.zeros(())
            layer_time_norms.setdefault(f"l{layer}", []).append(float(total.detach().float().norm()))
        param_norms = {n: float(p.grad.detach().norm()) for n, p in params.items() if p.grad is not None}
        loss = float(result.loss.detach())
    finally:
        for name, p in params.items():
            p.grad = saved[name]
    last = f"l{max(layer for layer, _ in seen)}"
    return GradFlow(
        step=step,
        loss=loss,
        time_norms=layer_time_norms[last],
        param_norms=param_norms,
        layer_norms=group_norms(param_norms),
        layer_time_norms=layer_time_norms,
    )


def _kept(x: torch.Tensor) -> torch.Tensor:
    """``x`` with its gradient retained after backward."""
    x.retain_grad()
    return x


def _first_rows(batch: Any, n: int) -> Any:
    """A detached copy of the first ``n`` rows of every tensor in ``batch``."""
    if isinstance(batch, torch.Tensor):
        return batch[:n].detach().clone()
    if isinstance(batch, tuple | list):
        return type(batch)(_first_rows(b, n) for b in batch)
    if isinstance(batch, dict):
        return {k: _first_rows(v, n) for k, v in batch.items()}
    return batch


class GradFlowCallback(pl.Callback):
    """Records gradient flow every ``every_n_steps`` optimizer steps and reports exploding gradients."""

    def __init__(
        self, run_dir: str, every_n_steps: int = 100, explode_threshold: float = 1000.0, max_batch_size: int = 64
    ) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.out_dir = Path(run_dir) / "grad_flow"
        self.every_n_steps = every_n_steps
        self.explode_threshold = explode_threshold
        self.max_batch_size = max_batch_size
        self.history: list[GradFlow] = []
        self.alerts: list[tuple[int, str, float]] = []
        self._batch: Any = None
        self._next_step = 0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.watch_grads = True
        pl_module.explode_threshold = self.explode_threshold
        self._next_step = trainer.global_step

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._batch is None:
            self._batch = _first_rows(batch, self.max_batch_size)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        for step, name, norm in getattr(pl_module, "grad_alerts", []):
            self.report(step, name, norm)
        if hasattr(pl_module, "grad_alerts"):
            pl_module.grad_alerts.clear()
        if trainer.global_step >= self._next_step and self._batch is not None:
            self._next_step = (trainer.global_step // self.every_n_steps + 1) * self.every_n_steps
            self.measure(trainer, pl_module)

    def report(self, step: int, name: str, norm: float) -> None:
        """Warn once per (step, layer) about a non-finite or huge gradient norm."""
        kind = "non-finite" if not math.isfinite(norm) else "exploding"
        self.alerts.append((step, name, norm))
        log.warning(
            "%s gradient at step %d in %s: norm %g (threshold %g)", kind, step, name, norm, self.explode_threshold
        )

    def measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> GradFlow:
        flow = record_grad_flow(pl_module, self._batch, trainer.global_step)
        self.history.append(flow)
        for name in flow.non_finite():
            self.report(flow.step, name, float("nan"))
        if trainer.is_global_zero:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            stem = self.out_dir / f"step_{flow.step:06d}"
            stem.with_suffix(".json").write_text(json.dumps(asdict(flow), indent=1))
            from seqlab.training.grad_flow_plot import plot_history

            png = plot_history(self.history, stem.with_suffix(".png"), title=_title(pl_module))
            _log_image(trainer, png, flow.step)
        return flow


def _title(pl_module: pl.LightningModule) -> str:
    cfg = getattr(pl_module, "cfg", None)
    return f"{cfg.task.name} / {cfg.model.name}" if cfg is not None else type(pl_module).__name__


def _log_image(trainer: pl.Trainer, png: Path, step: int) -> None:
    """The plot as image ``grad_flow``, to W&B and TensorBoard (whichever are on)."""
    log_image(trainer, "grad_flow", png, step)
