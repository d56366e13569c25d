"""The end of a multirun: one table of every job (its swept overrides, ok, pruned or failed, the optimized metric or
the reason), printed and written as ``sweep_summary.md`` and ``sweep_summary.json`` in the sweep folder.

Registered in conf/config.yaml as a Hydra callback (``hydra.callbacks.sweep_summary``). Jobs are read back from
their folders (results.json, failed.json), so the summary works with any launcher. A job that crashes with an error
seqlab does not handle (a bug, out of memory) gets a ``failed.json`` here; Hydra then stops the sweep after the
current batch without calling ``on_multirun_end``, so the summary is also written at process exit.

A job stopped by Ctrl-C or SIGTERM is ``interrupted``; when a grid sweep stops before its end, each job of the grid
that never started is listed as ``not run`` (read from the sweep's multirun.yaml), so a stopped sweep says what is
missing.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from seqlab.report.runs import Run, as_number, differing_keys, direction, find_runs, fmt, markdown_table, text_table
from seqlab.results import FAILED_FILE, RESULTS_FILE, write_json

SUMMARY_MD = "sweep_summary.md"
SUMMARY_JSON = "sweep_summary.json"
STATUSES = ("ok", "failed", "incomplete", "pruned", "interrupted", "not run")
_failed_jobs = 0  # of the last sweep summarized in this process (``python -m seqlab -m`` exits 1 when > 0)


def sweep_failures() -> int:
    """How many jobs of the sweep this process ran failed (0 outside a multirun)."""
    return _failed_jobs


def metric_direction(config: DictConfig, metric: str) -> str:
    """``min`` or ``max``: the sweeper's direction (Optuna), else the checkpoint mode when it monitors the same
    metric, else from the metric's name (losses and errors are minimized)."""
    swept = OmegaConf.select(config, "hydra.sweeper.direction", default=None)
    if swept is not None and not OmegaConf.is_list(swept):
        return "max" if "max" in str(swept).lower() else "min"
    if OmegaConf.select(config, "checkpoint.monitor", default=None) == metric:
        mode = OmegaConf.select(config, "checkpoint.mode", default=None)
        if mode in ("min", "max"):
            return mode
    return direction(metric)


def summarize(sweep_dir: Path, metric: str, best_is: str = "min") -> dict[str, Any]:
    """Every job folder under ``sweep_dir`` with its status and metric value (or reason), and the best job."""
    runs = find_runs([sweep_dir]) if sweep_dir.is_dir() else []
    planned = _planned_grid(sweep_dir)
    keys = differing_keys(runs) or _varying_keys(planned)
    jobs = [_job(run, keys, metric, sweep_dir) for run in runs]
    jobs += _never_ran(planned, keys, {job["num"] for job in jobs})
    jobs.sort(key=lambda job: (job["num"] is None, job["num"] if isinstance(job["num"], int) else 0))
    scored = [j for j in jobs if as_number(j["value"]) is not None]
    sign = 1.0 if best_is == "min" else -1.0
    best = min(scored, key=lambda j: sign * j["value"]) if scored else None
    return {
        "sweep_dir": str(sweep_dir),
        "metric": metric,
        "direction": best_is,
        "swept_keys": keys,
        "counts": _counts(jobs),
        "best": best["num"] if best else None,
        "jobs": jobs,
    }


def _counts(jobs: list[dict[str, Any]]) -> dict[str, int]:
    """Jobs per status: ok, failed, incomplete always; pruned (Optuna trials its search stopped early), interrupted
    and not run when there are any."""
    counts = {s: sum(j["status"] == s for j in jobs) for s in STATUSES}
    return {s: n for s, n in counts.items() if n or s in STATUSES[:3]}


def _job(run: Run, keys: list[str], metric: str, sweep_dir: Path) -> dict[str, Any]:
    interrupted = run.status == "ok" and bool(run.results.get("interrupted"))
    by = run.results.get("interrupted_by") or "Ctrl-C"
    return {
        "num": run.num,
        "dir": os.path.relpath(run.path, sweep_dir.resolve()),
        "swept": {k: run.overrides.get(k) for k in keys},
        "overrides": [f"{k}={v}" for k, v in run.overrides.items()],
        "status": "interrupted" if interrupted else run.status,
        "value": run.results.get(metric) if run.status == "ok" and not interrupted else None,
        "error": f"stopped by {by} at step {run.results.get('optimizer_steps')}" if interrupted else run.error,
    }


def _planned_grid(sweep_dir: Path) -> list[Any]:
    """Every job of a grid sweep, from its multirun.yaml (seqlab/sweep/resume.py), or [] for another sweep."""
    from seqlab.sweep.resume import plan_grid, read_marker

    if read_marker(sweep_dir).get("kind") != "grid" or not (sweep_dir / "multirun.yaml").is_file():
        return []
    try:
        return plan_grid(sweep_dir, rerun_failed=False)
    except Exception:  # an unreadable multirun.yaml: the summary lists what ran
        return []


def _values(overrides: list[str]) -> dict[str, str]:
    from seqlab.sweep.resume import override_key

    return {override_key(o): o.partition("=")[2] for o in overrides}


def _varying_keys(planned: list[Any]) -> list[str]:
    values = [_values(job.overrides) for job in planned]
    keys = sorted({k for v in values for k in v})
    return [k for k in keys if len({v.get(k) for v in values}) > 1]


def _never_ran(planned: list[Any], keys: list[str], seen: set[Any]) -> list[dict[str, Any]]:
    """The jobs of the grid that have no folder: the sweep stopped before them."""
    return [
        {
            "num": job.num,
            "dir": None,
            "swept": {k: _values(job.overrides).get(k) for k in keys},
            "overrides": list(job.overrides),
            "status": "not run",
            "value": None,
            "error": "the sweep stopped before this job",
        }
        for job in planned
        if job.folder is None and job.num not in seen
    ]


def summary_table(summary: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: job number, swept overrides, status, the metric value or the failure reason."""
    header = ["#", "overrides", "status", f"{summary['metric']} / reason"]
    rows = []
    for job in summary["jobs"]:
        swept = " ".join(f"{k}={v}" for k, v in job["swept"].items() if v is not None) or job["dir"]
        if job["status"] == "ok":
            outcome = fmt(job["value"]) if job["value"] is not None else f"(no {summary['metric']} in results)"
            outcome += "  <- best" if job["num"] == summary["best"] else ""
        else:
            outcome = job["error"] or ""
        rows.append([job["num"], swept, job["status"], outcome])
    return header, rows


def render(summary: dict[str, Any], markdown: bool = False) -> str:
    counts = summary["counts"]
    n = len(summary["jobs"])
    head = (
        f"sweep summary: {n} jobs, {counts['ok']} ok, {counts['failed']} failed"
        + "".join(f", {counts[s]} {s}" for s in STATUSES[2:] if counts.get(s))
        + f"; {summary['metric']} ({summary['direction']}imized) in {summary['sweep_dir']}"
    )
    header, rows = summary_table(summary)
    if markdown:
        return f"# Sweep summary\n\n{head}\n\n{markdown_table(header, rows)}\n"
    return f"{head}\n{text_table(header, rows)}"


class SweepSummary(Callback):
    """Hydra callback: records crashes as failed.json, and summarizes the sweep at its end (or at exit)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._pending: tuple[DictConfig, Path] | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.enabled and _rank_zero():
            self._pending = (config, Path(str(config.hydra.sweep.dir)))
            atexit.register(self._finish)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """A job that raised past seqlab's own error handling: keep its reason beside its overrides."""
        if not self.enabled or OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
            return
        if job_return.status != JobStatus.FAILED:
            return
        run_dir = Path(str(config.hydra.runtime.output_dir))
        if not (run_dir / FAILED_FILE).exists() and not (run_dir / RESULTS_FILE).exists():
            try:
                exc: object = job_return.return_value  # raises the job's exception
            except Exception as raised:
                exc = raised
            write_json(
                run_dir / FAILED_FILE,
                {
                    "error": f"crashed: {type(exc).__name__}: {exc}".strip(),
                    "overrides": list(job_return.overrides or []),
                    "crashed": True,
                },
            )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._pending is None:
            return
        config, sweep_dir = self._pending
        self._pending = None
        metric = str(OmegaConf.select(config, "optimized_metric", default="val/loss"))
        summary = summarize(sweep_dir, metric, metric_direction(config, metric))
        if not summary["jobs"]:
            return
        global _failed_jobs
        _failed_jobs = summary["counts"]["failed"]
        write_json(sweep_dir / SUMMARY_JSON, summary)
        (sweep_dir / SUMMARY_MD).write_text(render(summary, markdown=True))
        print("\n" + render(summary), flush=True)
        print(f"wrote {sweep_dir / SUMMARY_MD}; compare the runs: python -m seqlab.report {sweep_dir}", flush=True)


def _rank_zero() -> bool:
    from seqlab.run.ranks import joins_a_run

    return not joins_a_run()
