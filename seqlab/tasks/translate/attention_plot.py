"""Attention heatmaps: source tokens (columns) x generated target tokens (rows), one panel per sentence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class AttentionMap:
    source: list[str]  # source tokens in reading order (not reversed)
    target: list[str]  # generated tokens, <eos> included when produced
    weights: torch.Tensor  # (len(target), len(source)); row t sums to 1


def plot_attention(maps: list[AttentionMap], path: Path, title: str = "") -> Path:
    """One PNG with a heatmap per map (darker = more attention), written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(2, len(maps))
    rows = -(-len(maps) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 4.5 * rows), squeeze=False)
    for ax in axes.flat[len(maps) :]:
        ax.axis("off")
    for ax, item in zip(axes.flat, maps):
        ax.imshow(item.weights.float().numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(item.source)), item.source, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(item.target)), item.target, fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
