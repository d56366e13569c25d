"""``python -m seqlab.report PATH [PATH ...] [sort=val/loss] [order=auto] [columns=a,b] [curve=val/loss] [out=DIR]
[--html [--out PAGE.html]]``

Compare runs: every run folder (one holding ``.hydra/``) under the PATHs, a multirun folder or single run folders.
Prints a table (the overrides that differ between runs, final metrics from results.json, trainable parameters,
tokens/s, wall time) sorted by one metric, failed runs last with their reason; writes it as ``report.csv`` and
``report.md`` and draws the validation curve of every run (``csv/metrics.csv``) into ``report_curves.png`` in ``out``.
Runs that differ only in ``seed`` are also grouped (mean +- std and n; their mean curves: seqlab/report/seeds.py).
``--html`` also writes one self-contained page (``report.html`` in ``out``, or ``--out PAGE.html``): the table to sort
and filter, the curves of the runs one ticks, and each run's overrides, results, samples and images.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqlab.cli.args import parse_key_values
from seqlab.errors import ConfigError, SeqlabError
from seqlab.output_paths import check_output_dir, check_output_file, writing
from seqlab.report import seeds as report_seeds
from seqlab.report.html import write_html
from seqlab.report.runs import (
    Run,
    as_number,
    build_table,
    common_overrides,
    differing_keys,
    direction,
    find_runs,
    markdown_table,
    metric_columns,
    plot_curves,
    sort_runs,
    text_table,
    write_csv,
)

SPEC: dict[str, tuple[type, Any]] = {
    "sort": (str, "val/loss"),
    "order": (str, "auto"),
    "columns": (str, None),
    "curve": (str, None),
    "out": (str, None),
    "plot": (bool, True),
}


def run_label(run: Run, keys: Sequence[str]) -> str:
    parts = [f"{k}={run.overrides[k]}" for k in keys if k in run.overrides]
    return " ".join(parts) or run.path.name


def report(
    paths: Sequence[Path],
    sort: str = "val/loss",
    order: str = "auto",
    columns: Sequence[str] | None = None,
    curve_metric: str | None = None,
    out: Path | None = None,
    plot: bool = True,
    html: bool | Path | str | None = None,
) -> dict[str, Any]:
    """Collect, sort, print and write; return the table and the written files. ``html``: true or a page's path
    writes the HTML report too (true: ``report.html`` in ``out``)."""
    runs = find_runs(paths)
    if not runs:
        raise ConfigError("PATH", f"no run folders (with .hydra/) under {', '.join(map(str, paths))}")
    reported = sorted({k for r in runs for k in r.results if k.startswith(("val/", "test/", "train/"))})
    if reported and not any(as_number(r.value(sort)) is not None for r in runs):
        raise ConfigError("sort", f"no run reports '{sort}'", allowed=reported)
    runs = sort_runs(runs, sort, order)
    header, rows = build_table(runs, sort, columns)
    out = check_output_dir("out", Path(out) if out else (Path(paths[0]) if len(paths) == 1 else Path.cwd()))
    page = None
    if html:  # every output checked before the first is written
        page = out / "report.html" if html is True else Path(html)
        page = page / "report.html" if page.is_dir() else page
        page = check_output_file("out" if html is True else "--out", page)
    out.mkdir(parents=True, exist_ok=True)
    common = common_overrides(runs)
    ok = sum(r.status == "ok" for r in runs)
    title = f"{len(runs)} runs ({ok} ok), sorted by {sort} ({direction(sort, order)}imum first)"
    files = {"csv": write_csv(out / "report.csv", header, rows), "md": out / "report.md"}
    md = [
        f"# Runs: {title}",
        "",
        f"Common overrides: `{' '.join(common)}`" if common else "",
        "",
        markdown_table(header, rows),
        "",
    ]
    print(title)
    if common:
        print("common overrides: " + " ".join(common))
    print(text_table(header[:-1], [r[:-1] for r in rows]))
    for run, row in zip(runs, rows):
        if run.status != "ok":
            print(f"{run.status}: {row[0]}: {run.error}")
    groups = report_seeds.seed_groups(runs)  # repeats of one configuration under several seeds
    seed_table = None
    if groups:
        metrics = list(columns) if columns else metric_columns(runs, sort)
        seed_table = report_seeds.group_table(groups, metrics, sort, order)
        files["seeds_csv"] = write_csv(out / "report_seeds.csv", *report_seeds.csv_table(groups, metrics, sort, order))
        heading = f"{len(groups)} configurations over seeds: mean ± std over n finished runs"
        md += [f"## {heading}", "", markdown_table(*seed_table), ""]
        print(f"\n{heading}\n" + text_table(*seed_table))
    files["md"].write_text("\n".join(md))
    metric = curve_metric or (sort if sort.startswith("val/") else "val/loss")
    if plot and groups:
        drawn = report_seeds.plot_group_curves(groups, metric, out / "report_curves.png")
        if drawn:
            files["png"] = out / "report_curves.png"
        else:
            print(f"no {metric} curves (csv/metrics.csv) to draw")
    elif plot:
        keys = differing_keys(runs)
        drawn = plot_curves(runs, metric, out / "report_curves.png", [run_label(r, keys) for r in runs])
        if drawn:
            files["png"] = out / "report_curves.png"
        else:
            print(f"no {metric} curves (csv/metrics.csv) to draw")
    if page is not None:
        with writing("--out" if html is not True else "out", page):
            files["html"] = write_html(
                page,
                runs,
                sort,
                order,
                columns,
                metric,
                exclude_images=[out / "report_curves.png"],
                seed_table=seed_table,
                seed_curves=files.get("png") if groups else None,
            )
    print("wrote " + ", ".join(str(p) for p in files.values()))
    return {"header": header, "rows": rows, "runs": runs, "files": files}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):
        print(__doc__)
        return
    try:
        argv, html = html_flags(argv)
        paths = [a for a in argv if "=" not in a or Path(a).exists()]
        opts = parse_key_values([a for a in argv if a not in paths], SPEC)
        if not paths:
            raise ConfigError("PATH", "missing: give a multirun folder or run folders (outputs/multirun/DAY/TIME)")
        columns = [c.strip() for c in opts["columns"].split(",") if c.strip()] if opts["columns"] else None
        report(
            [Path(p) for p in paths],
            sort=opts["sort"],
            order=opts["order"],
            columns=columns,
            curve_metric=opts["curve"],
            out=opts["out"],
            plot=opts["plot"],
            html=html,
        )
    except SeqlabError as exc:
        print(f"seqlab.report: error: {exc}", file=sys.stderr)
        sys.exit(2)


def html_flags(argv: list[str]) -> tuple[list[str], bool | str]:
    """Take ``--html`` and ``--out PAGE`` (or ``--out=PAGE``) out of ``argv``: (the rest, false | true | PAGE)."""
    rest: list[str] = []
    html, page = False, None
    args = iter(argv)
    for arg in args:
        if arg == "--html":
            html = True
        elif arg == "--out" or arg.startswith("--out="):
            page = arg.partition("=")[2] if "=" in arg else next(args, "")
            if not page:
                raise ConfigError("--out", "missing: give the HTML page's path (--out report.html)")
        else:
            rest.append(arg)
    if page is not None and not html:
        raise ConfigError("--out", "names the HTML page: give --html too (the other files go to out=DIR)")
    return rest, (page or True) if html else False
