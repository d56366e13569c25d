"""Lightning's own refusals of a Trainer argument, as one seqlab line naming the ``trainer.*`` key.

Some limits are only known once the data is loaded (``val_check_interval`` larger than an epoch); Lightning raises
them as ValueError or MisconfigurationException with the argument's name in backticks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from seqlab.config.trainer_args import trainer_defaults
from seqlab.errors import ConfigError


def lightning_config_error(exc: Exception) -> ConfigError | None:
    """A ConfigError for an exception that names a Trainer argument, else None (a real bug: keep its traceback)."""
    text = " ".join(str(exc).split())
    names = [n for n in re.findall(r"`(?:Trainer\()?(\w+)\)?`", text) if n in trainer_defaults()]
    if not names:
        return None
    message = text.replace("`", "").strip()
    return ConfigError(f"trainer.{names[0]}", message[0].lower() + message[1:] if message else type(exc).__name__)


@contextmanager
def trainer_arguments_checked() -> Iterator[None]:
    """Lightning's refusal of a Trainer argument, at construction or at fit, as one ConfigError line."""
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        yield
    except (ValueError, MisconfigurationException) as exc:
        known = lightning_config_error(exc)
        if known is None:
            raise
        raise known from exc
