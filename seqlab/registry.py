"""The only place that maps names to classes.

Models and tasks are discovered through Python entry points (groups ``seqlab.models``, ``seqlab.tasks``,
``seqlab.conf``); seqlab's own built-ins are declared in its pyproject.toml exactly like a third-party plugin's.
``SEQLAB_DISABLE_PLUGINS`` (``all`` or a comma-separated list of distribution names) turns third-party plugins off.
A plugin whose entry point fails to import is reported by name and skipped; two distributions registering one name
raise :class:`PluginError` naming both.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from seqlab.errors import ConfigError, PluginError

log = logging.getLogger(__name__)

BUILTIN_DIST = "seqlab"
GROUPS = {"model": "seqlab.models", "task": "seqlab.tasks", "conf": "seqlab.conf"}


@dataclass
class PluginInfo:
    """What one installed distribution contributes."""

    dist: str
    version: str
    models: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    conf: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def disabled_plugins() -> set[str] | None:
    """Distribution names turned off by SEQLAB_DISABLE_PLUGINS; ``None`` means all third-party plugins."""
    raw = os.environ.get("SEQLAB_DISABLE_PLUGINS", "").strip()
    if not raw:
        return set()
    names = {n.strip().lower().replace("_", "-") for n in raw.split(",") if n.strip()}
    return None if names & {"all", "1", "true", "yes"} else names


def _dist_of(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ("unknown", "?")
    return (dist.metadata["Name"], dist.version)


def _enabled(dist: str) -> bool:
    if dist == BUILTIN_DIST:
        return True
    off = disabled_plugins()
    return off is not None and dist.lower().replace("_", "-") not in off


@dataclass
class _Entry:
    name: str
    ep: EntryPoint
    dist: str


@cache
def _entries(kind: str) -> dict[str, _Entry]:
    """name -> entry for one kind, enabled distributions only; name clashes raise."""
    found: dict[str, _Entry] = {}
    for ep in entry_points(group=GROUPS[kind]):
        dist, _ = _dist_of(ep)
        if not _enabled(dist):
            continue
        if ep.name in found and found[ep.name].dist != dist:
            other = found[ep.name].dist
            raise PluginError(
                f"{kind} name '{ep.name}' is registered by two packages: '{other}' and '{dist}'; "
                f"uninstall one or disable it with SEQLAB_DISABLE_PLUGINS={dist}"
            )
        found[ep.name] = _Entry(ep.name, ep, dist)
    return found


_load_errors: dict[tuple[str, str], str] = {}


def _load(kind: str, name: str) -> Any | None:
    entry = _entries(kind)[name]
    try:
        return entry.ep.load()
    except Exception as exc:  # a broken plugin must not take the others down
        msg = f"{type(exc).__name__}: {exc}"
        if (kind, name) not in _load_errors:
            log.warning("plugin '%s' failed to load its %s '%s': %s (skipped)", entry.dist, kind, name, msg)
        _load_errors[(kind, name)] = msg
        return None


def names(kind: str) -> list[str]:
    """Registered names of one kind (``model`` or ``task``), sorted."""
    return sorted(_entries(kind))


def get(kind: str, name: str) -> Any:
    """The class registered under ``name``; a clear ConfigError when unknown or broken."""
    entries = _entries(kind)
    if name not in entries:
        raise ConfigError(f"{kind}.name", f"unknown {kind} '{name}'", allowed=sorted(entries))
    obj = _load(kind, name)
    if obj is None:
        raise ConfigError(
            f"{kind}.name",
            f"{kind} '{name}' from plugin '{entries[name].dist}' failed to import: {_load_errors[(kind, name)]}",
        )
    return obj


def get_model(name: str) -> Any:
    return get("model", name)


def get_task(name: str) -> Any:
    return get("task", name)


def owner(kind: str, name: str) -> str:
    """The distribution that registered ``name``."""
    return _entries(kind)[name].dist


def config_packages() -> list[tuple[str, str]]:
    """(distribution, package) of each enabled plugin's config folder, e.g. ('seqlab-indrnn', 'seqlab_indrnn.conf')."""
    out = []
    for ep in entry_points(group=GROUPS["conf"]):
        dist, _ = _dist_of(ep)
        if _enabled(dist) and dist != BUILTIN_DIST:
            out.append((dist, ep.value.removeprefix("pkg://")))
    return sorted(out)


def plugins() -> list[PluginInfo]:
    """Each installed distribution declaring seqlab entry points (built-ins first); loads each to report errors."""
    infos: dict[str, PluginInfo] = {}
    for kind, group in GROUPS.items():
        for ep in entry_points(group=group):
            dist, version = _dist_of(ep)
            info = infos.setdefault(dist, PluginInfo(dist, version))
            if kind == "conf":
                info.conf.append(ep.value)
                continue
            getattr(info, kind + "s").append(ep.name)
            if _enabled(dist):
                try:
                    ep.load()
                except Exception as exc:
                    info.errors.append(f"{kind} '{ep.name}': {type(exc).__name__}: {exc}")
    return sorted(infos.values(), key=lambda i: (i.dist != BUILTIN_DIST, i.dist))


def clear_cache() -> None:
    """Forget discovered entry points (tests install and remove plugins at run time)."""
    _entries.cache_clear()
    _load_errors.clear()
