"""The image-encoder role: an image (or precomputed features) -> a grid of region features and one pooled vector.

``forward(images) -> (grid, pooled)``:

- ``images`` ``(B, 3, H, W)`` float in [0, 1] (:class:`PrecomputedFeatures` takes feature tensors instead);
- ``grid`` ``(B, R, C)``: the feature map ``(B, C, H', W')`` flattened row-major, ``R = H' * W'``, region
  ``r = y * W' + x``, so per-step attention ``(B, T, R)`` reshapes to maps ``(B, T, H', W')`` over the image;
- ``pooled`` ``(B, C)``: one summary of the image (the mean of the grid, ``(1/R) sum_r grid_r``, unless stated).

An encoder states ``output_size`` (``C``), ``grid_shape`` (``(H', W')`` of the last forward, None before one) and
``grid_shape_for(input_shape)`` (the same, computed from one input's shape without the batch, e.g. ``(3, H, W)``).
``trainable`` is False when no parameter takes gradients (a frozen or parameter-free encoder). Hyper-parameters are
a dataclass named ``Config`` on the class (``name`` is the entry point name in ``seqlab.image_encoders``); the task
builds an encoder as ``Encoder(config)``. ``seqlab.testing.ImageEncoderContract`` checks the contract.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.old_paths import keep_old_paths

__all__ = [
    "ImageEncoder",
    "ImageEncoderConfig",
    "PrecomputedFeatures",
    "PrecomputedFeaturesConfig",
    "SmallCNN",
    "SmallCNNConfig",
    "flatten_grid",
]


@dataclass
class ImageEncoderConfig:
    """Fields every image-encoder config has."""

    name: str = "???"


def flatten_grid(feature_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, C, H', W')`` -> ``grid`` ``(B, H' * W', C)`` (row-major regions) and ``pooled = mean_r grid_r``."""
    grid = feature_map.flatten(2).transpose(1, 2)
    return grid, grid.mean(dim=1)


def check_images(images: torch.Tensor, who: str) -> None:
    """ValueError unless ``images`` is ``(B, 3, H, W)`` floating point."""
    if images.dim() != 4 or images.size(1) != 3 or not images.is_floating_point():
        raise ValueError(f"{who} reads float images of shape (B, 3, H, W), got {tuple(images.shape)} {images.dtype}")


class ImageEncoder(nn.Module):
    """Base class of image encoders; subclasses set ``Config``, ``output_size`` and implement ``forward`` and
    ``grid_shape_for`` (the module docstring states the contract)."""

    Config: ClassVar[type] = ImageEncoderConfig
    output_size: int

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.grid_shape: tuple[int, int] | None = None

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def grid_shape_for(self, input_shape: Sequence[int]) -> tuple[int, int]:
        """``(H', W')`` of the grid for one input of shape ``input_shape`` (no batch dimension)."""
        raise NotImplementedError

    @property
    def trainable(self) -> bool:
        """Whether any parameter takes gradients (False: frozen, or nothing to train)."""
        return any(p.requires_grad for p in self.parameters())

    def num_parameters(self) -> int:
        """Trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


# ---- a small CNN trained from scratch ----------------------------------------------------------------------------
@dataclass
class SmallCNNConfig(ImageEncoderConfig):
    """``depth`` blocks of conv3x3 (padding 1) -> BatchNorm (if ``batch_norm``) -> ReLU -> maxpool 2x2; block ``k``
    (from 0) has ``width * 2**k`` channels. Each block halves H and W: depth 3 turns 64x64 into an 8x8 grid."""

    name: str = "small_cnn"
    width: int = 32
    depth: int = 3
    # off by default: on the generated scenes the decoder's colour and shape words turned on small shifts of the
    # features, and BatchNorm's running statistics (within 5-10% of the batch ones) made the val loss jump between
    # 0.5 and 2.3 from one epoch to the next (docs/benchmarks.md, Captioning); without it training is steady
    batch_norm: bool = False


class SmallCNN(ImageEncoder):
    """A VGG-style CNN trained from scratch (see :class:`SmallCNNConfig`); the input is shifted to [-0.5, 0.5].

    ``grid`` is the last block's map flattened, ``pooled`` its global average; ``output_size = width * 2**(depth-1)``.
    """

    Config: ClassVar[type] = SmallCNNConfig

    def __init__(self, config: SmallCNNConfig | None = None) -> None:
        config = config if config is not None else SmallCNNConfig()
        for key in ("width", "depth"):
            if int(getattr(config, key)) < 1:
                raise ConfigError(f"image_encoder.{key}", f"must be >= 1, got {getattr(config, key)}")
        super().__init__(config)
        layers: list[nn.Module] = []
        channels = 3
        for k in range(config.depth):
            out = config.width * 2**k
            layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1, bias=not config.batch_norm))
            if config.batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = out
        self.body = nn.Sequential(*layers)
        self.output_size = channels

    def grid_shape_for(self, input_shape: Sequence[int]) -> tuple[int, int]:
        """``(H // 2**depth, W // 2**depth)`` for an input ``(3, H, W)``; ValueError when that is empty."""
        height, width = int(input_shape[-2]), int(input_shape[-1])
        scale = 2**self.config.depth
        shape = (height // scale, width // scale)
        if min(shape) < 1:
            raise ValueError(
                f"SmallCNN with depth {self.config.depth} needs images of at least {scale}x{scale}, "
                f"got {height}x{width}"
            )
        return shape

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_images(images, "SmallCNN")
        self.grid_shape = self.grid_shape_for(images.shape[1:])
        return flatten_grid(self.body(images - 0.5))


# ---- features computed elsewhere -----------------------------------------------------------------------------------
@dataclass
class PrecomputedFeaturesConfig(ImageEncoderConfig):
    """Features another network computed (``.npy``/``.npz`` files): ``feature_size`` is their ``C``."""

    name: str = "features"
    feature_size: int = 2048


class PrecomputedFeatures(ImageEncoder):
    """The identity over given features; no parameters (``trainable`` is False).

    - ``(B, C)`` vectors: ``grid = features[:, None]`` (one region, grid ``(1, 1)``), ``pooled = features``;
    - ``(B, H, W, C)`` grids: ``grid`` ``(B, H * W, C)`` row-major, grid ``(H, W)``, ``pooled = mean_r grid_r``;
    - ``(B, R, C)`` region lists: ``grid = features``, grid ``(r, r)`` when ``R = r * r`` is a square, else
      ``(1, R)``; ``pooled = mean_r grid_r``.
    """

    Config: ClassVar[type] = PrecomputedFeaturesConfig

    def __init__(self, config: PrecomputedFeaturesConfig | None = None) -> None:
        config = config if config is not None else PrecomputedFeaturesConfig()
        if int(config.feature_size) < 1:
            raise ConfigError("image_encoder.feature_size", f"must be >= 1, got {config.feature_size}")
        super().__init__(config)
        self.output_size = int(config.feature_size)

    def grid_shape_for(self, input_shape: Sequence[int]) -> tuple[int, int]:
        """``(1, 1)`` for ``(C,)``, ``(H, W)`` for ``(H, W, C)``, ``(r, r)`` or ``(1, R)`` for ``(R, C)``."""
        shape = tuple(int(s) for s in input_shape)
        if len(shape) not in (1, 2, 3) or shape[-1] != self.output_size:
            raise ValueError(
                f"PrecomputedFeatures(feature_size={self.output_size}) reads (C,), (R, C) or (H, W, C) features "
                f"with C = {self.output_size}, got {shape}"
            )
        if len(shape) == 1:
            return (1, 1)
        if len(shape) == 3:
            return (shape[0], shape[1])
        side = math.isqrt(shape[0])
        return (side, side) if side * side == shape[0] else (1, shape[0])

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.grid_shape = self.grid_shape_for(features.shape[1:])
        if features.dim() == 2:
            return features[:, None, :], features
        grid = features.flatten(1, 2) if features.dim() == 4 else features
        return grid, grid.mean(dim=1)


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("ImageEncoder", "ImageEncoderConfig"))
