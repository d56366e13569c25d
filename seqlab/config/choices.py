"""Allowed values of keys that code in several layers reads: the check (config/validate.py) and the code that acts
on them (training/) take them from here, so the config layer imports no training code."""

from __future__ import annotations

from typing import Any

from seqlab.errors import ConfigError

SCHEDULES = ("constant", "cosine", "linear", "step", "plateau")  # optimizer.schedule (training/optim.py)
PRUNERS = ("none", "median", "hyperband")  # hydra.sweeper.pruner of hparams_search=optuna (training/trial_pruning.py)
THREADS_KEY = "hardware.threads"


def parse_threads(value: Any) -> int | str:
    """``hardware.threads``: ``auto``, ``torch`` or a positive int; ConfigError (one line) otherwise."""
    if value is None or value == "auto":
        return "auto"
    if value == "torch":
        return "torch"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ConfigError(THREADS_KEY, f"must be auto, torch (torch's default) or a positive integer, got {value!r}")


TIMEOUT_KEY = "hardware.timeout"
DEFAULT_TIMEOUT = 300  # seconds


def parse_timeout(value: Any) -> float:
    """``hardware.timeout``: seconds a DDP rank waits for the others at a collective before it gives up (a positive
    number; default 300, torch's own is 30 minutes); ConfigError (one line) otherwise."""
    if value is None:
        return float(DEFAULT_TIMEOUT)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise ConfigError(TIMEOUT_KEY, f"must be a positive number of seconds, got {value!r}")
