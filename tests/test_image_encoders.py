"""The image-encoder role: SmallCNN and PrecomputedFeatures under the contract, TorchvisionEncoder on a stand-in
torchvision module (the real one does not import beside this torch), and the one-line errors."""

from __future__ import annotations

import sys
import types
from unittest import mock

import pytest
import torch
from torch import nn

from seqlab import registry
from seqlab.errors import ConfigError
from seqlab.models.image_encoder import (
    ImageEncoder,
    PrecomputedFeatures,
    PrecomputedFeaturesConfig,
    SmallCNN,
    SmallCNNConfig,
)
from seqlab.models.torchvision_encoder import TorchvisionEncoder, TorchvisionEncoderConfig, conv_body
from seqlab.testing import ImageEncoderContract


def skip_unless_registered(name: str) -> None:
    """The entry points live in pyproject.toml; until it declares them (and seqlab is reinstalled) skip."""
    if name not in registry.names("image_encoder"):
        pytest.skip(f"seqlab.image_encoders entry point '{name}' is not installed yet (pyproject.toml)")


# ---- SmallCNN ------------------------------------------------------------------------------------------------------
class TestSmallCNN(ImageEncoderContract):
    encoder_name = "small_cnn"
    image_size = (16, 16)

    def make_encoder(self) -> ImageEncoder:
        return SmallCNN(SmallCNNConfig(width=4, depth=2))

    def test_registered_under_its_name(self) -> None:
        skip_unless_registered(self.encoder_name)
        super().test_registered_under_its_name()


class TestSmallCNNWithoutBatchNorm(ImageEncoderContract):
    image_size = (12, 20)  # not square, not a power of two

    def make_encoder(self) -> ImageEncoder:
        return SmallCNN(SmallCNNConfig(width=3, depth=2, batch_norm=False))


def test_small_cnn_grid_and_pooled():
    encoder = SmallCNN(SmallCNNConfig(width=4, depth=3)).eval()
    assert encoder.output_size == 16 and encoder.grid_shape is None
    grid, pooled = encoder(torch.rand(2, 3, 64, 64))
    assert encoder.grid_shape == (8, 8) and grid.shape == (2, 64, 16)
    torch.testing.assert_close(pooled, grid.mean(1))
    x = torch.rand(1, 3, 64, 64)
    grid, _ = encoder(x)
    fmap = encoder.body(x - 0.5)
    torch.testing.assert_close(grid[0, 3 * 8 + 5], fmap[0, :, 3, 5])  # region r = y * W' + x
    assert encoder.grid_shape_for((3, 50, 70)) == (6, 8)
    with pytest.raises(ValueError, match="at least 8x8"):
        encoder.grid_shape_for((3, 4, 64))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        encoder(torch.rand(2, 64, 64))


@pytest.mark.parametrize("key", ["width", "depth"])
def test_small_cnn_bad_config(key):
    with pytest.raises(ConfigError, match=rf"^image_encoder\.{key}: must be >= 1, got 0$"):
        SmallCNN(SmallCNNConfig(**{key: 0}))


# ---- precomputed features ------------------------------------------------------------------------------------------
class TestPrecomputedGrids(ImageEncoderContract):
    encoder_name = "features"

    def make_encoder(self) -> ImageEncoder:
        return PrecomputedFeatures(PrecomputedFeaturesConfig(feature_size=5))

    def inputs(self, seed: int = 1) -> torch.Tensor:
        return torch.randn(self.batch_size, 3, 4, 5, generator=torch.Generator().manual_seed(seed))

    def test_registered_under_its_name(self) -> None:
        skip_unless_registered(self.encoder_name)
        super().test_registered_under_its_name()


class TestPrecomputedVectors(TestPrecomputedGrids):
    def inputs(self, seed: int = 1) -> torch.Tensor:
        return torch.randn(self.batch_size, 5, generator=torch.Generator().manual_seed(seed))


def test_precomputed_features_shapes():
    encoder = PrecomputedFeatures(PrecomputedFeaturesConfig(feature_size=4))
    assert not encoder.trainable and encoder.num_parameters() == 0
    vectors = torch.randn(2, 4)
    grid, pooled = encoder(vectors)
    assert encoder.grid_shape == (1, 1) and torch.equal(grid[:, 0], vectors) and torch.equal(pooled, vectors)
    maps = torch.randn(2, 3, 5, 4)
    grid, pooled = encoder(maps)
    assert encoder.grid_shape == (3, 5) and torch.equal(grid[:, 2 * 5 + 1], maps[:, 2, 1])
    torch.testing.assert_close(pooled, maps.mean(dim=(1, 2)))
    assert encoder.grid_shape_for((9, 4)) == (3, 3) and encoder.grid_shape_for((6, 4)) == (1, 6)
    grid, _ = encoder(torch.randn(2, 6, 4))
    assert grid.shape == (2, 6, 4) and encoder.grid_shape == (1, 6)
    with pytest.raises(ValueError, match="with C = 4"):
        encoder(torch.randn(2, 3, 3, 7))
    with pytest.raises(ConfigError, match=r"^image_encoder\.feature_size: must be >= 1"):
        PrecomputedFeatures(PrecomputedFeaturesConfig(feature_size=0))


# ---- torchvision (a stand-in module) -------------------------------------------------------------------------------
class TinyResNet(nn.Module):
    """A classification CNN shaped like torchvision's ResNet: conv stem, a block with an aux head, pool, fc."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.aux = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))  # an auxiliary classifier: dropped
        self.layer1 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 10)


def fake_torchvision(calls: list | None = None) -> types.ModuleType:
    def get_model(name: str, weights: str | None = None) -> nn.Module:
        if calls is not None:
            calls.append((name, weights))
        if name == "tinyresnet":
            return TinyResNet()
        if name == "tinyvgg":
            model = nn.Module()
            model.features = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4))
            model.classifier = nn.Linear(5, 10)
            return model
        if name == "offline":
            raise RuntimeError("<urlopen error [Errno -3] Temporary failure in name resolution>")
        raise ValueError(f"Unknown model {name}")

    module = types.ModuleType("torchvision")
    module.models = types.SimpleNamespace(get_model=get_model)
    return module


def torchvision_encoder(**keys: object) -> TorchvisionEncoder:
    with mock.patch.dict(sys.modules, {"torchvision": fake_torchvision()}):
        return TorchvisionEncoder(TorchvisionEncoderConfig(**keys))


class TestTorchvisionFineTuned(ImageEncoderContract):
    def make_encoder(self) -> ImageEncoder:
        return torchvision_encoder(model="tinyresnet", pretrained=False, freeze=False)


class TestTorchvisionFrozen(ImageEncoderContract):
    def make_encoder(self) -> ImageEncoder:
        return torchvision_encoder(model="tinyvgg", freeze=True)


def test_torchvision_body_freeze_and_weights():
    calls: list = []
    with mock.patch.dict(sys.modules, {"torchvision": fake_torchvision(calls)}):
        encoder = TorchvisionEncoder(TorchvisionEncoderConfig(model="tinyresnet", pretrained=True, freeze=True))
    assert calls == [("tinyresnet", "DEFAULT")]
    assert [type(m).__name__ for m in encoder.body] == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    assert encoder.output_size == 6 and encoder.grid_shape_for((3, 32, 48)) == (8, 12)
    assert not encoder.trainable and not encoder.train().body.training, "a frozen body stays in eval mode"
    grid, pooled = encoder(torch.rand(2, 3, 32, 48))
    assert grid.shape == (2, 96, 6) and encoder.grid_shape == (8, 12) and not grid.requires_grad
    vgg = TinyResNet()
    vgg.features = nn.Sequential(nn.Conv2d(3, 2, 1))
    assert conv_body(vgg) is vgg.features


def test_torchvision_errors_are_one_line():
    with mock.patch.dict(sys.modules, {"torchvision": None}):  # import fails as it does beside this torch
        with pytest.raises(ConfigError) as err:
            TorchvisionEncoder()
    text = str(err.value)
    assert text.startswith("image_encoder.name: the torchvision encoder needs torchvision") and "\n" not in text
    assert "seqlab[vision]" in text
    with pytest.raises(ConfigError, match=r"^image_encoder\.model: torchvision has no model 'nope'"):
        torchvision_encoder(model="nope")
    with pytest.raises(ConfigError, match=r"^image_encoder\.pretrained: cannot load the pretrained weights of offline"):
        torchvision_encoder(model="offline")


def test_the_image_encoder_role_is_a_registry_group():
    assert registry.GROUPS["image_encoder"] == "seqlab.image_encoders"
    with pytest.raises(ConfigError, match=r"^image_encoder\.name: unknown image_encoder 'nope'"):
        registry.get_image_encoder("nope")
