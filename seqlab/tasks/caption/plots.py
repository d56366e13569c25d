"""Pictures of captions: each image with its generated caption and, with attention, one panel per generated word
with that step's attention over the feature grid upsampled onto the image (brighter = more attention)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

MAX_WORDS = 8


def overlay(weights: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """``weights`` ``(R,)`` over a row-major ``grid`` -> ``(H, W)`` map upsampled (bilinear) to the image, max 1."""
    heat = weights.float().view(1, 1, *grid)
    heat = F.interpolate(heat, size=size, mode="bilinear", align_corners=False)[0, 0]
    return heat / heat.max().clamp(min=1e-8)


def plot_captions(
    images: list[torch.Tensor],
    texts: list[str],
    tokens: list[list[str]],
    attention: list[torch.Tensor | None],
    grid: tuple[int, int] | None,
    path: Path,
) -> Path:
    """One PNG: a row per image (the image and its caption; with attention, its first words' maps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawable = [img.dim() == 3 and img.size(0) == 3 for img in images]
    words = MAX_WORDS if grid is not None and any(a is not None for a in attention) else 0
    cols = 1 + words
    fig, axes = plt.subplots(len(images), cols, figsize=(2.2 * cols, 2.4 * len(images)), squeeze=False)
    for row, (image, text, toks, attn, ok) in enumerate(zip(images, texts, tokens, attention, drawable)):
        picture = image.permute(1, 2, 0).clamp(0, 1).numpy() if ok else None
        ax = axes[row, 0]
        if picture is not None:
            ax.imshow(picture)
        ax.set_title(text if len(text) < 40 else text[:37] + "...", fontsize=7)
        ax.axis("off")
        for col in range(1, cols):
            ax = axes[row, col]
            ax.axis("off")
            t = col - 1
            if attn is None or grid is None or t >= attn.size(0) or picture is None:
                continue
            ax.imshow(picture)
            ax.imshow(overlay(attn[t], grid, picture.shape[:2]).numpy(), cmap="gray", alpha=0.6, vmin=0, vmax=1)
            ax.set_title(toks[t] if t < len(toks) else "<eos>", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
