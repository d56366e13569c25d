"""Types and ranges of the run-level keys a user types most (``seed``, ``trainer.max_steps``,
``trainer.val_check_interval``, ...), checked before Lightning sees them: a wrong value is one line naming the key."""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig

from seqlab.config.optimizer_settings import OptimizerSettings
from seqlab.config.trainer_args import trainer_defaults
from seqlab.errors import ConfigError

COUNTS_FROM_MINUS_ONE = ("max_steps", "max_epochs", "min_steps", "min_epochs")  # -1 / null: no limit
POSITIVE_COUNTS = ("check_val_every_n_epoch", "log_every_n_steps", "num_sanity_val_steps")
FRACTION_OR_COUNT = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches")
DURATION = re.compile(r"^\d+:\d{1,2}:\d{1,2}:\d{1,2}$")  # DD:HH:MM:SS


def check_run_values(cfg: DictConfig, optimizer: OptimizerSettings) -> None:
    """Raise ConfigError for the first run-level key of the wrong type or out of range (``optimizer``: the
    optimizer node's typed seqlab keys)."""
    if not _is_int(cfg.get("seed")):
        raise ConfigError("seed", f"must be an integer, got {cfg.get('seed')!r}")
    trainer = cfg.trainer
    for key in COUNTS_FROM_MINUS_ONE:
        value = trainer.get(key)
        if value is not None and (not _is_int(value) or value < -1):
            raise ConfigError(f"trainer.{key}", f"must be an integer >= -1 (-1 or null: no limit), got {value!r}")
    for key in POSITIVE_COUNTS:
        value = trainer.get(key)
        low = 0 if key == "num_sanity_val_steps" else 1
        if value is not None and (not _is_int(value) or value < low and value != -1):
            raise ConfigError(f"trainer.{key}", f"must be an integer >= {low} or null, got {value!r}")
    for key in FRACTION_OR_COUNT:
        value = trainer.get(key)
        if value is not None and not (_is_int(value) and value >= 0 or _is_fraction(value, allow_zero=True)):
            raise ConfigError(
                f"trainer.{key}", f"must be a number of batches (int >= 0) or a fraction in [0, 1], got {value!r}"
            )
    for key, low in (("val_batches", 1), ("test_batches", 0)):
        value = (cfg.get("eval") or {}).get(key)
        if value is not None and (not _is_int(value) or value < low):
            raise ConfigError(f"eval.{key}", f"must be an integer >= {low} or null, got {value!r}")
    _check_val_check_interval(trainer.get("val_check_interval"))
    if trainer.get("check_val_every_n_epoch") is None and isinstance(trainer.get("val_check_interval"), float):
        raise ConfigError(
            "trainer.val_check_interval",
            "a fraction of an epoch needs trainer.check_val_every_n_epoch "
            "set (it is null: validation counts batches across epochs); give a number of batches "
            "(an int) or a time DD:HH:MM:SS, or set trainer.check_val_every_n_epoch=1",
        )
    _check_max_time(trainer.get("max_time"))
    schedule = optimizer.schedule
    unbounded_epochs = trainer.get("max_epochs") is None or trainer.get("max_epochs") == -1
    if schedule not in ("constant", "plateau") and (trainer.get("max_steps") or -1) <= 0 and unbounded_epochs:
        raise ConfigError(
            "optimizer.schedule",
            f"'{schedule}' spreads over the run's length, but neither "
            "trainer.max_steps nor trainer.max_epochs bounds it; set one, or use schedule=constant "
            "(e.g. with trainer.max_time)",
            allowed=["constant"],
        )
    defaults = trainer_defaults()
    for key, value in trainer.items():
        default = defaults.get(str(key))
        if isinstance(default, bool) and value is not None and not isinstance(value, bool):
            raise ConfigError(f"trainer.{key}", f"must be true or false, got {value!r}")


def _check_val_check_interval(value: Any) -> None:
    if value is None or _is_int(value) and value > 0 or _is_fraction(value, allow_zero=False):
        return
    if isinstance(value, str) and DURATION.match(value):
        return
    raise ConfigError(
        "trainer.val_check_interval",
        f"must be a number of batches (int > 0), a fraction of an epoch "
        f"in (0, 1], or a time DD:HH:MM:SS; got {value!r}",
    )


def _check_max_time(value: Any) -> None:
    if value is None or isinstance(value, str) and DURATION.match(value) or isinstance(value, dict):
        return
    raise ConfigError("trainer.max_time", f"must be a time DD:HH:MM:SS (e.g. 00:00:05:00) or null, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_fraction(value: Any, allow_zero: bool) -> bool:
    return isinstance(value, float) and (0.0 <= value <= 1.0 if allow_zero else 0.0 < value <= 1.0)
