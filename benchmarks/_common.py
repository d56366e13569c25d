"""Helpers shared by the benchmark scripts: ``key=value`` options, the seqlab config of a run, the machine
description, Markdown tables and JSON output."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def options(argv: list[str], spec: dict[str, tuple[type, Any]], doc: str | None) -> dict[str, Any]:
    """``key=value`` arguments typed by ``spec`` (key -> (type, default), as seqlab's own tools read them; an unknown
    key is one error line naming the allowed ones); ``-h``/``--help`` prints ``doc`` (the script's docstring) and the
    keys."""
    from seqlab.cli.args import parse_key_values

    return parse_key_values(argv, spec, doc=doc)


def seqlab_config(overrides: list[str], checked: bool = False) -> Any:
    """The run config as ``python -m seqlab OVERRIDES`` composes it; ``checked``: a composition error becomes one
    ConfigError naming the key, as the command line reports it."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from seqlab.config.preflight import compose_checked
    from seqlab.config.store import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="seqlab.conf", version_base="1.3"):
        return compose_checked(overrides) if checked else compose(config_name="config", overrides=overrides)


def cpu_model() -> str:
    """The CPU's model name (``lscpu``), else the platform's processor name."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except Exception:
        return platform.processor()


def machine() -> dict[str, object]:
    """CPU model, cores, torch version and threads (and the GPU when there is one)."""
    info: dict[str, object] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


Column = str | Callable[[Any], object]  # a str.format template over a row's keys, or a function of the row


def markdown_table(columns: Mapping[str, Column] | Sequence[str], rows: Iterable[Any]) -> str:
    """A Markdown table: the headings, the ``|---|`` line, one line per row.

    ``columns`` maps each heading to how a row (a dict) shows in that column: a template (``"{loss:.3f}"``) or a
    function of the row; or it is the list of headings and each row the list of its cells (shown as ``str``)."""
    if isinstance(columns, Mapping):
        rows = [[c(row) if callable(c) else c.format_map(row) for c in columns.values()] for row in rows]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, data: object) -> Path:
    """``data`` as indented JSON (anything else as ``str``) in ``path``, its folder made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def write_results(name: str, data: dict) -> Path:
    return write_json(RESULTS / f"{name}.json", data)


def publish(text: str, name: str, data: dict) -> Path:
    """Print ``text`` (the table), write ``data`` to ``benchmarks/results/<name>.json`` and say where."""
    print(text)
    path = write_results(name, data)
    print(f"wrote {path}")
    return path
