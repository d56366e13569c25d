"""Run a config check that builds modules without allocating them: on PyTorch's meta device.

Models, decoders and image encoders check their own values in ``__init__``; validation builds them to run those
checks. On the meta device (``with torch.device("meta")``) a parameter has a shape and no storage, so a 4 x 4096
bidirectional LSTM is checked in milliseconds and without its 4 GB of weights.

A component that cannot be built on the meta device (its ``__init__`` reads a tensor's value, say) raises something
other than a :class:`~seqlab.errors.SeqlabError` there; the check is then run again on the CPU, as seqlab 0.1 did, with
the sizes the config gives (a plugin that wants fast checks at any size keeps its ``__init__`` meta-safe: shapes,
initializers and ``ConfigError`` only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from seqlab.errors import SeqlabError

log = logging.getLogger(__name__)
T = TypeVar("T")


def dry_build(check: Callable[[], T]) -> T:
    """``check()`` run with every new tensor on the meta device; run again on the CPU when it fails there with
    anything but a SeqlabError (a ConfigError or DataError is the check's answer and is raised as it is)."""
    import torch

    try:
        with torch.device("meta"):
            return check()
    except SeqlabError:
        raise
    except Exception as exc:  # not meta-safe: the real build answers (and allocates)
        log.debug("the check cannot run on the meta device (%s: %s); running it on the CPU", type(exc).__name__, exc)
        return check()
