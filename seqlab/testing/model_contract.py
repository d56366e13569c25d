"""``ModelContract``: the encoder contract of seqlab/models/base.py as pytest tests.

Subclass it in a test module (the class name must start with ``Test``) and set ``model_name``; optional class
attributes adjust sizes and tell which optional features the model has. The model is built from its YAML option
(composed through the config search path) plus ``overrides``, via the registry, exactly as a task builds it.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from functools import cache
from typing import ClassVar

import pytest
import torch
from omegaconf import DictConfig

from seqlab import registry
from seqlab.api import Capabilities, SequenceModel, State, build_model, detach_state, select_state
from seqlab.testing.compose import USAGE, compose_run_config, option_file, usage_line

SMALL = {"hidden_size": 8, "num_layers": 2, "dropout": 0.0}  # applied to the keys a model config has


def _tensors(state: State) -> list[torch.Tensor]:
    if state is None:
        return []
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for v in state.values() for t in _tensors(v)]
    return [t for s in state for t in _tensors(s)]


@cache
def _model_config(name: str, overrides: tuple[str, ...], extra: tuple[str, ...]) -> DictConfig:
    """The composed model node: SMALL (for the keys the model has), then ``overrides`` and ``extra``."""
    base = compose_run_config([f"model={name}"]).model
    small = [f"model.{k}={v}" for k, v in SMALL.items() if k in base]
    return compose_run_config([f"model={name}", *small, *overrides, *extra]).model


class ModelContract:
    """Shapes, state handling, TBPTT detach, lengths, state_dict round-trip and an honest ``bidirectional``."""

    model_name: ClassVar[str] = ""
    overrides: ClassVar[Sequence[str]] = ()  # e.g. ("model.hidden_size=12",), applied after SMALL
    input_size: ClassVar[int] = 5
    batch_size: ClassVar[int] = 3
    seq_len: ClassVar[int] = 10
    atol: ClassVar[float] = 1e-5
    supports_lengths: ClassVar[bool] = True  # forward(x, state, lengths) honours lengths
    state_batch_dim: ClassVar[int] = 1  # batch dimension of each state tensor (torch.nn.RNN: (layers, B, H))
    # overrides that make a bidirectional model; None = derive (model.bidirectional=true when the key exists)
    bidirectional_overrides: ClassVar[Sequence[str] | None] = None

    # ---- helpers ---------------------------------------------------------------------------------------------
    def model_config(self, extra: Sequence[str] = ()) -> DictConfig:
        return _model_config(self.model_name, tuple(self.overrides), tuple(extra)).copy()

    def build(self, extra: Sequence[str] = (), seed: int = 0) -> SequenceModel:
        torch.manual_seed(seed)
        return build_model(self.model_config(extra), self.input_size).eval()

    def inputs(self, seed: int = 1, batch: int | None = None, steps: int | None = None) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(batch or self.batch_size, steps or self.seq_len, self.input_size, generator=gen)

    def bidirectional_extra(self) -> Sequence[str] | None:
        if self.bidirectional_overrides is not None:
            return self.bidirectional_overrides
        return ["model.bidirectional=true"] if "bidirectional" in self.model_config() else None

    def carries_state(self) -> bool:
        """What the model class declares (``carries_state``, seqlab/models/capabilities.py): False for a per-step
        model that sees each call on its own and returns state None (the state tests then check just that)."""
        return Capabilities.of(registry.get_model(self.model_name)).carries_state

    def assert_close(self, a: torch.Tensor, b: torch.Tensor, what: str) -> None:
        assert a.shape == b.shape, f"{what}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ"
        assert torch.allclose(a, b, atol=self.atol, rtol=1e-4), f"{what}: max diff {(a - b).abs().max():.3g}"

    def assert_states_close(self, a: State, b: State, what: str) -> None:
        ta, tb = _tensors(a), _tensors(b)
        assert len(ta) == len(tb), f"{what}: states have {len(ta)} and {len(tb)} tensors"
        for x, y in zip(ta, tb):
            self.assert_close(x, y, what)

    # ---- registration ----------------------------------------------------------------------------------------
    def test_registered_with_a_config_option(self) -> None:
        assert self.model_name, "set model_name on the contract subclass"
        assert self.model_name in registry.names("model")
        cfg = self.model_config()
        assert cfg.name == self.model_name, f"model/{self.model_name}.yaml must set name: {self.model_name}"
        path = option_file("model", self.model_name)
        assert path is not None, f"no YAML file provides model={self.model_name}"
        assert usage_line(path, "model", self.model_name) is not None, (
            f"{path} must start with comment lines, one of them '# ... {USAGE} model={self.model_name} ...'"
        )

    def test_is_a_sequence_model_with_a_config_dataclass(self) -> None:
        cls = registry.get_model(self.model_name)
        assert issubclass(cls, SequenceModel)
        assert dataclasses.is_dataclass(cls.Config)
        model = self.build()
        assert isinstance(model.output_size, int) and model.output_size > 0
        assert isinstance(model.bidirectional, bool)
        assert model.num_parameters() == sum(p.numel() for p in model.parameters() if p.requires_grad) > 0

    # ---- shapes and state ------------------------------------------------------------------------------------
    def test_output_shape_and_state(self) -> None:
        model = self.build()
        out, state = model(self.inputs())
        assert out.shape == (self.batch_size, self.seq_len, model.output_size)
        assert torch.isfinite(out).all()
        if self.carries_state():
            assert _tensors(state), "forward must return the final state (a Tensor or a tuple of Tensors)"
        else:
            assert state is None, "a model declaring carries_state = False must return state None"
        out2, _ = model(self.inputs(), None)
        self.assert_close(out, out2, "eval-mode forward is deterministic")

    def test_carried_state_continues_the_sequence(self) -> None:
        """Running a sequence in two halves, the second from the first's state, equals one pass."""
        model = self.build()
        if model.bidirectional or not self.carries_state():
            pytest.skip("a bidirectional model, or one without a state, cannot continue a sequence")
        x = self.inputs()
        full, final = model(x)
        half = self.seq_len // 2
        first, state = model(x[:, :half])
        second, state = model(x[:, half:], state)
        self.assert_close(torch.cat([first, second], dim=1), full, "two halves vs one pass (outputs)")
        self.assert_states_close(state, final, "two halves vs one pass (final state)")
        fresh, _ = model(x[:, half:])
        assert not torch.allclose(fresh, second), "the state passed in must change the outputs"

    def test_detach_state_cuts_the_graph(self) -> None:
        """TBPTT: gradients of chunk 2 reach chunk 1's inputs through the state, and not once it is detached."""
        model = self.build()
        if model.bidirectional or not self.carries_state():
            pytest.skip("TBPTT does not apply to a bidirectional model or one without a state")
        model.train()
        x = self.inputs().requires_grad_(True)
        half = self.seq_len // 2
        _, state = model(x[:, :half])
        assert any(t.requires_grad for t in _tensors(state)), "the returned state must carry the graph"
        out, _ = model(x[:, half:], state)
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert grad[:, :half].abs().sum() > 0, "the carried state does not connect chunk 2 to chunk 1"
        detached = detach_state(state)
        assert type(detached) is type(state)
        assert not any(t.requires_grad for t in _tensors(detached))
        out, _ = model(x[:, half:], detached)
        (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
        assert grad is None or grad[:, :half].abs().sum() == 0, "detach_state did not cut the graph"

    def test_batch_rows_are_independent(self) -> None:
        model = self.build()
        x = self.inputs()
        out, _ = model(x)
        y = x.clone()
        y[1:] = self.inputs(seed=7)[1:]
        out_y, _ = model(y)
        self.assert_close(out_y[0], out[0], "row 0 must not depend on the other rows")

    def test_lengths_mask_padding(self) -> None:
        """Padded steps give zero outputs and never change the state: each row equals its prefix run alone."""
        if not self.supports_lengths:
            pytest.skip("the model does not take lengths")
        model = self.build()
        x = self.inputs()
        lengths = torch.tensor([self.seq_len - i * 3 for i in range(self.batch_size)]).clamp(min=1)
        out, state = model(x, lengths=lengths)
        assert out.shape == (self.batch_size, self.seq_len, model.output_size)
        for row, n in enumerate(lengths.tolist()):
            alone, alone_state = model(x[row : row + 1, :n])
            self.assert_close(out[row : row + 1, :n], alone, f"row {row} (length {n}) outputs")
            assert out[row, n:].abs().sum() == 0, f"row {row}: outputs after its length must be 0"
            picked = select_state(state, torch.tensor([row]), self.state_batch_dim)
            self.assert_states_close(picked, alone_state, f"row {row} (length {n}) final state")

    # ---- parameters ------------------------------------------------------------------------------------------
    def test_state_dict_round_trip(self) -> None:
        model = self.build(seed=0)
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        buffer.seek(0)
        other = self.build(seed=1)
        x = self.inputs()
        assert not torch.allclose(other(x)[0], model(x)[0]), "two seeds gave the same weights"
        other.load_state_dict(torch.load(buffer, weights_only=True))
        assert set(other.state_dict()) == set(model.state_dict())
        self.assert_close(other(x)[0], model(x)[0], "outputs after load_state_dict")

    def test_gradients_reach_every_parameter(self) -> None:
        model = self.build().train()
        out, _ = model(self.inputs())
        out.pow(2).mean().backward()
        missing = [
            n
            for n, p in model.named_parameters()
            if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)
        ]
        assert not missing, f"no (finite, non-zero) gradient for {missing}"

    # ---- direction -------------------------------------------------------------------------------------------
    def _future_changes_past(self, model: SequenceModel) -> bool:
        x = self.inputs()
        y = x.clone()
        y[:, -1] += 1.0
        return not torch.allclose(model(x)[0][:, 0], model(y)[0][:, 0], atol=1e-7)

    def test_default_direction_is_honest(self) -> None:
        """A unidirectional model is causal (outputs before t ignore inputs after t); a bidirectional one is not."""
        model = self.build()
        if model.bidirectional:
            assert self._future_changes_past(model), "bidirectional=True but the first output ignores the future"
            return
        x = self.inputs()
        y = x.clone()
        y[:, self.seq_len // 2 :] = self.inputs(seed=9)[:, self.seq_len // 2 :]
        self.assert_close(
            model(y)[0][:, : self.seq_len // 2],
            model(x)[0][:, : self.seq_len // 2],
            "outputs before step t must not depend on inputs after t",
        )

    def test_bidirectional_flag_is_honest(self) -> None:
        extra = self.bidirectional_extra()
        if extra is None:
            pytest.skip("the model has no bidirectional option")
        model = self.build(extra)
        assert model.bidirectional is True, f"{extra} built a model whose .bidirectional is not True"
        assert self._future_changes_past(model), "a bidirectional model's first output must see the last input"
        out, _ = model(self.inputs())
        assert out.shape == (self.batch_size, self.seq_len, model.output_size)
