"""How many CPU threads torch uses in a run (``hardware.threads``).

``auto`` (default) shares the cores this process may use (CPU affinity, cgroup quota) evenly among the seqlab
processes that run on them at once: the ranks of a DDP run, the jobs a parallel launcher runs
(``$SEQLAB_CONCURRENT_JOBS``, Hydra's joblib ``n_jobs``), and other seqlab runs started side by side. Those find
each other through a registry folder in the temp dir (one small file per process, touched every few seconds while
it trains, validates or tests; a file untouched for :data:`STALE_SECONDS` no longer counts); each run re-checks it
every :data:`CHECK_SECONDS` and re-sets its thread count, so a run started alone takes every core and gives half
back when a second one starts. Runs whose count is fixed (an int, ``torch``, ``OMP_NUM_THREADS``) keep their
threads' worth of cores; the ``auto`` runs share the rest. An integer forces the count; ``torch`` leaves torch's
default (all cores, or ``OMP_NUM_THREADS``). ``auto`` also leaves the count alone when ``OMP_NUM_THREADS`` is set or
the calling program set torch's threads itself. Other work on the machine is not shared with, only reported: one
warning line at the start of a run when it keeps cores busy.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from seqlab.config.choices import THREADS_KEY, parse_threads
from seqlab.errors import ConfigError

log = logging.getLogger(__name__)

KEY = THREADS_KEY
JOBS_ENV = "SEQLAB_CONCURRENT_JOBS"
CHECK_SECONDS = 2.0
STALE_SECONDS = 30.0
TORCH_DEFAULT = torch.get_num_threads()  # torch's own choice, before anyone in this process changed it


def choose_threads(setting: int | str, cores: int, processes: int) -> int | None:
    """Threads for one process: the int ``setting``; None (torch's default) for ``torch``; for ``auto`` the
    ``cores`` shared evenly among ``processes`` processes running at once (at least 1)."""
    if setting == "torch":
        return None
    if isinstance(setting, int):
        return setting
    return max(1, cores // max(1, processes))


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_cpus()
    return max(1, min(cores, int(quota)) if quota else cores)


def _cgroup_cpus() -> float | None:
    """The cgroup (v2 or v1) CPU quota in cores, or None when there is none."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        base = Path("/sys/fs/cgroup/cpu")
        quota_us = int((base / "cpu.cfs_quota_us").read_text())
        return quota_us / int((base / "cpu.cfs_period_us").read_text()) if quota_us > 0 else None
    except (OSError, ValueError):
        return None


def _cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def launcher_jobs() -> tuple[int, int]:
    """Jobs run at once as ``(floor, initial guess)``: ``$SEQLAB_CONCURRENT_JOBS`` is a floor for the whole run;
    Hydra's joblib ``n_jobs`` only a first guess (the registry then counts the jobs that really run)."""
    floor = 1
    if os.environ.get(JOBS_ENV):
        try:
            floor = int(os.environ[JOBS_ENV])
        except ValueError:
            floor = 0
        if floor < 1:
            raise ConfigError(JOBS_ENV, f"must be a positive integer, got {os.environ[JOBS_ENV]!r}")
    guess = floor
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            n_jobs = HydraConfig.get().launcher.get("n_jobs")
            if isinstance(n_jobs, int) and n_jobs != 0:  # joblib: -1 all cores, -2 all but one, ...
                guess = max(guess, n_jobs if n_jobs > 0 else available_cores() + 1 + n_jobs)
    except Exception:  # no Hydra, or a launcher without n_jobs
        pass
    return floor, max(1, guess)


def local_processes(cfg: DictConfig) -> int:
    """Processes this run starts on this machine: ``$LOCAL_WORLD_SIZE`` (torchrun), else the DDP devices."""
    if os.environ.get("LOCAL_WORLD_SIZE", "").isdigit():
        return max(1, int(os.environ["LOCAL_WORLD_SIZE"]))
    trainer = cfg.get("trainer") or {}
    if "ddp" not in str(trainer.get("strategy") or ""):
        return 1
    devices = trainer.get("devices")
    if isinstance(devices, str) and devices.strip().isdigit():
        devices = int(devices)
    if isinstance(devices, int) and devices > 0:
        return devices
    if devices == -1 and str(trainer.get("accelerator")) in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.cuda.device_count()
    if devices is not None and not isinstance(devices, int | str):
        return max(1, len(list(devices)))
    return 1


def registry_dir() -> Path:
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"seqlab-{user}" / "running"


@dataclass
class Registry:
    """One file per seqlab process that is training on this machine: ``<host>-<pid>.json``."""

    directory: Path = field(default_factory=registry_dir)
    host: str = field(default_factory=socket.gethostname)

    @property
    def own(self) -> Path:
        return self.directory / f"{self.host}-{os.getpid()}.json"

    def write(self, processes: int, threads: int, shares: bool) -> None:
        """Create or refresh this process's entry (best effort: a read-only temp dir only loses coordination);
        ``shares``: its thread count follows the others' (``auto``), else it is fixed."""
        entry = {
            "pid": os.getpid(),
            "host": self.host,
            "processes": processes,
            "threads": threads,
            "shares": shares,
            "cpus": _cpus(),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.own.with_suffix(".tmp")
            tmp.write_text(json.dumps(entry))
            os.replace(tmp, self.own)
        except OSError:
            pass

    def touch(self) -> None:
        try:
            os.utime(self.own)
        except OSError:
            pass

    def remove(self) -> None:
        try:
            self.own.unlink()
        except OSError:
            pass

    def entries(self, now: float | None = None) -> list[dict[str, Any]]:
        """Live entries on this host whose CPUs overlap ours (this process's own entry included)."""
        now = time.time() if now is None else now
        mine = set(_cpus())
        out = []
        for path in self.directory.glob("*.json") if self.directory.is_dir() else []:
            try:
                age = now - path.stat().st_mtime
                entry = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if age > STALE_SECONDS:
                if age > 100 * STALE_SECONDS:  # long gone: tidy up
                    with contextlib.suppress(OSError):
                        path.unlink()
                continue
            if entry.get("host") == self.host and mine & set(entry.get("cpus") or mine):
                out.append(entry)
        return out


@dataclass
class ThreadPlan:
    """What :func:`apply_threads` decided for this run; :class:`ThreadShare` keeps it up to date."""

    setting: int | str
    cores: int
    processes: int  # this run's processes on this machine
    floor_jobs: int
    threads: int | None  # None: torch's default left alone
    registered: bool
    registry: Registry
    warned: bool = False

    @property
    def shares(self) -> bool:
        return self.setting == "auto" and self.threads is not None

    def fair_share(self, guess: int = 1) -> tuple[int, int]:
        """``(threads, processes sharing)``: our cores, less those held by runs with a fixed thread count, shared
        evenly among the processes of the runs that share them (ours, at least ``floor_jobs`` or ``guess`` times)."""
        own = {os.getpid()} if self.registered else {os.getpid(), os.getppid()}  # a DDP child: rank 0 is its run
        others = [e for e in self.registry.entries() if e.get("pid") not in own]
        shared = self.processes + sum(int(e.get("processes") or 1) for e in others if e.get("shares", True))
        fixed = sum(int(e.get("processes") or 1) * int(e.get("threads") or 1) for e in others if not e.get("shares"))
        sharing = max(shared, self.processes * max(1, self.floor_jobs, guess))
        return choose_threads("auto", max(1, self.cores - fixed), sharing), sharing


_plan: ThreadPlan | None = None
_last_set: int | None = None
_cleanup: set[Path] = set()


def apply_threads(cfg: DictConfig, registry: Registry | None = None) -> ThreadPlan:
    """Choose torch's thread count for this run (``hardware.threads``) and set it; :class:`ThreadShare` then keeps
    it fair while the run goes on and warns in one line at fit start when other work keeps the cores busy."""
    global _plan
    setting = parse_threads((cfg.get("hardware") or {}).get("threads", "auto"))
    cores = available_cores()
    processes = local_processes(cfg)
    floor, guess = launcher_jobs()
    rank = os.environ.get("LOCAL_RANK") or os.environ.get("SLURM_LOCALID") or "0"
    registry = registry or Registry()
    chosen_elsewhere = bool(os.environ.get("OMP_NUM_THREADS")) or torch.get_num_threads() not in (
        TORCH_DEFAULT,
        _last_set,
    )
    effective = "torch" if setting == "auto" and chosen_elsewhere else setting
    plan = ThreadPlan(effective, cores, processes, floor, None, registered=rank == "0", registry=registry)
    if plan.registered:  # every run counts for the others, whatever its own setting
        registry.write(processes, torch.get_num_threads(), effective == "auto")
        if registry.own not in _cleanup:
            _cleanup.add(registry.own)
            atexit.register(registry.remove)
    if effective == "auto":
        plan.threads = plan.fair_share(guess)[0]
    else:
        plan.threads = choose_threads(effective, cores, processes)
    if plan.threads is not None:
        _set(plan.threads, interop=True)
    elif setting == "torch" and _last_set is not None:  # an earlier job of this process changed it: undo
        _set(TORCH_DEFAULT)
    if plan.registered:
        registry.write(processes, torch.get_num_threads(), plan.shares)
    _plan = plan
    return plan


def _set(threads: int, interop: bool = False) -> None:
    global _last_set
    torch.set_num_threads(threads)
    _last_set = threads
    if interop:
        try:  # possible only before inter-op work started (once per process); seqlab barely uses that pool
            torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass


def _warn_if_busy(plan: ThreadPlan) -> None:
    """One line when work other than seqlab runs keeps cores busy, so that with our threads and the other seqlab
    runs' more threads want to run than there are cores (0.5 of slack): they would wait for each other."""
    try:
        average = os.getloadavg()[0]
    except (AttributeError, OSError):
        return
    others = sum(
        int(e.get("threads") or 0) * int(e.get("processes") or 1)
        for e in plan.registry.entries()
        if e.get("pid") != os.getpid()
    )
    ours = (plan.threads if plan.threads is not None else torch.get_num_threads()) * plan.processes
    foreign = average - others
    if foreign >= 0.5:  # the 1-minute average lags (a run that just ended still counts): look at this moment
        now = _runnable_now()
        foreign = foreign if now is None else now - others
    if foreign < 0.5 or foreign + others + ours <= plan.cores + 0.5:
        return
    used = ours // plan.processes
    how = {"auto": f"{KEY}=auto", "torch": "torch's default"}.get(str(plan.setting), f"{KEY}={plan.setting}")
    advice = f"if it runs slowly, set {KEY}=1" if used > 1 else "it may run slowly"
    log.warning(
        "machine busy: other work keeps about %.1f of %d cores busy (load %.1f); torch uses %d thread%s (%s); %s",
        foreign,
        plan.cores,
        average,
        used,
        "" if used == 1 else "s",
        how,
        advice,
    )


def _runnable_now(samples: int = 5, interval: float = 0.02) -> float | None:
    """Threads runnable right now besides this one (Linux: /proc/loadavg), averaged over a few samples."""
    counts = []
    for i in range(samples):
        try:
            counts.append(int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return None
        if i < samples - 1:
            time.sleep(interval)
    return sum(counts) / len(counts)


class ThreadShare(pl.Callback):
    """Keeps this process's registry entry fresh and re-shares the cores every :data:`CHECK_SECONDS` while the
    trainer runs (a no-op unless ``hardware.threads=auto`` chose the count)."""

    def __init__(self) -> None:
        self._checked = 0.0

    def _check(self, force: bool = False) -> None:
        plan = _plan
        now = time.monotonic()
        if plan is None or not force and now - self._checked < CHECK_SECONDS:
            return
        self._checked = now
        if plan.registered:
            if plan.registry.own.exists():
                plan.registry.touch()
            else:  # first check after a pause, or removed by someone: write it again
                plan.registry.write(plan.processes, torch.get_num_threads(), plan.shares)
        if not plan.shares:
            return
        threads, running = plan.fair_share()
        if threads != plan.threads:
            log.info(
                "%s=auto: %d -> %d torch threads (%d seqlab process%s on %d cores)",
                KEY,
                plan.threads,
                threads,
                running,
                "" if running == 1 else "es",
                plan.cores,
            )
            plan.threads = threads
            _set(threads)
            if plan.registered:
                plan.registry.write(plan.processes, threads, True)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._check(force=True)
        plan = _plan
        if stage == "fit" and plan is not None and plan.registered and not plan.warned:
            # at fit start, not at run start: runs started together have registered by now, so their start-up is
            # not taken for other work
            plan.warned = True
            _warn_if_busy(plan)

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self._check()

    def on_validation_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self._check()

    def on_test_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self._check()
