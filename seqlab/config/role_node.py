"""The rule every role node follows (``task.decoder``, ``task.image_encoder``): ``name`` picks a registered
component, and the node's other keys are that component's ``Config`` fields, nothing else.

The YAML of a role node lists keys of the built-in components (so ``task.image_encoder.feature_size=2048`` composes
without a ``+``); a listed key the chosen component does not declare is ignored while it keeps its listed value, and
refused, naming it, once it is set to another one. A plugin's own keys are added with ``+<node>.<key>=value``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from seqlab.config.schema import to_dataclass
from seqlab.errors import ConfigError


def component_config(node: Mapping[str, Any], schema: type, prefix: str, listed: Mapping[str, Any], what: str) -> Any:
    """``schema`` (the chosen component's ``Config`` dataclass) filled from ``node``'s keys it declares; ``listed``:
    the keys the YAML lists with their values there; ``what``: the component in words, e.g. ``decoder 'rnn'``."""
    declared = {f.name for f in dataclasses.fields(schema)}
    keys: dict[str, Any] = {}
    for key, value in node.items():
        if key in declared:
            keys[key] = value
        elif key != "name" and listed.get(key, object()) != value:
            raise ConfigError(f"{prefix}.{key}", f"{what} has no such key", allowed=sorted(declared))
    return to_dataclass(schema, keys, prefix)


def under_node(exc: ConfigError, prefix: str) -> ConfigError:
    """A component's own ConfigError (key ``image_encoder.model``, ``decoder.attention`` or a bare ``model``) named
    under its node (``task.image_encoder.model``); one already named ``task.*`` or under ``prefix`` is returned as
    it is."""
    if exc.key.startswith(("task.", f"{prefix}.")):
        return exc
    field = exc.key.split(".", 1)[-1]
    message = str(exc).split(": ", 1)[1].split(" (allowed:")[0]
    return ConfigError(f"{prefix}.{field}", message, allowed=exc.allowed)
