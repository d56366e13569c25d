"""``python -m seqlab.report PATH ... --html [--out report.html]``: one self-contained HTML page of the runs.

The page needs no server and no network (it works from a file:// URL): the data is inline JSON, the CSS and the
line-chart script are inline (the files ``report.css`` and ``report.js`` in seqlab/report/assets/), and the PNGs
the runs wrote are inline data URIs. It holds the run table (sortable by any column, filterable by override
text), the validation curves of the runs one ticks on shared axes (from each run's ``csv/metrics.csv``), and per
run: its overrides, results.json, generated text samples and every PNG under its folder (up to a size budget; what
is left out is named with the reason).
"""

from __future__ import annotations

import base64
import csv
import functools
import html
import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from seqlab.report.runs import (
    COST_COLUMNS,
    Run,
    as_number,
    build_table,
    common_overrides,
    differing_keys,
    direction,
    fmt,
    metric_columns,
)

MAX_IMAGE_BYTES = 2 * 1024 * 1024  # one PNG larger than this is left out (named, with its size)
MAX_TOTAL_IMAGE_BYTES = 40 * 1024 * 1024  # images past this budget are left out, best runs first in
MAX_POINTS = 2000  # a longer curve is thinned to this many points (first and last kept)
MAX_SAMPLES = 20  # the last ones of each run
CURVE_PREFIXES = ("val/", "train/")
SKIP_IMAGE_DIRS = ("wandb",)  # W&B's copies of images the run already wrote
SAMPLE_BLOCK = re.compile(r"^-{5} sample \(step (\d+), temperature ([^)]*)\) -{5}\n(.*?)\n-{5}$", re.M | re.S)
COST_DIRECTION = {"params": "min", "tokens/s": "max", "wall s": "min"}


def read_curves(run: Run, max_points: int = MAX_POINTS) -> dict[str, list[list[float]]]:
    """Every ``val/*`` and ``train/*`` column of the run's ``csv/metrics.csv`` as [step, value] pairs."""
    path = run.path / "csv" / "metrics.csv"
    curves: dict[str, list[list[float]]] = {}
    if not path.is_file():
        return curves
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            step = as_number(row.get("step"))
            if step is None:
                continue
            for key, raw in row.items():
                value = as_number(raw) if key and key.startswith(CURVE_PREFIXES) else None
                if value is not None:
                    curves.setdefault(key, []).append([int(step), value])
    return {k: _thin(v, max_points) for k, v in sorted(curves.items())}


def _thin(points: list[list[float]], limit: int) -> list[list[float]]:
    if len(points) <= limit:
        return points
    stride = (len(points) - 1) / (limit - 1)
    return [points[round(i * stride)] for i in range(limit)]


def read_samples(run: Run, limit: int = MAX_SAMPLES) -> list[dict[str, Any]]:
    """Generated text samples (charlm, wordlm): ``samples.jsonl``, W&B's ``samples`` table, or the sample blocks the
    run printed, when its console output is in a ``*.log`` file of the run folder (``cli.log``)."""
    found: list[dict[str, Any]] = []
    jsonl = run.path / "samples.jsonl"
    if jsonl.is_file():
        for line in jsonl.read_text(errors="replace").splitlines():
            try:
                found.append(dict(json.loads(line)))
            except (ValueError, TypeError):
                continue
    tables = sorted(run.path.glob("wandb/*/files/media/table/samples_*.table.json"), key=lambda p: p.stat().st_size)
    if tables:  # each table holds every sample so far: the largest is the latest
        try:
            table = json.loads(tables[-1].read_text())
            found += [dict(zip(table["columns"], row)) for row in table["data"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    for log in sorted(run.path.glob("*.log")):
        for step, temperature, text in SAMPLE_BLOCK.findall(log.read_text(errors="replace")):
            found.append({"step": int(step), "temperature": as_number(temperature), "text": text})
    unique = {(s.get("step"), str(s.get("text"))): s for s in found if "text" in s}
    ordered = sorted(unique.values(), key=lambda s: as_number(s.get("step")) or 0)
    return [{"step": s.get("step"), "temperature": s.get("temperature"), "text": str(s["text"])} for s in ordered][
        -limit:
    ]


def find_images(run: Run, exclude: Sequence[Path] = ()) -> list[Path]:
    """Every PNG under the run folder, except W&B's copies, nested run folders' and ``exclude``."""
    skip = {p.resolve() for p in exclude}
    images = []
    for path in sorted(run.path.rglob("*.png")):
        parts = path.relative_to(run.path).parts
        if parts[0] in SKIP_IMAGE_DIRS or path.resolve() in skip:
            continue
        if any((run.path.joinpath(*parts[:i]) / ".hydra").is_dir() for i in range(1, len(parts))):
            continue
        images.append(path)
    return images


class ImageBudget:
    """Embeds PNGs as data URIs until the page's budget is spent; says why one is left out."""

    def __init__(self, max_image: int = MAX_IMAGE_BYTES, max_total: int = MAX_TOTAL_IMAGE_BYTES) -> None:
        self.max_image, self.left, self.skipped = max_image, max_total, 0

    def embed(self, path: Path, name: str) -> dict[str, Any]:
        size = path.stat().st_size
        reason = None
        if size > self.max_image:
            reason = f"{_size(size)}, over the {_size(self.max_image)} cap for one image"
        elif size > self.left:
            reason = f"{_size(size)}, over what is left of the page's image budget"
        if reason:
            self.skipped += 1
            return {"name": name, "skipped": reason}
        self.left -= size
        return {"name": name, "src": "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")}


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB"


def cell_text(value: Any) -> str:
    """As the Markdown table writes it, except large fractional numbers (tokens/s): whole, with separators."""
    if isinstance(value, float) and math.isfinite(value) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return fmt(value)


def clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become their text ('nan', 'inf'), which JSON cannot hold as numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def page_data(
    runs: Sequence[Run],
    sort: str = "val/loss",
    order: str = "auto",
    columns: Sequence[str] | None = None,
    curve_metric: str | None = None,
    exclude_images: Sequence[Path] = (),
    budget: ImageBudget | None = None,
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data; ``runs`` in the order of the table (best first)."""
    budget = budget or ImageBudget()
    trained = sorted({k for r in runs for k in r.results if k.startswith("train/")})
    metrics = list(columns) if columns else metric_columns(runs, sort) + trained
    header, rows = build_table(runs, sort, metrics)
    if not any(row[-1] for row in rows):  # no run failed: no error column
        header, rows = header[:-1], [row[:-1] for row in rows]
    keys = differing_keys(runs)
    kinds = ["name", "status", *["override"] * len(keys), *["metric"] * len(metrics), *["cost"] * len(COST_COLUMNS)]
    table = []
    for name, kind in zip(header, [*kinds, "text"]):  # zip drops "text" with the error column
        best = COST_DIRECTION.get(name) if kind == "cost" else None
        if kind == "metric":
            best = direction(name, order if name == sort else "auto")
        table.append({"key": name, "kind": kind, "best": best})
    data_runs = []
    for index, (run, row) in enumerate(zip(runs, rows)):
        images = [budget.embed(p, str(p.relative_to(run.path))) for p in find_images(run, exclude_images)]
        overrides = [f"{k}={v}" if v or not k.startswith("~") else k for k, v in run.overrides.items()]
        data_runs.append(
            {
                "id": index,
                "name": str(row[0]),
                "path": str(run.path),
                "status": run.status,
                "error": run.error,
                "overrides": overrides,
                "label": " ".join(f"{k}={run.overrides[k]}" for k in keys if k in run.overrides) or str(row[0]),
                "cells": [[clean(v), cell_text(v)] for v in row],
                "results": json.dumps(clean(run.results), indent=2, sort_keys=True) if run.results else None,
                "curves": read_curves(run),
                "samples": clean(read_samples(run)),
                "images": images,
            }
        )
    curve_keys = sorted({k for r in data_runs for k in r["curves"]}, key=lambda k: (not k.startswith("val/"), k))
    default = curve_metric or (sort if sort.startswith("val/") else "val/loss")
    ok = sum(r.status == "ok" for r in runs)
    sort_col = header.index(sort) if sort in header else None
    return {
        "title": f"{len(runs)} runs ({ok} ok), sorted by {sort} ({direction(sort, order)}imum first)",
        "generated": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "common": common_overrides(runs),
        "columns": table,
        "sort": {"col": sort_col, "desc": direction(sort, order) == "max"} if sort_col is not None else None,
        "curve_metrics": curve_keys,
        "curve_metric": default if default in curve_keys else (curve_keys[0] if curve_keys else default),
        "runs": data_runs,
        "images_skipped": budget.skipped,
    }


@functools.cache
def asset(name: str) -> str:
    """The text of ``seqlab/report/assets/<name>`` (package data: the wheel ships it, see pyproject.toml). The
    script reads the inline JSON (``#report-data``) and builds the table, the filter, the line chart (hand-written
    SVG, no library) and the per-run details; it needs no network."""
    return resources.files("seqlab.report").joinpath("assets", name).read_text(encoding="utf-8")


def render(data: dict[str, Any]) -> str:
    """The page: the data as inline JSON (safe inside a script element), the CSS and the script inline."""
    shown = {k: v for k, v in data.items() if k != "seed_groups"}  # a static section, not the script's data
    payload = json.dumps(shown, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = html.escape(f"seqlab report: {data['title']}")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>
{asset("report.css")}</style>
</head>
<body>
<header><h1>{title}</h1><p id="meta"></p></header>
<main>
<section id="table-section">
  <div class="toolbar">
    <input id="filter" type="search" placeholder="filter by override text, e.g. model=gru num_layers=2" size="48">
    <span id="shown"></span>
  </div>
  <div class="table-wrap"><table id="runs"><thead></thead><tbody></tbody></table></div>
</section>
<section id="curves-section">
  <div class="toolbar">
    <label>curve <select id="metric"></select></label>
    <label><input type="checkbox" id="logy"> log scale</label>
    <button type="button" id="select-best">best 5</button>
    <button type="button" id="select-all">all shown</button>
    <button type="button" id="select-none">none</button>
  </div>
  <div id="chart"></div>
  <ul id="legend"></ul>
</section>
{seed_section(data.get("seed_groups"))}
<section id="details-section"><h2>Runs in detail</h2><div id="details"></div></section>
</main>
<script type="application/json" id="report-data">{payload}</script>
<script>
{asset("report.js")}</script>
</body>
</html>
"""


def seed_section(groups: dict[str, Any] | None) -> str:
    """The runs grouped over seeds (seqlab/report/seeds.py): a static table (mean ± std, n) and the mean curves."""
    if not groups:
        return ""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in groups["header"])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell_text(v))}</td>" for v in row) + "</tr>" for row in groups["rows"]
    )
    image = f'<img alt="mean curves over seeds" src="{groups["curves"]}">' if groups.get("curves") else ""
    return (
        '<section id="seeds-section"><h2>Configurations over seeds (mean ± std, n finished runs)</h2>'
        f'<div class="table-wrap"><table id="seed-groups"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
        f"</table></div>{image}</section>"
    )


def write_html(
    path: Path,
    runs: Sequence[Run],
    sort: str = "val/loss",
    order: str = "auto",
    columns: Sequence[str] | None = None,
    curve_metric: str | None = None,
    exclude_images: Sequence[Path] = (),
    budget: ImageBudget | None = None,
    seed_table: tuple[list[str], list[list[Any]]] | None = None,
    seed_curves: Path | None = None,
) -> Path:
    """Write the page for ``runs`` (sorted as the table shows them) to ``path``; return ``path``. ``seed_table``
    and ``seed_curves``: the runs grouped over seeds and their mean curves (a PNG), shown in a section of their own."""
    budget = budget or ImageBudget()
    data = page_data(runs, sort, order, columns, curve_metric, exclude_images, budget)
    if seed_table is not None:
        curves = None
        if seed_curves is not None and Path(seed_curves).is_file():
            curves = "data:image/png;base64," + base64.b64encode(Path(seed_curves).read_bytes()).decode("ascii")
        data["seed_groups"] = {"header": seed_table[0], "rows": [[clean(v) for v in r] for r in seed_table[1]]}
        data["seed_groups"]["curves"] = curves
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    if budget.skipped:
        print(f"{budget.skipped} image(s) left out of {path} (too large or over the page's budget; named in the page)")
    return path
