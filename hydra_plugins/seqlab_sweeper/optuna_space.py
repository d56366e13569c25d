"""The search space of ``hparams_search=optuna``: Hydra's sweep syntax as Optuna (>= 4) distributions.

``hydra.sweeper.params`` and the command line's overrides, in that order (a later key wins), become:

- ``choice(a, b, ...)`` or ``a,b,...``: a categorical distribution;
- ``range(lo, hi[, step])``: integers (or floats with a float bound or step) from ``lo`` to ``hi`` by ``step``;
- ``interval(lo, hi)``: uniform floats (``int(interval(lo, hi))``: integers); ``tag(log, interval(lo, hi))``: on a
  log scale;
- a single value (``model.hidden_size=128``): a fixed parameter, taken out of the search.

Optuna is imported inside the functions: Hydra imports this package while it scans for plugins, also without Optuna.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer


def params_overrides(params: Mapping[str, Any] | None, arguments: Sequence[str]) -> list[str]:
    """``hydra.sweeper.params`` as ``key=value`` overrides, then the command line's."""
    return [f"{k}={v}" for k, v in (params or {}).items()] + [str(a) for a in arguments]


def search_space(overrides: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(distributions, fixed)``: the swept keys as Optuna distributions, the fixed keys as their values (as
    typed). A key fixed anywhere is taken out of the search."""
    distributions: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.get_key_element()
        if override.is_sweep_override():
            distributions[key] = distribution(override)
            fixed.pop(key, None)
        else:
            fixed[key] = override.get_value_element_as_str()
    for key in fixed:
        distributions.pop(key, None)
    return distributions, fixed


def distribution(override: Override) -> Any:
    """One sweep override as an Optuna distribution."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        step = value.step if value.step is not None else 1
        if any(isinstance(v, float) for v in (value.start, value.stop, step)):
            # Hydra's range leaves the end out: the last value is the one before stop
            last = round(value.start + step * (math.ceil((value.stop - value.start) / step - 1e-9) - 1), 12)
            return FloatDistribution(float(value.start), float(last), step=float(step))
        last = int(value.start) + int(step) * ((int(value.stop) - int(value.start) - 1) // int(step))
        return IntDistribution(int(value.start), last, step=int(step))
    if override.is_interval_sweep():
        assert isinstance(value, IntervalSweep)
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(int(value.start), int(value.end), log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ValueError(f"{override.input_line}: not a sweep Optuna can search (choice, range, interval)")


def trial_overrides(params: Mapping[str, Any], fixed: Mapping[str, Any]) -> list[str]:
    """A trial's job overrides: its sampled parameters, then the fixed ones."""
    return [f"{k}={v}" for k, v in {**params, **fixed}.items()]
