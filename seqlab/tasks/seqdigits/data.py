"""Digit images as sequences: scikit-learn's bundled 8x8 digits, or a folder of the user's images.

An image folder holds one sub-folder per class (``root/<class>/*.png|jpg|...``, as torchvision's ImageFolder);
images are read as grayscale, resized to ``image_size`` x ``image_size`` and scaled to [0, 1]. ``mode=rows`` reads
an image as ``H`` steps of ``W`` features; ``mode=pixels`` as ``H*W`` steps of one feature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seqlab.data.synthetic import Splits
from seqlab.errors import DataError

MODES = ("rows", "pixels")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".tif", ".tiff")


def load_sklearn_digits() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(images (n, 8, 8) in [0, 1], labels (n,), class names)``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / 16.0
    return images, torch.tensor(digits.target, dtype=torch.long), [str(c) for c in digits.target_names]


def load_image_folder(root: str, image_size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images of ``root/<class>/`` in sorted order; raises DataError naming the key for a bad folder."""
    from PIL import Image, UnidentifiedImageError

    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"task.data.path: not a folder: {base}")
    classes = sorted(p.name for p in base.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DataError(f"task.data.path: {base} needs one sub-folder per class (at least 2), found {len(classes)}")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((base / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as img:
                    gray = img.convert("L").resize((image_size, image_size))
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"task.data.path: cannot read image {file}: {exc}") from None
            images.append(np.asarray(gray, dtype=np.float32) / 255.0)
            labels.append(label)
    if not images:
        raise DataError(f"task.data.path: no images ({', '.join(IMAGE_SUFFIXES)}) under {base}")
    return torch.tensor(np.stack(images)), torch.tensor(labels, dtype=torch.long), classes


def as_sequences(images: torch.Tensor, mode: str) -> torch.Tensor:
    """``(n, H, W)`` -> ``(n, H, W)`` (rows) or ``(n, H*W, 1)`` (pixels)."""
    return images if mode == "rows" else images.reshape(images.size(0), -1, 1)


def split_images(x: torch.Tensor, y: torch.Tensor, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """A seeded random permutation cut into train | val | test."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    order = torch.randperm(len(y), generator=gen)
    n_val, n_test = int(len(y) * val_fraction), int(len(y) * test_fraction)
    if len(y) - n_val - n_test < 1 or n_val < 1 or n_test < 1:
        raise DataError(
            f"task.data: {len(y)} images are too few for val_fraction={val_fraction}, test_fraction={test_fraction}"
        )
    val, test, train = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]
    return Splits(train=(x[train], y[train]), val=(x[val], y[val]), test=(x[test], y[test]))
