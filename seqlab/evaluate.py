"""Score a finished run on a test set: its own test split, or a new file read with the run's vocabulary.

``python -m seqlab.evaluate ckpt_path=RUN_OR_CKPT [task.data.path=NEW] [task.data.KEY=VALUE ...] [out=FILE]``

Rebuilds the run's data from its saved config with the ``task.data.*`` keys replaced, encodes it with the run's
vocabularies and tokenizers (a word the run never saw reads as ``<unk>``) and runs the module's own test step on the
CPU (``seqlab.load(run).test_metrics(...)``, seqlab/tasks/evaluation.py). Without a ``task.data`` key it scores the
run's own test split and gives the ``test/*`` numbers of its results.json. The scores are printed (``key<TAB>value``)
and written as JSON beside the run, never into it: ``<run>-eval-<time>.json`` next to the run folder (next to the
checkpoint for a loose .ckpt), or ``out=FILE`` (checked before any work; an existing file is never overwritten).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from seqlab.cli.args import usage
from seqlab.cli.tool import one_line_errors
from seqlab.errors import ConfigError

SPEC: dict[str, tuple[type, Any]] = {"ckpt_path": (str, ...), "out": (str, None), "device": (str, "cpu")}
KEYS = tuple(SPEC)
DATA_PREFIX = "task.data."


def parse(argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(tool arguments, task.data overrides)`` of ``key=value`` words; a value is read as YAML (numbers, null)."""
    import yaml

    if any(word in ("-h", "--help") for word in argv):
        print(usage(__doc__ or "", SPEC) + "\n  task.data.<key>=<value>  (any data key of the run's task)")
        raise SystemExit(0)
    args: dict[str, Any] = {"ckpt_path": None, "out": None, "device": "cpu"}
    data: dict[str, Any] = {}
    for word in argv:
        key, sep, raw = word.partition("=")
        if not sep or not (key in KEYS or (key.startswith(DATA_PREFIX) and len(key) > len(DATA_PREFIX))):
            raise ConfigError(
                key if sep else word, "unknown argument", allowed=[*(f"{k}=" for k in KEYS), "task.data.*="]
            )
        if key in KEYS:
            args[key] = raw
            continue
        try:
            data[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            data[key] = raw
    if not args["ckpt_path"]:
        raise ConfigError("ckpt_path", "is required (a run folder or a .ckpt file)")
    return args, data


def default_output(checkpoint: Path, run_dir: Path | None) -> Path:
    """``<run>-eval-<time>.json`` beside the run folder (beside a loose checkpoint: ``<name>-eval-<time>.json``)."""
    anchor = run_dir if run_dir is not None else checkpoint
    stamp = time.strftime("%Y%m%d-%H%M%S")
    stem = anchor.name if run_dir is not None else anchor.stem
    candidate = anchor.parent / f"{stem}-eval-{stamp}.json"
    n = 2
    while candidate.exists():
        candidate = anchor.parent / f"{stem}-eval-{stamp}-{n}.json"
        n += 1
    return candidate


def check_out(out: str, ckpt_path: str) -> Path:
    """The checked ``out=`` path: writable, not an existing file, and not inside the run folder."""
    from seqlab.checkpoint import checkpoint_file
    from seqlab.output_paths import check_output_file
    from seqlab.session.loading import _run_dir_of

    target = check_output_file("out", out)
    if target.exists():
        raise ConfigError("out", f"{target} exists; seqlab.evaluate never overwrites a file")
    checkpoint = checkpoint_file(ckpt_path, "ckpt_path")
    run_dir = _run_dir_of(checkpoint.absolute())
    if run_dir is not None and run_dir.resolve() in target.resolve().parents:
        raise ConfigError("out", f"{target} lies inside the run folder {run_dir}; the scores go beside it")
    return target


def evaluate(
    ckpt_path: str, data: dict[str, Any] | None = None, out: str | None = None, device: str = "cpu", quiet: bool = True
) -> dict:
    """Score the run and write the JSON; returns what was written (``metrics``, ``checkpoint``, ``data``, ``out``).
    Every argument and ``out`` are checked before the checkpoint is scored. ``quiet``: Lightning's own lines
    (devices, tips, warnings) are not shown."""
    from seqlab.output_paths import writing
    from seqlab.session import load
    from seqlab.session.in_process import _silenced
    from seqlab.tasks.evaluation import data_overrides

    target = check_out(out, ckpt_path) if out else None
    run = load(ckpt_path, device=device)
    data = dict(data or {})
    data_overrides(run.config, data)  # an unknown key fails here, before any work
    with _silenced(quiet):
        metrics = run.test_metrics(**{k[len(DATA_PREFIX) :]: v for k, v in data.items()})
    target = target or default_output(run.checkpoint.absolute(), run.run_dir and run.run_dir.absolute())
    report = {
        "checkpoint": str(run.checkpoint.absolute()),
        "run_dir": str(run.run_dir.absolute()) if run.run_dir else None,
        "task": run.task,
        "model": str(run.config.model.name),
        "data": data,
        "metrics": metrics,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    partial = target.with_name(target.name + ".partial")
    with writing("out", target):
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        partial.replace(target)
    return {**report, "out": str(target)}


def main(argv: list[str] | None = None) -> None:
    with one_line_errors("evaluate"):
        args, data = parse(sys.argv[1:] if argv is None else argv)
        report = evaluate(args["ckpt_path"], data, args["out"], args["device"])
    for key, value in report["metrics"].items():
        print(f"{key}\t{value:.6g}")
    print(f"seqlab.evaluate: scores: {report['out']}", file=sys.stderr)


if __name__ == "__main__":
    main()
