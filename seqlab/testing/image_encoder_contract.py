"""``ImageEncoderContract``: the image-encoder contract of seqlab/models/image_encoder.py as pytest tests.

Subclass it in a test module (the class name must start with ``Test``) and implement ``make_encoder``; class
attributes set the sizes. An encoder reading something other than images (e.g. precomputed features) overrides
``inputs``. ``encoder_name`` (optional) checks that the ``seqlab.image_encoders`` entry point of that name gives the
class ``make_encoder`` builds.

    class TestMyEncoder(ImageEncoderContract):
        encoder_name = "mycnn"
        image_size = (32, 32)

        def make_encoder(self) -> ImageEncoder:
            return MyCNN(MyCNN.Config(width=4))
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest
import torch

from seqlab import registry
from seqlab.api import ImageEncoder


class ImageEncoderContract:
    """Shapes and ``grid_shape``, a ``Config`` dataclass, rows independent of each other, determinism in eval mode,
    and gradients reaching every trainable parameter (none for a frozen encoder)."""

    encoder_name: ClassVar[str] = ""  # its seqlab.image_encoders entry-point name; "" skips the registration test
    batch_size: ClassVar[int] = 3
    image_size: ClassVar[tuple[int, int]] = (32, 32)
    atol: ClassVar[float] = 1e-5

    # ---- to implement / override -----------------------------------------------------------------------------
    def make_encoder(self) -> ImageEncoder:
        """A fresh encoder (random weights; the caller seeds torch)."""
        raise NotImplementedError("implement make_encoder() on the ImageEncoderContract subclass")

    def inputs(self, seed: int = 1) -> torch.Tensor:
        """What ``forward`` reads: here images ``(B, 3, H, W)`` uniform in [0, 1]."""
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(self.batch_size, 3, *self.image_size, generator=gen)

    # ---- helpers ---------------------------------------------------------------------------------------------
    def build(self, seed: int = 0) -> ImageEncoder:
        torch.manual_seed(seed)
        return self.make_encoder().eval()

    def assert_close(self, a: torch.Tensor, b: torch.Tensor, what: str) -> None:
        assert a.shape == b.shape, f"{what}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ"
        assert torch.allclose(a, b, atol=self.atol, rtol=1e-4), f"{what}: max diff {(a - b).abs().max():.3g}"

    # ---- the contract ----------------------------------------------------------------------------------------
    def test_registered_under_its_name(self) -> None:
        if not self.encoder_name:
            pytest.skip("set encoder_name to check the seqlab.image_encoders entry point")
        names = registry.names("image_encoder")
        assert self.encoder_name in names, f"no seqlab.image_encoders entry point '{self.encoder_name}'"
        assert registry.get_image_encoder(self.encoder_name) is type(self.build()), (
            "the entry point names another class"
        )

    def test_is_an_image_encoder_with_a_config(self) -> None:
        encoder = self.build()
        assert isinstance(encoder, ImageEncoder)
        assert dataclasses.is_dataclass(type(encoder).Config), "Config must be a dataclass"
        assert "name" in {f.name for f in dataclasses.fields(type(encoder).Config)}, "Config needs a name field"
        assert isinstance(encoder.output_size, int) and encoder.output_size >= 1
        assert isinstance(encoder.trainable, bool)

    def test_shapes_and_grid_shape(self) -> None:
        encoder = self.build()
        x = self.inputs()
        expected = encoder.grid_shape_for(x.shape[1:])
        with torch.no_grad():
            grid, pooled = encoder(x)
        regions = expected[0] * expected[1]
        assert grid.shape == (self.batch_size, regions, encoder.output_size), f"grid {tuple(grid.shape)}"
        assert pooled.shape == (self.batch_size, encoder.output_size), f"pooled {tuple(pooled.shape)}"
        assert tuple(encoder.grid_shape) == tuple(expected), "grid_shape after forward != grid_shape_for(input)"
        assert grid.is_floating_point() and torch.isfinite(grid).all() and torch.isfinite(pooled).all()

    def test_rows_are_independent(self) -> None:
        encoder = self.build()
        x = self.inputs()
        with torch.no_grad():
            grid, pooled = encoder(x)
            part_grid, part_pooled = encoder(x[1:])
            other = x.clone()
            other[0] = self.inputs(seed=7)[0]
            changed_grid, changed_pooled = encoder(other)
        self.assert_close(part_grid, grid[1:], "grid of rows 1.. encoded without row 0")
        self.assert_close(part_pooled, pooled[1:], "pooled of rows 1.. encoded without row 0")
        self.assert_close(changed_grid[1:], grid[1:], "grid of rows 1.. after changing row 0")
        assert not torch.allclose(changed_grid[0], grid[0]), "the input must change its own row's grid"

    def test_deterministic_in_eval_mode(self) -> None:
        encoder = self.build()
        x = self.inputs()
        with torch.no_grad():
            first, second = encoder(x), encoder(x)
        assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1]), "eval mode must be deterministic"

    def test_gradients_reach_every_trainable_parameter(self) -> None:
        encoder = self.build().train()
        params = [p for p in encoder.parameters() if p.requires_grad]
        assert encoder.trainable == bool(params)
        gen = torch.Generator().manual_seed(3)
        grid, pooled = encoder(self.inputs())
        if not params:  # frozen or parameter-free: nothing to train, and nothing may pretend to
            assert all(p.grad is None for p in encoder.parameters())
            return
        loss = (grid * torch.randn(grid.shape, generator=gen)).sum() + (
            pooled * torch.randn(pooled.shape, generator=gen)
        ).sum()
        loss.backward()
        for name, param in encoder.named_parameters():
            if param.requires_grad:
                assert param.grad is not None, f"no gradient reached {name}"
                assert torch.isfinite(param.grad).all(), f"non-finite gradient in {name}"
        assert any(p.grad.abs().sum() > 0 for p in params), "every gradient is zero"
