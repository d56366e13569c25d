"""Check the command line before Hydra starts a run: every group option exists, every key is known, and (for a
single run) the composed config validates. Turns Hydra's multi-line composition errors into one ConfigError.

Options and keys are checked with Hydra and OmegaConf alone (no torch, no Lightning), so a typo is reported in about
a second; only the value checks of :func:`seqlab.config.validate.validate` import the model and task classes."""

from __future__ import annotations

from collections.abc import Iterator

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from seqlab import registry
from seqlab.config.choices import PRUNERS
from seqlab.config.store import register_configs
from seqlab.errors import ConfigError
from seqlab.sweep.ray_checks import check_installed, check_one_node
from seqlab.sweep.size import check_sweep_size

CONFIG_MODULE = "seqlab.conf"
# Hydra's flags that start no run
HANDS_OFF = ("--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc",
             "--version", "--experimental-rerun")  # fmt: skip
HELP = ("--help", "-h")  # shows the composed config: its options and keys are checked, its values are not
TAKES_VALUE = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--package", "-p")


def split_argv(argv: list[str]) -> tuple[list[str], bool]:
    """The overrides on a command line and whether it asks for a multirun."""
    overrides, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in TAKES_VALUE:
            skip = True
        elif not arg.startswith("-"):
            overrides.append(arg)
    return overrides, ("-m" in argv or "--multirun" in argv)


def preflight(argv: list[str]) -> None:
    """Raise ConfigError for the first problem a command line has; for --help only options and keys are checked,
    and nothing for Hydra's other flags (--cfg, --info, ...)."""
    register_configs()
    registry.check_plugins()  # a name clash or a shadowed option is one clear line, for --help too
    flags = {a.split("=")[0] for a in argv}
    if flags & (set(HANDS_OFF) - set(HELP)):
        return
    overrides, multirun = split_argv(argv)
    _check_search(overrides)
    shows_help = bool(flags & set(HELP))
    parsed = [o for o in OverridesParser.create().parse_overrides(overrides) if not o.key_or_group.startswith("hydra")]
    if shows_help and not parsed:
        return  # the default config: nothing to check, Hydra composes it for the help text
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        _check_group_options(parsed)
        if not shows_help and (multirun or any(o.is_sweep_override() for o in parsed)):
            _check_sweep_size(parsed)  # counted before any sweep is listed below
        sweep = next((o for o in parsed if o.is_sweep_override()), None)
        if shows_help and sweep is not None:
            raise ConfigError(
                sweep.get_key_element(), f"--help shows one config: give one value, not '{sweep.input_line}'"
            )
        on_ray = _given(overrides).get("hydra/launcher") == "ray" and not shows_help
        if on_ray:
            check_installed()
        for combo in _combinations(parsed):
            cfg = compose_checked(combo)
            if on_ray:
                check_one_node(cfg.trainer.num_nodes)
            if not multirun and not shows_help:
                from seqlab.config.validate import validate  # imports torch: only after options and keys passed

                validate(cfg)
    GlobalHydra.instance().clear()


def _check_sweep_size(parsed: list[Override]) -> None:
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    compose_checked(fixed)  # a bad fixed override is its own line
    cfg = compose(config_name="config", overrides=fixed, return_hydra_config=True)
    loader = GlobalHydra.instance().config_loader()
    options = {o.key_or_group: loader.get_group_options(o.key_or_group) for o in parsed if o.is_sweep_override()}
    check_sweep_size(cfg, parsed, options)


def _check_search(overrides: list[str]) -> None:
    """``hparams_search=...`` needs Optuna; ``hydra.sweeper.pruner`` is one of :data:`PRUNERS`."""
    import importlib.util

    given = _given(overrides)
    if given.get("hparams_search", "null") != "null" and importlib.util.find_spec("optuna") is None:
        raise ConfigError("hparams_search", "needs the Optuna sweeper: pip install 'seqlab[optuna]'")
    pruner = given.get("hydra.sweeper.pruner")
    if pruner is not None and pruner.lower() not in PRUNERS:
        raise ConfigError("hydra.sweeper.pruner", f"unknown pruner '{pruner}'", allowed=PRUNERS)


def _given(overrides: list[str]) -> dict[str, str]:
    """``key -> value`` of the command line's ``key=value`` overrides (``+key`` as ``key``; the last one wins)."""
    return {o.split("=", 1)[0].lstrip("+"): o.split("=", 1)[1] for o in overrides if "=" in o}


def _values(override: Override) -> list[str]:
    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    try:
        return list(override.sweep_string_iterator())
    except Exception:  # interval sweeps (Optuna) have no finite list
        return []


def _check_group_options(parsed: list[Override]) -> None:
    loader = GlobalHydra.instance().config_loader()
    groups = set(loader.list_groups(""))
    for override in parsed:
        group = override.key_or_group
        if group not in groups or override.is_delete():
            continue
        options = loader.get_group_options(group)
        listed = None if override.is_sweep_override() else override.value()  # logger=[csv,tensorboard]: each
        for value in [str(v) for v in listed] if isinstance(listed, list) else _values(override):
            if value not in options:
                hint = registry.disabled_hint(group, value)
                raise ConfigError(group, f"unknown option '{value}'{hint}", allowed=options)


def _combinations(parsed: list[Override]) -> Iterator[list[str]]:
    """The first value of every sweep with each value of one sweep in turn (linear, not the full grid)."""
    choices = [[(o.get_key_element() + "=" + v) for v in _values(o)] or [None] for o in parsed]
    first = [c[0] for c in choices]
    yield [c for c in first if c]
    for i, options in enumerate(choices):
        for option in options[1:]:
            combo = first[:i] + [option] + first[i + 1 :]
            yield [c for c in combo if c]


def compose_checked(overrides: list[str]) -> DictConfig:
    """Compose the run config; a composition error becomes one ConfigError naming the key."""
    try:
        return compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise _explain(exc, overrides) from None


def _explain(exc: Exception, overrides: list[str]) -> ConfigError:
    cause = exc.__cause__ or exc
    key = getattr(cause, "full_key", None)
    text = str(exc)
    if "Could not override '" in text:
        key = text.split("Could not override '")[1].split("'")[0]
    if key and ("not in struct" in str(cause) or "Could not append" in text or "not found" in str(cause)):
        parent, _, leaf = key.rpartition(".")
        allowed = _keys_of(parent, [o for o in overrides if not o.startswith(key)])
        return ConfigError(key, "unknown key", allowed=allowed)
    if "hydra/sweeper/optuna" in text:
        return ConfigError("hparams_search", "needs the Optuna sweeper: pip install 'seqlab[optuna]'")
    if "hydra/launcher/submitit" in text:
        return ConfigError("hardware", "slurm needs the submitit launcher: pip install 'seqlab[slurm]'")
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return ConfigError(key or "overrides", first)


def _keys_of(parent: str, overrides: list[str]) -> list[str] | None:
    try:
        cfg = compose(config_name="config", overrides=[o for o in overrides if "=" in o and "." not in o.split("=")[0]])
        node = OmegaConf.select(cfg, parent) if parent else cfg
        return sorted(str(k) for k in node.keys()) if isinstance(node, DictConfig) else None
    except Exception:
        return None
