"""Every ``pytorch_lightning.Trainer`` argument as a config key (``trainer.<name>``), with Lightning's defaults.

seqlab builds the logger, the callbacks and the run folder itself, so those arguments are not config keys.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import pytorch_lightning as pl

MANAGED = frozenset({"self", "logger", "callbacks", "plugins", "default_root_dir", "enable_checkpointing"})
_PLAIN = (int, float, str, bool, type(None))


@cache
def trainer_defaults() -> dict[str, Any]:
    """name -> default of each Trainer argument a config may set."""
    out = {}
    for name, param in inspect.signature(pl.Trainer.__init__).parameters.items():
        if name in MANAGED or param.kind is not inspect.Parameter.KEYWORD_ONLY and name.startswith("_"):
            continue
        default = param.default
        out[name] = default if isinstance(default, _PLAIN) else None
    return out
