"""What ``hydra/launcher=ray`` needs, checked in one place: by pre-flight (before a sweep folder is claimed) and by
the launcher itself (hydra_plugins/seqlab_ray/ray_launcher.py)."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from seqlab.errors import ConfigError


def not_installed() -> ConfigError:
    return ConfigError("hydra/launcher", "ray is not installed (pip install 'seqlab[ray]')")


def check_installed() -> None:
    """Raise :func:`not_installed` on a machine without Ray, found without importing it (Ray's import takes
    seconds)."""
    try:
        missing = importlib.util.find_spec("ray") is None
    except ValueError:  # a module object without a spec stands in sys.modules for ray
        missing = sys.modules.get("ray") is None
    if missing:
        raise not_installed()


def check_one_node(num_nodes: Any) -> None:
    """A Ray task runs on one node: ``trainer.num_nodes`` above 1 is refused."""
    if int(num_nodes or 1) > 1:
        raise ConfigError("trainer.num_nodes", "a Ray task runs on one node; use hardware=slurm for multi-node runs")
