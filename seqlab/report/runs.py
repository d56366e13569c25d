"""The runs a report compares: every run folder (one holding ``.hydra/``) under some paths, read into a :class:`Run`
(its overrides, results.json or failed.json), sorted by one metric, tabulated (text, Markdown, CSV) and its curves
read from ``csv/metrics.csv`` and drawn. ``python -m seqlab.report`` (seqlab/report/command.py) puts these together;
the sweep summary, the seed groups and the HTML page read runs through here too."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seqlab.errors import ConfigError
from seqlab.results import FAILED_FILE, RESULTS_FILE

METRIC_PREFIXES = ("val/", "test/")
COST_COLUMNS = {"params": "trainable_parameters", "tokens/s": "tokens_per_second", "wall s": "wall_seconds"}
LOWER_IS_BETTER = (
    "loss",
    "nll",
    "bpc",
    "ppl",
    "perplexity",
    "error",
    "err",
    "mse",
    "mae",
    "rmse",
    "mase",
    "mape",
    "smape",
    "wer",
    "cer",
)
ORDERS = ("auto", "min", "max")


@dataclass
class Run:
    """One run folder: its overrides (key -> value, as typed), status ok | pruned | failed | incomplete, and outcome
    (a pruned run is an Optuna trial its search stopped early: its results are those of its last validation)."""

    path: Path
    overrides: dict[str, str]
    status: str
    results: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    num: int | None = None

    def value(self, key: str) -> Any:
        """A results.json entry, an override, or a cost column (``params``, ``tokens/s``, ``wall s``)."""
        if key in COST_COLUMNS:
            return self.results.get(COST_COLUMNS[key])
        return self.results[key] if key in self.results else self.overrides.get(key)


def read_run(folder: Path) -> Run:
    """Read ``folder/.hydra/overrides.yaml`` and results.json or failed.json (neither: still running or crashed)."""
    hydra_dir = folder / ".hydra"
    overrides = _load_yaml(hydra_dir / "overrides.yaml") or []
    hydra_cfg = _load_yaml(hydra_dir / "hydra.yaml") or {}
    num = (hydra_cfg.get("hydra", {}).get("job", {}) or {}).get("num")
    parsed = dict(split_override(str(o)) for o in overrides)
    if (folder / RESULTS_FILE).is_file():
        results = _load_json(folder / RESULTS_FILE)
        if results is not None and results.get("stopped_by") == "pruned":
            return Run(folder, parsed, "pruned", results, error=pruned_reason(results), num=num)
        if results is not None:
            return Run(folder, parsed, "ok", results, num=num)
        return Run(folder, parsed, "failed", error=f"unreadable {RESULTS_FILE}", num=num)
    if (folder / FAILED_FILE).is_file():
        failed = _load_json(folder / FAILED_FILE) or {}
        return Run(folder, parsed, "failed", error=str(failed.get("error", f"unreadable {FAILED_FILE}")), num=num)
    return Run(
        folder, parsed, "incomplete", error=f"no {RESULTS_FILE} (still running, or crashed: see the log)", num=num
    )


def pruned_reason(results: dict[str, Any]) -> str:
    """``pruned at step N (val/loss X)``: when a pruned trial stopped, and its monitored value then."""
    at = results.get("stopped_at") if isinstance(results.get("stopped_at"), dict) else {}
    values = [f"{k} {fmt(v)}" for k, v in at.items() if "/" in str(k) and as_number(v) is not None]
    return f"pruned at step {at.get('step', '?')}" + (f" ({', '.join(values)})" if values else "")


def find_runs(paths: Iterable[Path]) -> list[Run]:
    """Every run folder at or under the given paths, each once, in job-number then path order."""
    folders: dict[Path, None] = {}
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            raise ConfigError("PATH", f"'{path}' is not a folder (give a multirun folder or run folders)")
        for hydra_dir in sorted(path.glob("**/.hydra")):
            folders[hydra_dir.parent.resolve()] = None
    runs = [read_run(f) for f in folders]
    return sorted(runs, key=lambda r: (str(r.path.parent), r.num if r.num is not None else -1, str(r.path)))


def split_override(text: str) -> tuple[str, str]:
    """``model.num_layers=2`` -> (``model.num_layers``, ``2``); ``+key=v`` and ``~key`` keep their prefix."""
    key, sep, value = text.partition("=")
    return key, value if sep else ""


def differing_keys(runs: Sequence[Run]) -> list[str]:
    """Override keys whose value is not the same in every run (in first-seen order)."""
    keys: dict[str, None] = {k: None for r in runs for k in r.overrides}
    return [k for k in keys if len({r.overrides.get(k) for r in runs}) > 1]


def common_overrides(runs: Sequence[Run]) -> list[str]:
    differ = set(differing_keys(runs))
    first = runs[0].overrides if runs else {}
    return [f"{k}={v}" for k, v in first.items() if k not in differ]


def direction(metric: str, order: str = "auto") -> str:
    """``min`` or ``max``: ``order`` unless ``auto``, then ``min`` for losses and errors, ``max`` otherwise."""
    if order not in ORDERS:
        raise ConfigError("order", f"unknown order '{order}'", allowed=ORDERS)
    if order != "auto":
        return order
    leaf = metric.rsplit("/", 1)[-1].lower()
    return "min" if leaf.endswith(LOWER_IS_BETTER) else "max"


def as_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def sort_runs(runs: Sequence[Run], metric: str, order: str = "auto") -> list[Run]:
    """Best first by ``metric``; runs without a finite value (failed, missing, NaN) last, in their order."""
    sign = 1.0 if direction(metric, order) == "min" else -1.0
    scored = [r for r in runs if as_number(r.value(metric)) is not None]
    rest = [r for r in runs if as_number(r.value(metric)) is None]
    return sorted(scored, key=lambda r: sign * as_number(r.value(metric))) + rest


def metric_columns(runs: Sequence[Run], sort: str) -> list[str]:
    """The sort metric first, then every other val/ and test/ metric any run reports."""
    names = sorted(
        {k for r in runs for k in r.results if k.startswith(METRIC_PREFIXES)},
        key=lambda k: (METRIC_PREFIXES.index(k.split("/")[0] + "/"), k),
    )
    return [sort] + [n for n in names if n != sort]


def build_table(runs: Sequence[Run], sort: str, columns: Sequence[str] | None = None) -> tuple[list[str], list[list]]:
    """Header and rows (raw values): run, status, the differing overrides, metrics, cost columns, error."""
    metrics = list(columns) if columns else metric_columns(runs, sort)
    header = ["run", "status", *differing_keys(runs), *metrics, *COST_COLUMNS, "error"]
    root = _common_parent([r.path for r in runs])
    rows = []
    for run in runs:
        name = str(run.path.relative_to(root)) if root and run.path != root else run.path.name
        cells = [run.value(k) for k in header[2:-1]]
        rows.append([name, run.status, *cells, run.error or ""])
    return header, rows


def fmt(value: Any) -> str:
    """Numbers with 4 significant digits (integers whole), None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or (value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:.4g}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned plain text; numbers right-aligned."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    numeric = [all(isinstance(r[i], int | float) or r[i] is None for r in rows) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(fmt(v)) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    return path


def curve(run: Run, metric: str = "val/loss") -> list[tuple[int, float]]:
    """(step, value) pairs of ``metric`` from the run's ``csv/metrics.csv``; ``step`` is Lightning's logging step,
    which counts training batches (under TBPTT a batch is several optimizer steps)."""
    path = run.path / "csv" / "metrics.csv"
    if not path.is_file():
        return []
    points = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            value, step = as_number(row.get(metric)), as_number(row.get("step"))
            if value is not None and step is not None:
                points.append((int(step), value))
    return points


def plot_curves(runs: Sequence[Run], metric: str, path: Path, labels: Sequence[str]) -> int:
    """Draw every run's ``metric`` against training batches in one PNG, beside its training loss when logged;
    return how many runs had a curve of ``metric`` (0: no file).

    Each validation is a point joined by lines, so a short run (one or two validations) still reads as a curve, and
    a run with a single validation has its value written beside the point."""
    curves = [(label, curve(run, metric), curve(run, "train/loss")) for run, label in zip(runs, labels)]
    curves = [c for c in curves if c[1]]
    if not curves:
        return 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_train = metric != "train/loss" and any(train for _, _, train in curves)
    fig, axes = plt.subplots(1, 2 if with_train else 1, figsize=(13 if with_train else 8, 5), squeeze=False)
    ax = axes[0][-1]
    for index, (label, points, train) in enumerate(curves):
        color = f"C{index % 10}"
        steps, values = zip(*points)
        ax.plot(
            steps, values, marker="o", markersize=5 if len(points) < 30 else 2, linewidth=1.5, color=color, label=label
        )
        if len(points) == 1:
            ax.annotate(
                f"{values[0]:.4g}",
                (steps[0], values[0]),
                textcoords="offset points",
                xytext=(6, 4),
                fontsize="small",
                color=color,
            )
        if with_train and train:
            train_steps, train_values = zip(*train)
            axes[0][0].plot(train_steps, train_values, linewidth=1, alpha=0.8, color=color, label=label)
    ax.set_title(f"{metric} at each validation ({len(curves)} runs)")
    ax.set_ylabel(metric)
    panels = [axes[0][0], ax] if with_train else [ax]
    if with_train:
        axes[0][0].set_title("train/loss (as logged during training)")
        axes[0][0].set_ylabel("train/loss")
    for panel in panels:
        panel.set_xlabel("training batches")
        panel.grid(alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    names = [n if len(n) <= 100 else n[:97] + "..." for n in names]
    below = 0.045 * len(names) + 0.03  # the legend sits under the panels, one run a line
    fig.set_figheight(5 + 5 * below)
    fig.legend(handles, names, loc="lower left", fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, below, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return len(curves)


def _common_parent(paths: Sequence[Path]) -> Path | None:
    if not paths:
        return None
    parts = list(paths[0].parts)
    for p in paths[1:]:
        n = 0
        while n < min(len(parts), len(p.parts)) and parts[n] == p.parts[n]:
            n += 1
        parts = parts[:n]
    return Path(*parts) if parts else None


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except yaml.YAMLError:
        return None


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
