"""The only place that maps names to classes.

Models and tasks are discovered through Python entry points (groups ``seqlab.models``, ``seqlab.tasks``,
``seqlab.conf``); seqlab's own built-ins are declared in its pyproject.toml exactly like a third-party plugin's.
A ``seqlab.conf`` entry point names a config package (e.g. ``seqlab_indrnn.conf``) whose YAML files join Hydra's
search path as group options (``model/indrnn.yaml`` -> ``model=indrnn``).

Rules:
- Names come from entry-point metadata; a class is imported (with torch) only when :func:`get` asks for it.
- ``SEQLAB_DISABLE_PLUGINS`` (``all`` or a comma-separated list of distribution names) turns plugins off.
- A plugin that fails to import is reported by name with its error (a warning; ``python -m seqlab.plugins``) and
  skipped; every other plugin and the built-ins keep working.
- Two distributions registering one model/task name raise :class:`PluginError` naming both.
- A plugin's YAML never replaces (or hides behind) an option another distribution ships: :func:`check_plugins`
  raises :class:`PluginError` naming the plugin and the option.
- A plugin may declare the plugin API versions it supports (group ``seqlab.api``: an entry point naming a string
  attribute such as ``SEQLAB_API = ">=1,<2"``); outside that range it is skipped like a disabled plugin, with one
  warning line, and listed by ``python -m seqlab.plugins`` with the reason. No declaration: it is used.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from packaging.specifiers import SpecifierSet

from seqlab.errors import ConfigError, PluginError
from seqlab.old_paths import keep_old_paths

log = logging.getLogger(__name__)

BUILTIN_DIST = "seqlab"
BUILTIN_CONF = "seqlab.conf"
HYDRA_DIST = "hydra-core"
DISABLE_ENV = "SEQLAB_DISABLE_PLUGINS"
# one group per role (docs/architecture.md): sequence encoders (`model`), decoders, image encoders, tasks; and
# config packages
GROUPS = {
    "model": "seqlab.models",
    "decoder": "seqlab.decoders",
    "image_encoder": "seqlab.image_encoders",
    "task": "seqlab.tasks",
    "conf": "seqlab.conf",
}
API_GROUP = "seqlab.api"  # a plugin's supported plugin-API range (see api_problem)
API_VERSION = "1.0"  # seqlab.api.VERSION: the major number changes when a plugin written for the last one breaks
ROLES = ("model", "decoder", "image_encoder", "task")  # the groups that name classes


def normalize(dist: str) -> str:
    """A distribution name as pip compares them (``Seqlab_IndRNN`` -> ``seqlab-indrnn``)."""
    return dist.strip().lower().replace("_", "-").replace(".", "-")


def disabled_plugins() -> set[str] | None:
    """Distribution names turned off by SEQLAB_DISABLE_PLUGINS; ``None`` means all third-party plugins."""
    raw = os.environ.get(DISABLE_ENV, "").strip()
    if not raw:
        return set()
    names = {normalize(n) for n in raw.split(",") if n.strip()}
    return None if names & {"all", "1", "true", "yes"} else names


def turned_on(dist: str) -> bool:
    """Whether SEQLAB_DISABLE_PLUGINS leaves a distribution on (seqlab's own always is)."""
    if normalize(dist) == BUILTIN_DIST:
        return True
    off = disabled_plugins()
    return off is not None and normalize(dist) not in off


def enabled(dist: str) -> bool:
    """Whether a distribution's entry points are used: turned on, and made for this plugin API (if it says)."""
    return turned_on(dist) and normalize(dist) not in _api_problems(_world())


def api_problem(dist: str) -> str | None:
    """Why a turned-on plugin is skipped for its plugin-API range, or None when it is used."""
    return _api_problems(_world()).get(normalize(dist))


@cache
def _api_problems(world: tuple | None = None) -> dict[str, str]:
    """normalized dist -> why it is skipped, for each turned-on plugin whose declared ``seqlab.api`` range leaves
    out :data:`API_VERSION` (or whose declaration cannot be read). Each is reported once, in one stderr line."""
    problems: dict[str, str] = {}
    for ep in entry_points(group=API_GROUP):
        dist, version = _dist_of(ep)
        if normalize(dist) == BUILTIN_DIST or not turned_on(dist) or normalize(dist) in problems:
            continue
        try:
            declared = ep.load()
            supported = SpecifierSet(str(declared))
        except Exception as exc:  # a broken declaration must not take the others down
            problems[normalize(dist)] = f"its seqlab API range ({ep.value}) cannot be read: {type(exc).__name__}: {exc}"
            continue
        if not supported.contains(API_VERSION, prereleases=True):
            problems[normalize(dist)] = (
                f"it supports seqlab plugin API {declared}, this seqlab has API {API_VERSION}; "
                f"install a version of {dist} made for API {API_VERSION.split('.')[0]}"
            )
    for dist, problem in sorted(problems.items()):
        print(f"seqlab: warning: plugin '{dist}' skipped: {problem}", file=sys.stderr)
    return problems


def _dist_of(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ("unknown", "?")
    return (dist.metadata["Name"], dist.version)


def _world() -> tuple[str, tuple[str, ...]]:
    """What discovery depends on; part of every cache key, so changing sys.path or the env re-discovers."""
    return (os.environ.get(DISABLE_ENV, ""), tuple(sys.path))


@dataclass
class _Entry:
    name: str
    ep: EntryPoint
    dist: str


@dataclass
class ConfSource:
    """One distribution's config package and the options (``group/option``) it ships."""

    dist: str
    package: str
    location: str = ""
    options: list[str] = field(default_factory=list)
    error: str | None = None


# ---- models and tasks -----------------------------------------------------------------------------------------
def _scan(kind: str) -> tuple[dict[str, _Entry], list[tuple[str, tuple[str, str]]]]:
    """name -> entry of one kind (enabled distributions only) and the name clashes found (message, both dists)."""
    found: dict[str, _Entry] = {}
    clashes: list[tuple[str, tuple[str, str]]] = []
    for ep in entry_points(group=GROUPS[kind]):
        dist, _ = _dist_of(ep)
        if not enabled(dist):
            continue
        if ep.name in found and normalize(found[ep.name].dist) != normalize(dist):
            other = found[ep.name].dist
            clashes.append(
                (
                    f"{kind} name '{ep.name}' is registered by two packages: '{other}' and '{dist}'; "
                    f"uninstall one or disable it with {DISABLE_ENV}={dist if other == BUILTIN_DIST else other}",
                    (other, dist),
                )
            )
            continue
        found[ep.name] = _Entry(ep.name, ep, dist)
    return found, clashes


@cache
def _entries(kind: str, world: tuple | None = None) -> dict[str, _Entry]:
    found, clashes = _scan(kind)
    if clashes:
        raise PluginError(clashes[0][0])
    return found


def _current(kind: str) -> dict[str, _Entry]:
    return _entries(kind, _world())


_load_errors: dict[tuple[str, str], str] = {}


def _load(kind: str, name: str) -> Any | None:
    entry = _current(kind)[name]
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
    return sorted(_current(kind))


def get(kind: str, name: str) -> Any:
    """The class registered under ``name``; a clear ConfigError when unknown or broken."""
    entries = _current(kind)
    if name not in entries:
        raise ConfigError(
            f"{kind}.name", f"unknown {kind} '{name}'{disabled_hint(kind, name)}", allowed=sorted(entries)
        )
    obj = _load(kind, name)
    if obj is None:
        raise ConfigError(
            f"{kind}.name",
            f"{kind} '{name}' from plugin '{entries[name].dist}' failed to import: {_load_errors[(kind, name)]}",
        )
    return obj


def disabled_hint(kind: str, name: str) -> str:
    """`` (plugin 'p' is turned off by SEQLAB_DISABLE_PLUGINS)`` when a turned-off plugin registers ``name``,
    else ``""`` (read from entry-point metadata: nothing is imported)."""
    if kind not in GROUPS:
        return ""
    off = [d for d in (_dist_of(ep)[0] for ep in entry_points(group=GROUPS[kind]) if ep.name == name) if not enabled(d)]
    if not off:
        return ""
    problem = api_problem(off[0])
    return (
        f" (plugin '{off[0]}' is skipped: {problem})"
        if problem
        else f" (plugin '{off[0]}' is turned off by {DISABLE_ENV})"
    )


def get_model(name: str) -> Any:
    return get("model", name)


def get_task(name: str) -> Any:
    return get("task", name)


def get_decoder(name: str) -> Any:
    """A decoder class (``seqlab.decoders`` entry points; contract: seqlab/models/decoder.py)."""
    return get("decoder", name)


def get_image_encoder(name: str) -> Any:
    """An image-encoder class (``seqlab.image_encoders`` entry points; contract: seqlab/models/image_encoder.py)."""
    return get("image_encoder", name)


def owner(kind: str, name: str) -> str:
    """The distribution that registered ``name``."""
    return _current(kind)[name].dist


# ---- config packages --------------------------------------------------------------------------------------------
def config_options(package: str) -> tuple[str, list[str]]:
    """(location, sorted ``group/option`` paths of every YAML file) of an importable config package."""
    root = resources.files(package)
    options: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir() and child.name != "__pycache__":
                walk(child, f"{prefix}{child.name}/")
            elif child.is_file() and child.name.endswith((".yaml", ".yml")):
                options.append(prefix + child.name.rsplit(".", 1)[0])

    walk(root, "")
    return str(root), sorted(options)


def _conf_source(dist: str, package: str) -> ConfSource:
    source = ConfSource(dist, package)
    try:
        importlib.import_module(package)
        source.location, source.options = config_options(package)
        if not any(f.name == "__init__.py" for f in resources.files(package).iterdir()):
            source.error = f"config package '{package}' has no __init__.py (Hydra cannot read it)"
    except Exception as exc:  # the plugin's package fails to import: report it, skip it
        source.error = f"{type(exc).__name__}: {exc}"
    return source


@cache
def _conf_sources(world: tuple | None = None) -> tuple[ConfSource, ...]:
    """The built-in config package first, then each enabled plugin's (sorted by distribution)."""
    out = [_conf_source(BUILTIN_DIST, BUILTIN_CONF)]
    plugin_sources = []
    for ep in entry_points(group=GROUPS["conf"]):
        dist, _ = _dist_of(ep)
        if enabled(dist) and normalize(dist) != BUILTIN_DIST:
            plugin_sources.append(_conf_source(dist, ep.value.removeprefix("pkg://")))
    out += sorted(plugin_sources, key=lambda s: (normalize(s.dist), s.package))
    for source in out:
        if source.error:
            log.warning(
                "plugin '%s' failed to import its config package '%s': %s (skipped)",
                source.dist,
                source.package,
                source.error,
            )
    return tuple(out)


def config_packages() -> list[tuple[str, str]]:
    """(distribution, package) of each enabled, importable plugin config folder, e.g.
    ``('seqlab-indrnn', 'seqlab_indrnn.conf')``; broken ones are reported (a warning) and left out."""
    return [(s.dist, s.package) for s in _conf_sources(_world())[1:] if not s.error]


def _hydra_options() -> list[str]:
    """Options Hydra itself provides (its config package and the ConfigStore); a plugin must not shadow them."""
    options = list(config_options("hydra.conf")[1])
    from hydra.core.config_store import ConfigStore

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}/")
            else:
                options.append(prefix + key.removesuffix(".yaml"))

    walk(ConfigStore.instance().repo, "")
    return options


def _shadowing(sources: tuple[ConfSource, ...]) -> list[tuple[str, str]]:
    """(dist, message) for each option a plugin ships that Hydra, seqlab or an earlier plugin already has.

    Hydra would silently take the first one on its search path (Hydra's and seqlab's own come first)."""
    seen: dict[str, str] = dict.fromkeys(_hydra_options(), HYDRA_DIST)
    problems = []
    for source in sources:
        if source.error:
            continue
        plugin = normalize(source.dist) != BUILTIN_DIST
        for option in source.options:
            if option in seen and plugin:
                owner_ = seen[option]
                what = {BUILTIN_DIST: "a built-in option", HYDRA_DIST: "an option of Hydra itself"}.get(
                    owner_, f"an option of plugin '{owner_}'"
                )
                message = (
                    f"plugin '{source.dist}' ships config '{option}.yaml' ({source.package}), which is already "
                    f"{what}; a plugin may add options but never replace one: rename it, or disable a plugin with "
                    f"{DISABLE_ENV}={source.dist}"
                )
                problems.append((source.dist, message))
            else:
                seen.setdefault(option, source.dist)
    return problems


def check_plugins() -> None:
    """Raise PluginError when two packages register one model/decoder/task name or a plugin's YAML shadows an
    option.

    Called before Hydra composes anything (the search path plugin and the CLI's preflight)."""
    for kind in ROLES:
        _current(kind)
    _warn_unknown_disabled()
    problems = _shadowing(_conf_sources(_world()))
    if problems:
        raise PluginError(problems[0][1])


def _warn_unknown_disabled() -> None:
    """One stderr line (once per setting) when SEQLAB_DISABLE_PLUGINS names no installed plugin: a typo would
    otherwise leave the plugin on without a word."""
    named = disabled_plugins() or set()
    installed = {normalize(_dist_of(ep)[0]) for group in GROUPS.values() for ep in entry_points(group=group)}
    unknown = sorted(named - installed)
    key = os.environ.get(DISABLE_ENV, "")
    if unknown and key not in _warned:
        _warned.add(key)
        plugins_ = ", ".join(sorted(installed - {BUILTIN_DIST})) or "none"
        print(
            f"seqlab: warning: {DISABLE_ENV} names no installed plugin: {', '.join(unknown)} "
            f"(installed plugins: {plugins_})",
            file=sys.stderr,
        )


_warned: set[str] = set()


# ---- the listing -------------------------------------------------------------------------------------------------
@dataclass
class PluginInfo:
    """What one installed distribution contributes, and what is wrong with it."""

    dist: str
    version: str
    enabled: bool = True
    skipped: str | None = None  # why an installed, turned-on plugin is not used (its plugin-API range)
    models: list[str] = field(default_factory=list)
    decoders: list[str] = field(default_factory=list)
    image_encoders: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    conf: list[str] = field(default_factory=list)  # config packages
    conf_locations: list[str] = field(default_factory=list)  # where their YAML files are on disk
    options: list[str] = field(default_factory=list)  # group/option paths of those YAML files
    errors: list[str] = field(default_factory=list)


def plugins(load: bool = False) -> list[PluginInfo]:
    """Each installed distribution declaring seqlab entry points (built-ins first), read from their metadata.

    Never raises: import errors, name clashes and shadowed options land in ``errors``. Classes are not imported
    (that would import torch) unless ``load=True``; without it, the import errors listed are those of config
    packages and of classes this process already tried to load."""
    infos: dict[str, PluginInfo] = {}
    for kind, group in GROUPS.items():
        for ep in entry_points(group=group):
            dist, version = _dist_of(ep)
            info = infos.setdefault(normalize(dist), PluginInfo(dist, version, enabled(dist), api_problem(dist)))
            if kind == "conf":
                package = ep.value.removeprefix("pkg://")
                if package not in info.conf:
                    info.conf.append(package)
                continue
            listed = getattr(info, kind + "s")
            if ep.name in listed:
                continue
            listed.append(ep.name)
            error = _load_errors.get((kind, ep.name)) if info.enabled else None
            if load and info.enabled:
                try:
                    ep.load()
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
            if error:
                info.errors.append(f"{kind} '{ep.name}' failed to import: {error}")
    if BUILTIN_DIST in infos and BUILTIN_CONF not in infos[BUILTIN_DIST].conf:
        infos[BUILTIN_DIST].conf.insert(0, BUILTIN_CONF)
    sources = _conf_sources(_world())
    for source in sources:
        info = infos.get(normalize(source.dist))
        if info is None:
            continue
        if source.error:
            info.errors.append(f"config package '{source.package}' failed to import: {source.error}")
        else:
            info.conf_locations.append(source.location)
            info.options.extend(source.options)
    for kind in ROLES:
        for message, dists in _scan(kind)[1]:
            for dist in [d for d in dists if normalize(d) != BUILTIN_DIST]:  # a clash is the plugin's fault
                infos[normalize(dist)].errors.append(message)
    for dist, message in _shadowing(sources):
        infos[normalize(dist)].errors.append(message)
    return sorted(infos.values(), key=lambda i: (normalize(i.dist) != BUILTIN_DIST, normalize(i.dist)))


def clear_cache() -> None:
    """Forget discovered entry points (tests install and remove plugins at run time)."""
    _entries.cache_clear()
    _conf_sources.cache_clear()
    _api_problems.cache_clear()
    _load_errors.clear()


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("get_decoder", "get_image_encoder", "get_model"))
