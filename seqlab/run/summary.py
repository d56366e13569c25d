"""The table a single run ends with on stdout: its final val/* and test/* metrics, steps, tokens/s, wall time, and
where its run folder is (a multirun ends with the sweep's own summary instead: seqlab/sweep/summary.py)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

STAGES = ("val", "test")


def summary_table(results: dict[str, Any]) -> str:
    """A short plain-text table: one row per metric (val and test columns), then the facts of the run."""
    names = sorted({k.split("/", 1)[1] for k in results if k.split("/", 1)[0] in STAGES and "/" in k})
    stages = [s for s in STAGES if any(f"{s}/{n}" in results for n in names)]
    rows = [["metric", *stages]] + [[n, *(_number(results.get(f"{s}/{n}")) for s in stages)] for n in names]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if names else []
    title = f"seqlab: {results.get('task', '?')} / {results.get('model', '?')} finished"
    lines = [title, "-" * len(title)]
    lines += [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip()
        for r in rows
    ]
    facts = [
        ("steps", _count(results.get("optimizer_steps"))),
        ("tokens/s", _count(results.get("tokens_per_second"))),
        ("wall time", _seconds(results.get("wall_seconds"))),
        ("run folder", _where(results.get("run_dir"))),
    ]
    if names:
        lines.append("")
    width = max(len(k) for k, _ in facts)
    lines += [f"{k.ljust(width)}  {v}" for k, v in facts if v]
    return "\n".join(lines)


def print_summary(results: dict[str, Any]) -> None:
    """Print :func:`summary_table` for a single run (rank zero calls it; jobs of a multirun stay quiet)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            return
    except Exception:
        pass
    print("\n" + summary_table(results), flush=True)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float) and math.isfinite(value):
        return f"{value:.4g}"
    return str(value)


def _count(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) and math.isfinite(value) else ""


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return ""
    minutes, seconds = divmod(float(value), 60)
    return f"{int(minutes)}m{seconds:04.1f}s" if minutes else f"{seconds:.1f}s"


def _where(path: Any) -> str:
    """The run folder relative to the current directory when it lies below it."""
    if not path:
        return ""
    path = Path(path)
    try:
        return os.path.join(".", path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
