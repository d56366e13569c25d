"""``TorchvisionEncoder``: any torchvision CNN's last convolutional feature map as the image grid (optional extra).

torchvision is not a dependency of seqlab (the wheel on PyPI must match the installed torch exactly); install the
extra ``pip install 'seqlab[vision]'`` with a torchvision built for your torch. Without it, building the encoder
raises a one-line ConfigError.

The model comes from ``torchvision.models.get_model(model, weights="DEFAULT" if pretrained else None)``; its
convolutional body is its ``features`` module when it has one (VGG, DenseNet, MobileNet, EfficientNet, ConvNeXt),
else its children in order without the classification head (trailing and auxiliary modules holding a Linear layer,
adaptive pooling, dropout, flatten: ResNet, ResNeXt, Wide ResNet, RegNet, GoogLeNet, Inception v3). Models whose
``forward`` is not their children in order, or whose body does not end in a ``(B, C, H', W')`` map (ViT, Swin), are
refused at construction. Images in [0, 1] are normalised with the ImageNet mean and std first.

``freeze`` keeps every weight fixed: no parameter takes gradients, the body stays in eval mode (BatchNorm statistics
are not updated) and runs without autograd; ``freeze=false`` fine-tunes it all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.image_encoder import ImageEncoder, ImageEncoderConfig, check_images, flatten_grid

__all__ = ["TorchvisionEncoder", "TorchvisionEncoderConfig", "conv_body"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PROBE_SIZE = 224  # the image side used to find output_size at construction
_HEAD = (nn.Linear, nn.Dropout, nn.Flatten, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass
class TorchvisionEncoderConfig(ImageEncoderConfig):
    name: str = "torchvision"
    model: str = "resnet18"  # any name of torchvision.models.list_models() with a convolutional body
    pretrained: bool = True  # torchvision's DEFAULT weights (from the torch hub cache; nothing is downloaded here)
    freeze: bool = True  # false: fine-tune the whole CNN


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def import_torchvision() -> Any:
    """The torchvision module, or a one-line ConfigError saying how to install it."""
    try:
        import torchvision  # the optional extra: imported only when this encoder is built
    except Exception as exc:  # ImportError, or a build for another torch failing at import (RuntimeError, OSError)
        raise ConfigError(
            "image_encoder.name",
            f"the torchvision encoder needs torchvision, which cannot be imported ({_one_line(exc)}); install "
            f"the extra: pip install 'seqlab[vision]' with a torchvision built for torch {torch.__version__}",
        ) from None
    return torchvision


def _is_head(module: nn.Module) -> bool:
    return isinstance(module, _HEAD) or any(isinstance(m, nn.Linear) for m in module.modules())


def conv_body(model: nn.Module) -> nn.Module:
    """The convolutional part of a classification CNN: ``model.features`` if it exists, else its children in order
    without head modules (a Linear inside, adaptive pooling, dropout, flatten)."""
    features = getattr(model, "features", None)
    if isinstance(features, nn.Module):
        return features
    children = [child for child in model.children() if not _is_head(child)]
    if not children:
        raise ConfigError("image_encoder.model", f"{type(model).__name__} has no convolutional layers to use")
    return nn.Sequential(*children)


class TorchvisionEncoder(ImageEncoder):
    """A torchvision CNN's last feature map: ``grid`` ``(B, H' * W', C)``, ``pooled`` its mean (module docstring)."""

    Config: ClassVar[type] = TorchvisionEncoderConfig

    def __init__(self, config: TorchvisionEncoderConfig | None = None) -> None:
        config = config if config is not None else TorchvisionEncoderConfig()
        super().__init__(config)
        torchvision = import_torchvision()
        try:
            model = torchvision.models.get_model(config.model, weights="DEFAULT" if config.pretrained else None)
        except (ValueError, KeyError) as exc:
            raise ConfigError(
                "image_encoder.model",
                f"torchvision has no model {config.model!r} ({_one_line(exc)}; see torchvision.models.list_models())",
            ) from None
        except Exception as exc:  # pretrained weights absent from the cache and no network, or a broken file
            raise ConfigError(
                "image_encoder.pretrained",
                f"cannot load the pretrained weights of {config.model} ({_one_line(exc)}); put them in the torch hub "
                "cache ($TORCH_HOME/hub/checkpoints) or set pretrained=false",
            ) from None
        self.body = conv_body(model)
        self.freeze = bool(config.freeze)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if self.freeze:
            self.body.requires_grad_(False)
        self._shapes: dict[tuple[int, int], tuple[int, ...]] = {}
        self.output_size = self._probe(PROBE_SIZE, PROBE_SIZE)[0]
        self.train()

    def _probe(self, height: int, width: int) -> tuple[int, ...]:
        """``(C, H', W')`` of the body's output for one ``height x width`` image (computed once per size)."""
        key = (height, width)
        if key not in self._shapes:
            was_training = self.body.training
            self.body.eval()
            try:
                with torch.no_grad():
                    out = self.body(self.mean.new_zeros(1, 3, height, width))
            except Exception as exc:
                raise ConfigError(
                    "image_encoder.model",
                    f"{self.config.model}'s layers do not run as a sequence on a {height}x{width} image "
                    f"({_one_line(exc)}); use a CNN such as resnet18 or vgg11",
                ) from None
            finally:
                self.body.train(was_training)
            if out.dim() != 4:
                raise ConfigError(
                    "image_encoder.model",
                    f"{self.config.model}'s body gives a {out.dim()}-d output, not a (B, C, H', W') feature map",
                )
            self._shapes[key] = tuple(out.shape[1:])
        return self._shapes[key]

    def grid_shape_for(self, input_shape: Sequence[int]) -> tuple[int, int]:
        """``(H', W')`` for an input ``(3, H, W)``, found by running the body once on zeros of that size."""
        _, h, w = self._probe(int(input_shape[-2]), int(input_shape[-1]))
        return (h, w)

    def train(self, mode: bool = True) -> TorchvisionEncoder:
        """As ``nn.Module.train``; a frozen body stays in eval mode."""
        super().train(mode)
        if self.freeze:
            self.body.eval()
        return self

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_images(images, "TorchvisionEncoder")
        x = (images - self.mean) / self.std
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            feature_map = self.body(x)
        self.grid_shape = (feature_map.size(2), feature_map.size(3))
        return flatten_grid(feature_map)
