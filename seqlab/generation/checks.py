"""The one check of decoding values, shared by every entry point that decodes: the tools (``python -m
seqlab.translate`` / ``seqlab.caption``) before they load a checkpoint, and the tasks' ``check`` at pre-flight
(``task.decode.*``), so a value refused in one place is refused, with the same words, in all of them.

Bounds keep the work of one call bounded: ``beam_size`` at most :data:`MAX_BEAM_SIZE` (each beam holds a
``(batch, vocabulary)`` score row per step), a length limit at most :data:`MAX_DECODE_LEN` tokens, a length ratio at
most :data:`MAX_LEN_RATIO`. A value never valid (a negative temperature, alpha or NaN) is refused whatever the method.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from seqlab.errors import ConfigError

DECODE_METHODS = ("greedy", "beam", "sample")
MAX_BEAM_SIZE = 100
MAX_DECODE_LEN = 1000  # tokens of one hypothesis
MAX_LEN_RATIO = 10.0  # target tokens per source token (translation's per-row limit)
MAX_BATCH_SIZE = 4096

# key: (lowest, highest, integer); None = no bound on that side
BOUNDS: dict[str, tuple[float | None, float | None, bool]] = {
    "beam_size": (1, MAX_BEAM_SIZE, True),
    "alpha": (0.0, None, False),
    "temperature": (0.0, None, False),
    "max_len": (1, MAX_DECODE_LEN, True),
    "max_len_extra": (0, MAX_DECODE_LEN, True),
    "batch_size": (1, MAX_BATCH_SIZE, True),
}


def check_decode(values: Mapping[str, Any], prefix: str = "") -> None:
    """Raise ConfigError (key ``<prefix>.<name>``, or ``<name>`` without a prefix) for the first bad decoding value
    in ``values``; keys absent or None are not checked, keys this module does not know are left alone."""
    name = (lambda key: f"{prefix}.{key}") if prefix else (lambda key: key)
    method = values.get("method")
    if method is not None and method not in DECODE_METHODS:
        raise ConfigError(name("method"), f"unknown method '{method}'", allowed=DECODE_METHODS)
    for key, (low, high, integer) in BOUNDS.items():
        value = values.get(key)
        if value is None:
            continue
        if integer and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(name(key), f"must be a whole number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(name(key), f"must be a finite number, got {value}")
        if low is not None and value < low:
            raise ConfigError(name(key), f"must be >= {low}, got {value}")
        if high is not None and value > high:
            raise ConfigError(name(key), f"must be <= {high}, got {value}")
    ratio = values.get("max_len_ratio")
    if ratio is not None and not (math.isfinite(ratio) and 0 < ratio <= MAX_LEN_RATIO):
        raise ConfigError(name("max_len_ratio"), f"must be in (0, {MAX_LEN_RATIO:g}], got {ratio}")


def decode_values(node: Any) -> dict[str, Any]:
    """The decoding keys of a ``task.decode`` node (a dataclass or a mapping) as a dict for :func:`check_decode`."""
    if isinstance(node, Mapping):
        return dict(node)
    return {key: getattr(node, key) for key in ("method", "max_len_ratio", *BOUNDS) if hasattr(node, key)}
