"""Typed views of config nodes: a YAML node merged into the dataclass schema its class declares."""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from seqlab.errors import ConfigError


def to_dataclass(schema: type, node: DictConfig | dict, prefix: str) -> Any:
    """Merge ``node`` into ``schema`` (a dataclass) and return the dataclass instance.

    Unknown keys and values of the wrong type raise ConfigError naming ``prefix.<key>`` and what is allowed.
    """
    base = OmegaConf.structured(schema)
    try:
        merged = OmegaConf.merge(base, node)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or getattr(exc, "key", None) or ""
        full = f"{prefix}.{key}" if key else prefix
        message = str(exc).splitlines()[0]
        if "not in" in message or "Key '" in message and "not" in message:
            allowed = [f.name for f in dataclasses.fields(schema)]
            raise ConfigError(full, "unknown key", allowed=allowed) from None
        field_type = _field_type(schema, str(key).split(".")[0]) if key else None
        hint = f" (expected {field_type})" if field_type else ""
        raise ConfigError(full, f"{message}{hint}") from None


def _field_type(schema: type, name: str) -> str | None:
    for field in dataclasses.fields(schema):
        if field.name == name:
            return getattr(field.type, "__name__", str(field.type))
    return None


def flat_keys(node: Any, prefix: str = "") -> dict[str, Any]:
    """A plain nested dict (``OmegaConf.to_container``) as ``{"a.b.c": leaf}``; an empty dict stays a leaf."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flat_keys(value, f"{prefix}{key}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}
