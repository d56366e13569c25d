"""``hydra/launcher=ray``: each job of a sweep is one Ray task, run in its own folder of the sweep.

seqlab ships its own launcher on Ray's core API (``ray.remote``/``ray.get``) rather than hydra-ray-launcher 1.2.2,
which needs ``ray[default]``, boto3 and ``cloudpickle<3`` for its AWS mode. A job asks Ray for what it will use, so a
DDP job runs whole on one node: ``trainer.devices`` GPUs (``accelerator`` gpu/cuda) or ``trainer.devices`` CPUs
times ``hardware.threads``; ``hydra.launcher.num_cpus``/``num_gpus`` replace the derived numbers. A multi-node job
(``trainer.num_nodes > 1``) is refused: Ray places a task on one node. ``hydra.launcher.address``: the cluster to
join (``auto``, ``ray://host:10001``), null starts a local Ray instance. Folders are resolved on the driver, so the
sweep folder must be on a filesystem every node shares (as for SLURM).
"""

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class RayLauncherConf:
    """Loaded by Hydra's plugin scan outside sys.modules: no ``from __future__ import annotations`` here."""

    _target_: str = "hydra_plugins.seqlab_ray.ray_launcher.RayLauncher"
    address: Optional[str] = None  # noqa: UP045 - null: a local Ray instance; auto or ray://HOST:PORT: an existing cluster
    num_cpus: Optional[float] = None  # noqa: UP045 - per job; null: trainer.devices x hardware.threads on CPU, 1 on GPU
    num_gpus: Optional[float] = None  # noqa: UP045 - per job; null: trainer.devices when the job trains on GPUs, else 0
    init: dict[str, Any] = field(default_factory=dict)  # more ray.init keywords (e.g. num_cpus of a local instance)


ConfigStore.instance().store(group="hydra/launcher", name="ray", node=RayLauncherConf, provider="seqlab")


def job_resources(job: DictConfig, num_cpus: float | None, num_gpus: float | None) -> dict[str, float]:
    """What one job asks Ray for: its DDP processes' CPUs (or GPUs) together, so the job lands whole on one node."""
    from seqlab.sweep.ray_checks import check_one_node

    trainer = job.get("trainer", {})
    check_one_node(trainer.get("num_nodes", 1))
    devices = trainer.get("devices", 1)
    devices = int(devices) if isinstance(devices, int) or str(devices).isdigit() else 1
    on_gpu = str(trainer.get("accelerator", "cpu")) in ("gpu", "cuda")
    threads = int(job.get("hardware", {}).get("threads", 1) or 1)
    return {
        "num_cpus": float(num_cpus if num_cpus is not None else (1 if on_gpu else devices * threads)),
        "num_gpus": float(num_gpus if num_gpus is not None else (devices if on_gpu else 0)),
    }


def run_on_ray(
    hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig, cwd: str
) -> JobReturn:  # pragma: no cover - runs in a Ray worker process
    """One job inside a Ray worker: Hydra's globals set up as in the driver, then Hydra's own ``run_job``."""
    from hydra.core.hydra_config import HydraConfig

    setup_globals()
    if Path(cwd).is_dir():
        os.chdir(cwd)  # relative paths of the job read as on the driver (a shared filesystem)
    HydraConfig.instance().set_config(config)
    ret = run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    if isinstance(ret._return_value, BaseException):  # noqa: SLF001 - Hydra's own field; keep it picklable
        ret._return_value = RuntimeError(f"{type(ret._return_value).__name__}: {ret._return_value}")  # noqa: SLF001
    return ret


class RayLauncher(Launcher):
    def __init__(
        self,
        address: str | None = None,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        init: dict[str, Any] | None = None,
    ) -> None:
        self.address, self.num_cpus, self.num_gpus = address, num_cpus, num_gpus
        self.init = dict(init or {})
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Submit every job as a Ray task (each asking for its CPUs/GPUs), then wait for all, in order."""
        from seqlab.sweep.ray_checks import not_installed

        try:
            import ray
        except ImportError:
            raise not_installed() from None
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init)
        remote = ray.remote(run_on_ray)
        log.info(f"Launching {len(job_overrides)} jobs on Ray")
        pending = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(job):
                job.hydra.job.id = f"ray_{idx}"
                job.hydra.job.num = idx
                job.hydra.sweep.dir = str(sweep_dir)  # resolved here: a worker's clock and folder differ
                job.hydra.sweep.subdir = str(OmegaConf.select(job, "hydra.sweep.subdir"))
            resources = job_resources(job, self.num_cpus, self.num_gpus)
            pending.append(remote.options(**resources).remote(self.hydra_context, self.task_function, job, os.getcwd()))
        return list(ray.get(pending))
