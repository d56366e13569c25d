"""Before a sweep is resumed (``resume_sweep=``, before Hydra starts; writes nothing): :func:`prepare` finds the
folder (``latest``: the newest under ``outputs/multirun``), refuses with one ConfigError when it is not a sweep
seqlab wrote or when the command line composes other jobs, and points ``hydra.sweep.dir`` at it.

Does this command line compose the jobs the folder holds?
Refused with one ConfigError, before anything is written: another sweeper (a grid resumed as an Optuna search), a
grid of other jobs (another count, other override sets), another search (space, direction, study, fixed keys, the
study's storage), other job folder names (``hydra.sweep.subdir``), or a job whose config, composed now from its
overrides, differs from the ``.hydra/config.yaml`` it ran with (a config file or default changed). Only
:data:`~seqlab.sweep.resume.FREE_KEYS` and ``hydra.*`` may differ (and the number of Optuna trials).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from seqlab.config.preflight import CONFIG_MODULE, split_argv
from seqlab.config.schema import flat_keys
from seqlab.errors import ConfigError
from seqlab.run.folder import SWEEP_MARKER, is_seqlab_sweep
from seqlab.sweep.resume import FREE_KEYS, grid_jobs, is_free, job_folders, job_id, override_key, quoted, read_marker

KINDS = {"SeqlabSweeper": "grid", "SeqlabOptunaSweeper": "optuna"}
NAMES = {"grid": "a grid sweep", "optuna": "an Optuna search"}
# compared on their own, or free (a worker joining a search may prune differently)
SEARCH_FREE = (
    "n_trials",
    "n_jobs",
    "max_failure_rate",
    "storage",
    "params",
    "pruner",
    "pruner_args",
    "heartbeat_s",
    "grace_s",
)
KEY = "resume_sweep"


def prepare(argv: list[str]) -> tuple[list[str], Path | None]:
    """The command line to hand to Hydra and the sweep folder it resumes (None: not a resumed sweep)."""
    overrides, multirun = split_argv(argv)
    given = {override_key(o): o.split("=", 1)[1] if "=" in o else "" for o in overrides}
    value = given.get("resume_sweep", "").strip("'\"")
    if value in ("", "null"):
        if given.get("rerun_failed", "false").lower() in ("true", "yes", "on", "1"):
            raise ConfigError("rerun_failed", "reruns the failed jobs of a resumed sweep: give resume_sweep= with it")
        return argv, None
    if not multirun:
        raise ConfigError("resume_sweep", "continues a sweep: add -m and the sweep's own overrides")
    if "hydra.sweep.dir" in given:
        raise ConfigError("hydra.sweep.dir", "a resumed sweep continues in its own folder: give resume_sweep= alone")
    folder = find_sweep(value)
    check_sweep(folder, [o for o in overrides if override_key(o) != "resume_sweep"])
    kept = [a for a in argv if override_key(a) != "resume_sweep"]
    return [*kept, f"resume_sweep={quoted(folder)}", f"hydra.sweep.dir={quoted(folder)}"], folder


def find_sweep(value: str, outputs: Path = Path("outputs")) -> Path:
    """The sweep folder ``resume_sweep=`` names: a folder seqlab's sweeper wrote, or ``latest``."""
    if value == "latest":
        root = outputs / "multirun"
        found = [p.parent for p in root.glob("*/*/multirun.yaml") if is_seqlab_sweep(p.parent)]
        if not found:
            raise ConfigError("resume_sweep", f"no sweep folder under {root.absolute()}; give resume_sweep=<folder>")
        return max(found, key=lambda p: ((p / "multirun.yaml").stat().st_mtime, str(p))).absolute()
    path = Path(value).expanduser().absolute()
    if not path.is_dir():
        raise ConfigError("resume_sweep", f"no folder {path} (give a sweep folder, or 'latest')")
    if not is_seqlab_sweep(path):
        raise ConfigError(
            "resume_sweep", f"{path} is not a sweep folder seqlab wrote (no {SWEEP_MARKER}); it is left untouched"
        )
    return path


def check_sweep(folder: Path, overrides: list[str]) -> None:
    """Raise ConfigError when ``overrides`` (the command line, without resume_sweep) do not resume ``folder``."""
    saved = OmegaConf.load(folder / "multirun.yaml")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            try:
                current = loader.load_configuration(
                    "config", [*overrides, f"hydra.sweep.dir={quoted(folder)}"], run_mode=RunMode.MULTIRUN
                )
            except (HydraException, OmegaConfBaseException) as exc:
                raise ConfigError("overrides", str(exc).strip().splitlines()[0]) from None
            kind = _kind(current)
            kind_then = read_marker(folder).get("kind", "grid")
            if kind != kind_then:
                raise ConfigError(KEY, f"{folder} holds {NAMES[kind_then]}; this command line runs {NAMES[kind]}")
            if kind == "grid":
                _same_grid(folder, saved, current)
            else:
                _same_search(folder, saved, current)
            _same_folder_names(saved, current)
            _same_job_configs(folder)
    finally:
        GlobalHydra.instance().clear()


def _kind(cfg: DictConfig) -> str:
    target = str(OmegaConf.select(cfg, "hydra.sweeper._target_", default=""))
    kind = KINDS.get(target.rsplit(".", 1)[-1]) if target.startswith("hydra_plugins.seqlab_sweeper.") else None
    if kind is None:
        raise ConfigError(KEY, f"resumes sweeps of seqlab's sweepers (a grid, hparams_search=optuna), not {target}")
    return kind


def _task_overrides(cfg: DictConfig) -> list[str]:
    return [str(o) for o in cfg.hydra.overrides.task if not is_free(override_key(str(o)))]


def _same_grid(folder: Path, saved: DictConfig, current: DictConfig) -> None:
    then = grid_jobs(OmegaConf.select(saved, "hydra.sweeper.params"), _task_overrides(saved))
    now = grid_jobs(OmegaConf.select(current, "hydra.sweeper.params"), _task_overrides(current))
    a, b = Counter(job_id(j) for j in then), Counter(job_id(j) for j in now)
    if a == b:
        return
    extra, missing = list(b - a), list(a - b)
    if extra:
        detail = f"a job with {_show(extra[0], a)} is not in it"
    else:
        detail = f"its job with {_show(missing[0], b)} is missing here"
    raise ConfigError(
        KEY,
        f"this command line gives {len(now)} jobs, the sweep in {folder} has {len(then)}: {detail}; resume it "
        f"with its own overrides: {' '.join(_task_overrides(saved)) or '(none)'}",
    )


def _show(job: frozenset[str], others: Counter[frozenset[str]]) -> str:
    """The overrides that set ``job`` apart from every job in ``others`` (all of them when none do)."""
    known = set().union(*others) if others else set()
    apart = sorted(job - known) or sorted(job - set.intersection(*(set(o) for o in others)) if others else job)
    return " ".join(apart) or "(no overrides)"


def _same_search(folder: Path, saved: DictConfig, current: DictConfig) -> None:
    fixed_then, fixed_now = Counter(_task_overrides(saved)), Counter(_task_overrides(current))
    if fixed_then != fixed_now:
        differ = sorted((fixed_then - fixed_now) + (fixed_now - fixed_then))
        raise ConfigError(
            KEY,
            f"this command line differs from the search in {folder} in {', '.join(differ)}; resume it with its own "
            f"overrides: {' '.join(_task_overrides(saved)) or '(none)'}",
        )
    _no_differences("hydra.sweeper", _search(saved), _search(current), folder)
    _no_differences("hydra.sweeper.params", _params(saved), _params(current), folder)
    storage = OmegaConf.select(saved, "hydra.sweeper.storage", default=None)
    if not storage:
        raise ConfigError(
            KEY, f"the study of {folder} was kept in memory (hydra.sweeper.storage=null): nothing to resume"
        )
    if OmegaConf.select(current, "hydra.sweeper.storage", default=None) != storage:
        raise ConfigError(KEY, f"the study of {folder} is in {storage}; give hydra.sweeper.storage={storage}")
    if str(storage).startswith("sqlite:///") and not Path(str(storage)[len("sqlite:///") :]).is_file():
        raise ConfigError(KEY, f"no study database {str(storage)[len('sqlite:///') :]}")
    _storage_opens(str(storage))


def _storage_opens(url: str) -> None:
    """The study's database opens with the installed Optuna (a database of Optuna 2 needs an upgrade first)."""
    try:
        import optuna
    except ImportError:
        return  # hparams_search=optuna says so (seqlab/config/preflight.py)
    try:
        optuna.storages.RDBStorage(url, skip_table_creation=True)
    except Exception as exc:
        first = " ".join(str(exc).split())
        raise ConfigError(
            KEY, f"the study's database {url} does not open with Optuna {optuna.__version__}: {first}"
        ) from None


# keys only hydra-optuna-sweeper's config had, at its defaults: a search it ran compares equal to seqlab's sweeper's
LEGACY_DEFAULTS = {
    "search_space": None,
    "custom_search_space": None,
    "sampler.consider_prior": True,
    "sampler.prior_weight": 1.0,
    "sampler.consider_magic_clip": True,
    "sampler.consider_endpoints": False,
    "sampler.n_ei_candidates": 24,
    "sampler.multivariate": False,
    "sampler.warn_independent_sampling": True,
}


def _search(cfg: DictConfig) -> dict[str, Any]:
    node = OmegaConf.to_container(cfg.hydra.sweeper, resolve=False)
    flat = flat_keys({k: v for k, v in node.items() if k not in SEARCH_FREE})
    return {k: v for k, v in flat.items() if k not in LEGACY_DEFAULTS or LEGACY_DEFAULTS[k] != v}


def _params(cfg: DictConfig) -> dict[str, Any]:
    """The search space without the keys the command line fixes (those are taken out of the search)."""
    fixed = {override_key(o) for o in _task_overrides(cfg)}
    params = OmegaConf.to_container(cfg.hydra.sweeper.params or {}, resolve=False)
    return {k: str(v) for k, v in params.items() if k not in fixed}


def _same_folder_names(saved: DictConfig, current: DictConfig) -> None:
    for key in ("hydra.sweep.subdir", "hydra.job.config.override_dirname"):
        then, now = (_raw(c, key) for c in (saved, current))
        if then != now:
            raise ConfigError(key, f"the sweep named its job folders with {then!r}; give the same to resume it")


def _raw(cfg: DictConfig, key: str) -> Any:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent)
    return OmegaConf.to_container(node, resolve=False).get(leaf) if isinstance(node, DictConfig) else None


def _same_job_configs(folder: Path) -> None:
    for num, job_dir, overrides in job_folders(folder):
        saved = job_dir / ".hydra" / "config.yaml"
        if not saved.is_file():
            continue
        where = f"job {num} ({job_dir.relative_to(folder)})"
        try:
            composed = compose(config_name="config", overrides=[o for o in overrides if not is_free(override_key(o))])
        except (HydraException, OmegaConfBaseException) as exc:
            raise ConfigError(
                KEY, f"{where}: its overrides no longer compose: {str(exc).strip().splitlines()[0]}"
            ) from None
        _no_differences(where, _config(OmegaConf.load(saved)), _config(composed), folder, changed=True)


def _config(cfg: DictConfig) -> dict[str, Any]:
    flat = flat_keys(OmegaConf.to_container(cfg, resolve=False))
    return {k: v for k, v in flat.items() if k.split(".")[0] not in FREE_KEYS}


def _no_differences(where: str, then: dict[str, Any], now: dict[str, Any], folder: Path, changed: bool = False) -> None:
    keys = sorted(k for k in set(then) | set(now) if then.get(k) != now.get(k))
    if not keys:
        return
    shown = "; ".join(f"{k}: {then.get(k)!r} there, {now.get(k)!r} here" for k in keys[:3])
    more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
    why = "the configs changed since it ran" if changed else "the sweep's settings differ"
    raise ConfigError(KEY, f"{where} of the sweep in {folder} differs: {shown}{more} ({why}); nothing was run")
