"""Elman RNN, LSTM and GRU encoders: any depth, uni- or bidirectional, dropout between layers.

The recurrent core is ``self.rnn``:

- ``impl=fused``: PyTorch's ``nn.RNN/LSTM/GRU``; with ``residual=true`` and several layers a
  :class:`~seqlab.models.fused_stack.ResidualFusedStack` (one fused module per layer, same state_dict keys);
- ``impl=cells``: a :class:`~seqlab.models.cell_stack.CellStack` of textbook cells, which also offers the
  ``variant``s fused kernels cannot express (``layernorm``, ``peephole`` LSTM; ``cho`` GRU) and a compiled path.

Parameter names follow ``torch.nn`` (``rnn.weight_ih_l0``, ``rnn.weight_hh_l0_reverse``, ...), so a state_dict moves
between implementations unchanged. Dropout is applied between stacked layers, never on the recurrent path;
``input_dropout``/``output_dropout`` are locked (one mask per sequence, shared across time). ``weight_drop``
regularizes the recurrence itself: DropConnect on every ``W_hh``, one mask per call shared by all steps
(:mod:`seqlab.models.weight_drop`; checkpoints keep the names above).
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.base import ModelConfig, SequenceModel, State
from seqlab.models.cell_compile import COMPILE_OPTIONS, normalize_compile, use_compiled
from seqlab.models.cell_stack import VARIANTS, CellStack
from seqlab.models.fused_stack import ResidualFusedStack, fused_module
from seqlab.models.locked_dropout import LockedDropout
from seqlab.models.step_probe import Record, step_forward, step_fused
from seqlab.models.varlen import run_fused
from seqlab.models.weight_drop import apply_weight_drop, weight_drop_pass

IMPLS = ("fused", "cells")
INITS = ("default", "orthogonal")
NONLINEARITIES = ("tanh", "relu")


@dataclass
class RecurrentConfig(ModelConfig):
    """Hyper-parameters shared by the Elman RNN, LSTM and GRU."""

    name: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 2
    bidirectional: bool = False
    dropout: float = 0.0
    impl: str = "fused"
    nonlinearity: str = "tanh"
    init: str = "default"
    forget_bias: float | None = None
    variant: str = "standard"
    residual: bool = False
    input_dropout: float = 0.0
    output_dropout: float = 0.0
    compile: str = "auto"
    weight_drop: float = 0.0


class RecurrentEncoder(SequenceModel):
    """A stack of recurrent layers; ``cell`` is one of ``rnn``, ``lstm``, ``gru``."""

    Config: ClassVar[type] = RecurrentConfig
    cell: ClassVar[str] = "lstm"

    def __init__(self, input_size: int, config: RecurrentConfig) -> None:
        super().__init__(input_size, config)
        check_recurrent_config(config, self.cell)
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.bidirectional = config.bidirectional
        self.output_size = config.hidden_size * (2 if config.bidirectional else 1)
        self.input_dropout = LockedDropout(config.input_dropout)
        self.output_dropout = LockedDropout(config.output_dropout)
        self.rnn = build_core(self.cell, input_size, config)
        initialize(self.rnn, config.init, config.forget_bias if self.cell == "lstm" else None)
        self.weight_drop = float(config.weight_drop)
        apply_weight_drop(self.rnn, self.weight_drop)  # after initialize, which reads the torch.nn names

    def _core_pass(self) -> AbstractContextManager[Any]:
        """The context of one call of the core: one weight-drop mask per call."""
        return weight_drop_pass(self.rnn) if self.weight_drop else nullcontext()

    def forward(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        x = self.input_dropout(x)
        with self._core_pass():
            if not isinstance(self.rnn, nn.RNNBase):  # CellStack, ResidualFusedStack: lengths built in
                out, state = self.rnn(x, state, lengths=lengths)
            elif lengths is None:
                out, state = self.rnn(x, state)
            else:
                out, state = run_fused(self.rnn, x, state, lengths)
        return self.output_dropout(out), state

    def forward_steps(
        self, x: torch.Tensor, state: State = None, lengths: torch.Tensor | None = None, *, record: Record
    ) -> tuple[torch.Tensor, State]:
        """The core one step at a time between the locked dropouts, each applied once to the whole sequence as in
        ``forward``; a fused core layer by layer (every layer's h_t recorded), any other core as a whole."""
        x = self.input_dropout(x)
        with self._core_pass():  # one weight-drop mask for all the steps, as in forward
            if isinstance(self.rnn, nn.RNNBase):
                out, state = step_fused(self.rnn, x, state, lengths, record)
            else:
                out, state = step_forward(self.rnn, x, state, lengths, record, layer=self.num_layers - 1)
        return self.output_dropout(out), state


class ElmanRNN(RecurrentEncoder):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (``nonlinearity=relu`` for ReLU)."""

    cell = "rnn"


class LSTM(RecurrentEncoder):
    """Long short-term memory: input, forget, output gates and a cell state (Hochreiter & Schmidhuber 1997)."""

    cell = "lstm"


class GRU(RecurrentEncoder):
    """Gated recurrent unit with update and reset gates, as ``torch.nn.GRU`` (reset gate after the hidden matmul;
    ``variant=cho`` with ``impl=cells`` gives Cho et al. 2014's reset-before form, a different function)."""

    cell = "gru"


def build_core(cell: str, input_size: int, config: RecurrentConfig) -> nn.Module:
    """The recurrent core ``self.rnn`` for ``cell`` (rnn, lstm, gru) and a checked ``config``."""
    args = (cell, input_size, config.hidden_size, config.num_layers)
    options = dict(
        bidirectional=config.bidirectional,
        dropout=config.dropout if config.num_layers > 1 else 0.0,
        nonlinearity=config.nonlinearity if cell == "rnn" else "tanh",
    )
    if config.impl == "cells":
        stack = CellStack(*args, **options, variant=config.variant, residual=config.residual)
        stack.compiled = use_compiled(config.compile, stack.kernel_mode, config.variant)
        return stack
    if normalize_compile(config.compile) == "true":
        warnings.warn(
            "model.compile=true applies to model.impl=cells only; the fused module is used as is", stacklevel=3
        )
    if config.residual and config.num_layers > 1:
        return ResidualFusedStack(*args, **options)
    return fused_module(*args, **options)


def check_recurrent_config(config: RecurrentConfig, cell: str) -> None:
    """Raise ConfigError for values no recurrent encoder accepts, and for impossible combinations."""
    if config.hidden_size < 1:
        raise ConfigError("model.hidden_size", f"must be >= 1, got {config.hidden_size}")
    if config.num_layers < 1:
        raise ConfigError("model.num_layers", f"must be >= 1, got {config.num_layers}")
    for key in ("dropout", "input_dropout", "output_dropout", "weight_drop"):
        value = getattr(config, key)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"model.{key}", f"must be in [0, 1), got {value}")
    if config.impl not in IMPLS:
        raise ConfigError("model.impl", f"unknown implementation '{config.impl}'", allowed=IMPLS)
    if config.init not in INITS:
        raise ConfigError("model.init", f"unknown initialization '{config.init}'", allowed=INITS)
    if cell == "rnn" and config.nonlinearity not in NONLINEARITIES:
        raise ConfigError("model.nonlinearity", f"unknown '{config.nonlinearity}'", allowed=NONLINEARITIES)
    variants = [v for v, cells in VARIANTS.items() if cell in cells]
    if config.variant not in VARIANTS:
        raise ConfigError("model.variant", f"unknown variant '{config.variant}'", allowed=variants)
    if config.variant not in variants:
        raise ConfigError("model.variant", f"'{config.variant}' does not exist for {cell}", allowed=variants)
    if config.variant != "standard" and config.impl != "cells":
        raise ConfigError(
            "model.variant",
            f"'{config.variant}' needs model.impl=cells (fused kernels cannot express it), got impl={config.impl}",
            allowed=["standard"],
        )
    if not isinstance(config.residual, bool):
        raise ConfigError("model.residual", f"must be true or false, got {config.residual!r}")
    if normalize_compile(config.compile) not in COMPILE_OPTIONS:
        raise ConfigError("model.compile", f"unknown option '{config.compile}'", allowed=COMPILE_OPTIONS)


def initialize(rnn: nn.Module, scheme: str, forget_bias: float | None = None) -> None:
    """``default`` keeps PyTorch's U(-1/sqrt(H), 1/sqrt(H)); ``orthogonal`` makes each gate's W_hh block
    orthogonal and W_ih Xavier-uniform, biases zero. ``forget_bias`` sets the LSTM forget-gate biases
    (b_ih + b_hh) to that value. Variant parameters (layer-norm gains, peepholes) keep their own init.
    Works on any core whose parameters end in the ``torch.nn`` names (``layers.1.weight_hh_l0`` included)."""
    hidden = rnn.hidden_size
    for full_name, param in rnn.named_parameters():
        name = full_name.rsplit(".", 1)[-1]
        if scheme == "orthogonal":
            with torch.no_grad():
                if name.startswith("weight_hh"):
                    for block in param.split(hidden, dim=0):
                        nn.init.orthogonal_(block)
                elif name.startswith("weight_ih"):
                    for block in param.split(hidden, dim=0):
                        nn.init.xavier_uniform_(block)
                elif name.startswith("bias"):
                    param.zero_()
        if forget_bias is not None and name.startswith("bias"):
            with torch.no_grad():
                # gate order i, f, g, o; the two biases add up, so each carries half
                param[hidden : 2 * hidden].fill_(forget_bias / 2)
