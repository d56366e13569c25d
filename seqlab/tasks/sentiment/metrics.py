"""Classification metrics from a confusion matrix ``C[true, predicted]`` (exact counts, summed over ranks).

accuracy = trace(C) / sum(C); per class k: precision = C[k,k] / sum_i C[i,k], recall = C[k,k] / sum_j C[k,j],
F1 = 2 P R / (P + R) (0 when P + R = 0); macro F1 = the unweighted mean of the per-class F1 over all classes.
"""

from __future__ import annotations

from pathlib import Path

import torch


def confusion_matrix(target: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(num_classes, num_classes)`` int64 counts, rows = true class, columns = predicted class."""
    index = target.long() * num_classes + predicted.long()
    return torch.bincount(index.cpu(), minlength=num_classes * num_classes).view(num_classes, num_classes)


def accuracy(cm: torch.Tensor) -> float:
    total = cm.sum().item()
    return cm.diagonal().sum().item() / total if total else 0.0


def f1_per_class(cm: torch.Tensor) -> torch.Tensor:
    cm = cm.double()
    tp = cm.diagonal()
    predicted, actual = cm.sum(0), cm.sum(1)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    return torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(tp))


def macro_f1(cm: torch.Tensor) -> float:
    return f1_per_class(cm).mean().item()


def plot_confusion(cm: torch.Tensor, labels: list[str], path: Path, title: str = "confusion matrix") -> Path:
    """Write the matrix as a PNG heat map with counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.2 * n + 2.5, 1.2 * n + 2))
    ax.imshow(cm.numpy(), cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title} (accuracy {accuracy(cm):.3f})")
    peak = cm.max().item() or 1
    for i in range(n):
        for j in range(n):
            value = int(cm[i, j])
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
