"""A grid sweep's size, counted from its overrides before any job list is built, and refused above ``sweep_max_jobs``.

The count is arithmetic on the sweep overrides (a list counts its items, ``range(a,b,s)`` its steps, ``glob`` the
group's options), never their expansion: ``model.hidden_size=range(1,100000000)`` is refused in a moment instead of
filling memory. It multiplies the sweeps of the command line and of a preset's ``hydra.sweeper.params`` (the command
line replaces the preset's key), as Hydra's grid sweeper combines them. A sampling sweeper (Optuna) is bounded by its
``n_trials`` instead and is not counted here.
"""

from __future__ import annotations

import decimal
import math
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Glob, Override, RangeSweep
from omegaconf import DictConfig, OmegaConf

from seqlab.errors import ConfigError

KEY = "sweep_max_jobs"
GRID_SWEEPERS = ("SeqlabSweeper", "BasicSweeper")


def value_count(override: Override, options: list[str] | None = None) -> int | None:
    """How many values a sweep override takes (1 for a plain one); None when it has no finite count (an interval).
    ``options``: the group's options, for a ``glob``."""
    if not override.is_sweep_override():
        return 1
    sweep = override.value()
    if isinstance(sweep, RangeSweep):
        return range_count(sweep)
    if isinstance(sweep, ChoiceSweep):
        return len(sweep.list)
    if isinstance(sweep, Glob):
        return len(sweep.filter(options or []))
    if isinstance(sweep, list):
        return len(sweep)
    return None


def range_count(sweep: RangeSweep) -> int:
    """The number of values ``range(start, stop, step)`` gives, as Hydra steps it (floats in decimal)."""
    start, stop, step = (decimal.Decimal(str(v)) for v in (sweep.start, sweep.stop, sweep.step))
    if step == 0:
        raise ConfigError("overrides", f"range({sweep.start},{sweep.stop},{sweep.step}) has a step of 0")
    return max(0, math.ceil((stop - start) / step))


def grid_size(overrides: list[Override], options: dict[str, list[str]] | None = None) -> int:
    """The number of jobs the grid of ``overrides`` has (values that cannot be counted count once)."""
    total = 1
    for override in overrides:
        count = value_count(override, (options or {}).get(override.key_or_group))
        total *= count if count is not None else 1
    return total


def check_sweep_size(cfg: DictConfig, command_line: list[Override], options: dict[str, list[str]]) -> None:
    """Raise ConfigError (key ``sweep_max_jobs``) when the grid that ``cfg`` (composed with Hydra's node, from the
    command line's fixed overrides) and the sweeps of ``command_line`` give has more jobs than ``sweep_max_jobs``."""
    target = str(OmegaConf.select(cfg, "hydra.sweeper._target_", default="") or "")
    if not target.endswith(GRID_SWEEPERS):
        return
    limit = OmegaConf.select(cfg, KEY, default=None)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(KEY, f"must be a whole number >= 1, got {limit!r}")
    node = OmegaConf.select(cfg, "hydra.sweeper.params")
    params: dict[str, Any] = OmegaConf.to_container(node) if isinstance(node, DictConfig) else {}  # type: ignore[assignment]
    preset = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    merged = {o.get_key_element(): o for o in preset}
    merged.update({o.get_key_element(): o for o in command_line})
    jobs = grid_size(list(merged.values()), options)
    if jobs > limit:
        raise ConfigError(
            KEY,
            f"this sweep has {jobs} jobs, more than {KEY}={limit}: sweep fewer values, or raise {KEY} "
            "(nothing was run)",
        )
