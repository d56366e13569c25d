"""Plots of gradient flow (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _positive(values: list[float]) -> list[float]:
    return [v if v > 0 else float("nan") for v in values]


def plot_history(history: list[Any], path: Path, title: str = "") -> Path:
    """Left: ||dL/dh_t|| of the last layer against t for every recorded step (darker = later). Middle (stacks
    only): ||dL/dh_t^l|| of every layer at the latest step. Right: per-layer gradient norms of the latest step.
    ``history`` holds GradFlow records."""
    latest = history[-1]
    per_layer = getattr(latest, "layer_time_norms", {}) or {}
    panels = 3 if len(per_layer) > 1 else 2
    ratios = [3, 3, 2] if panels == 3 else [3, 2]
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), gridspec_kw={"width_ratios": ratios})
    left, right = axes[0], axes[-1]
    cmap = plt.get_cmap("viridis")
    for i, flow in enumerate(history):
        shade = cmap(i / max(1, len(history) - 1))
        left.plot(
            range(len(flow.time_norms)),
            _positive(flow.time_norms),
            color=shade,
            lw=1.2,
            label=f"step {flow.step}" if i in (0, len(history) - 1) else None,
        )
    left.set_yscale("log")
    left.set_xlabel("time step t")
    left.set_ylabel("||dL/dh_t|| (last layer)")
    left.set_title(f"gradient flow through time {title}".strip())
    left.legend(loc="best", fontsize=8)
    if panels == 3:
        middle = axes[1]
        for name, norms in per_layer.items():
            middle.plot(range(len(norms)), _positive(norms), lw=1.2, label=f"layer {name[1:]}")
        middle.set_yscale("log")
        middle.set_xlabel("time step t")
        middle.set_ylabel("||dL/dh_t^l||")
        middle.set_title(f"every layer, step {latest.step}")
        middle.legend(loc="best", fontsize=8)
    names = list(latest.layer_norms)
    right.barh(range(len(names)), _positive(list(latest.layer_norms.values())), color="tab:orange")
    right.set_yticks(range(len(names)), names, fontsize=8)
    right.set_xscale("log")
    right.set_xlabel("gradient norm")
    right.set_title(f"per-layer gradient norms, step {latest.step}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_curves(curves: dict[str, list[float]], path: Path, title: str, normalize: bool = True) -> Path:
    """Several ||dL/dh_t|| curves on one log axis (e.g. rnn vs lstm vs gru); ``normalize`` divides each by its value
    at the last step so the curves show the decay through time only."""
    fig, ax = plt.subplots(figsize=(7, 4))
    colors: dict[str, str] = {}
    seen_prefix: set[str] = set()
    for label, norms in curves.items():
        prefix = label.split(" (")[0]  # "lstm (step 1)": one color per model, dashed for its first curve
        color = colors.setdefault(prefix, f"C{len(colors)}")
        style = "-" if prefix in seen_prefix else "--"
        seen_prefix.add(prefix)
        scale = norms[-1] if normalize and norms[-1] > 0 else 1.0
        ax.plot(range(len(norms)), _positive([v / scale for v in norms]), label=label, lw=1.5, color=color, ls=style)
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("||dL/dh_t|| / ||dL/dh_T||" if normalize else "||dL/dh_t||")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
