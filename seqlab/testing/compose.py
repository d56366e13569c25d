"""Compose a run config the way ``python -m seqlab OVERRIDES`` does, outside a Hydra app (for tests)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from seqlab import registry
from seqlab.config.store import register_configs


def compose_run_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The composed run config (built-in and plugin config packages on the search path)."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=registry.BUILTIN_CONF, version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


def option_file(group: str, option: str) -> Path | None:
    """The YAML file that provides ``group=option`` (built-in or plugin), or None."""
    key = f"{group}/{option}"
    for info in registry.plugins(load=False):
        if key in info.options:
            for location in info.conf_locations:
                for suffix in (".yaml", ".yml"):
                    path = Path(location) / (key + suffix)
                    if path.is_file():
                        return path
    return None


USAGE = "Usage: python -m seqlab"


def usage_line(path: Path, group: str, option: str) -> str | None:
    """The usage comment of an option's YAML file, or None: a line of the file's header (the comment lines it
    starts with, before any key or blank line) holding ``Usage: python -m seqlab`` and ``<group>=<option>``."""
    choice = re.compile(rf"(?<![\w.]){re.escape(group)}={re.escape(option)}(?!\w)")
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            return None
        if USAGE in line and choice.search(line.split(USAGE, 1)[1]):
            return line
    return None
