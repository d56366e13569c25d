"""Runs that differ only in ``seed``, as one group: mean +- std and n of every metric, and a mean curve.

``python -m seqlab.report`` uses this when its runs include repeats of one configuration under several seeds (e.g.
``python -m seqlab -m seed=1,2,3 model=rnn,lstm``): beside the table of runs it prints and writes a table of groups
(``report_seeds.csv``, a section of ``report.md`` and of the HTML page), and ``report_curves.png`` draws each group's
mean validation curve with a band of +- one standard deviation. Only finished runs (status ok) enter the statistics;
std is the sample standard deviation (n - 1), empty for a group of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.report.runs import Run, as_number, curve, differing_keys, direction, fmt

SEED_KEY = "seed"


@dataclass
class SeedGroup:
    """One configuration: its overrides without ``seed``, and its runs (one per seed)."""

    overrides: dict[str, str]
    runs: list[Run]

    @property
    def finished(self) -> list[Run]:
        return [r for r in self.runs if r.status == "ok"]

    def label(self, keys: Sequence[str]) -> str:
        parts = [f"{k}={self.overrides[k]}" for k in keys if k in self.overrides]
        return " ".join(parts) or "(all runs)"


def seed_groups(runs: Sequence[Run]) -> list[SeedGroup] | None:
    """The runs grouped by every override but ``seed``; None unless some configuration ran under several seeds."""
    if SEED_KEY not in differing_keys(runs):
        return None
    groups: dict[tuple[tuple[str, str], ...], list[Run]] = {}
    for run in runs:
        key = tuple((k, v) for k, v in run.overrides.items() if k != SEED_KEY)
        groups.setdefault(tuple(sorted(key)), []).append(run)
    if all(len(g) < 2 for g in groups.values()):
        return None
    return [SeedGroup(dict(key), members) for key, members in groups.items()]


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None, int]:
    """Mean, sample standard deviation (None for fewer than two values) and count of the finite values."""
    finite = [v for v in (as_number(x) for x in values) if v is not None]
    n = len(finite)
    if not n:
        return None, None, 0
    mean = sum(finite) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1)) if n > 1 else None
    return mean, std, n


def group_table(
    groups: Sequence[SeedGroup], metrics: Sequence[str], sort: str, order: str = "auto"
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows (best mean of ``sort`` first): the group's differing overrides, n, seeds, and per metric
    ``mean ± std`` as text; :func:`csv_table` gives the raw numbers."""
    keys = [k for k in differing_keys([r for g in groups for r in g.runs]) if k != SEED_KEY]
    ordered = sort_groups(groups, sort, order)
    header = ["group", *keys, "n", "seeds", *metrics]
    rows = []
    for index, group in enumerate(ordered):
        cells = []
        for metric in metrics:
            mean, std, n = mean_std([r.value(metric) for r in group.finished])
            cells.append("" if mean is None else fmt(mean) + (f" ± {fmt(std)}" if std is not None else ""))
        seeds = ",".join(str(r.overrides.get(SEED_KEY, "-")) for r in group.finished)
        rows.append([index, *[group.overrides.get(k) for k in keys], len(group.finished), seeds, *cells])
    return header, rows


def csv_table(
    groups: Sequence[SeedGroup], metrics: Sequence[str], sort: str, order: str = "auto"
) -> tuple[list[str], list[list[Any]]]:
    """The group table with raw numbers: ``METRIC mean`` and ``METRIC std`` columns."""
    keys = [k for k in differing_keys([r for g in groups for r in g.runs]) if k != SEED_KEY]
    header = ["group", *keys, "n", *[f"{m} {s}" for m in metrics for s in ("mean", "std")]]
    rows = []
    for index, group in enumerate(sort_groups(groups, sort, order)):
        stats = [mean_std([r.value(m) for r in group.finished])[:2] for m in metrics]
        rows.append(
            [index, *[group.overrides.get(k) for k in keys], len(group.finished), *[v for s in stats for v in s]]
        )
    return header, rows


def sort_groups(groups: Sequence[SeedGroup], metric: str, order: str = "auto") -> list[SeedGroup]:
    """Best mean first; groups without a value last."""
    sign = 1.0 if direction(metric, order) == "min" else -1.0

    def key(group: SeedGroup) -> tuple[int, float]:
        mean = mean_std([r.value(metric) for r in group.finished])[0]
        return (1, 0.0) if mean is None else (0, sign * mean)

    return sorted(groups, key=key)


def mean_curve(group: SeedGroup, metric: str) -> list[tuple[int, float, float]]:
    """``(step, mean, std)`` at the steps every finished run of the group logged ``metric`` at."""
    curves = [dict(curve(r, metric)) for r in group.finished]
    curves = [c for c in curves if c]
    if not curves:
        return []
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    out = []
    for step in steps:
        mean, std, _ = mean_std([c[step] for c in curves])
        out.append((step, float(mean), float(std or 0.0)))
    return out


def plot_group_curves(groups: Sequence[SeedGroup], metric: str, path: Path) -> int:
    """Each group's mean ``metric`` curve with a +- std band in one PNG; return how many groups had one."""
    keys = [k for k in differing_keys([r for g in groups for r in g.runs]) if k != SEED_KEY]
    drawn = [(g, mean_curve(g, metric)) for g in groups]
    drawn = [(g, c) for g, c in drawn if c]
    if not drawn:
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5 + 0.25 * len(drawn)))
    for index, (group, points) in enumerate(drawn):
        steps, means, stds = zip(*points)
        color = f"C{index % 10}"
        label = f"{group.label(keys)} (n={len(group.finished)})"
        ax.plot(steps, means, marker="o", markersize=4, color=color, label=label)
        ax.fill_between(steps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                        color=color, alpha=0.2)  # fmt: skip
    ax.set_title(f"{metric}: mean ± std over seeds ({len(drawn)} groups)")
    ax.set_xlabel("training batches")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return len(drawn)
