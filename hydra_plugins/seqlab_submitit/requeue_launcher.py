"""``hardware=slurm``: hydra-submitit-launcher, with a preempted or timed-out job requeued into its own run folder.

Each job runs as hydra-submitit-launcher runs it, and in addition:

- the preemption signal (SIGUSR2) stops training at a batch border with ``last.ckpt`` saved (seqlab/training/
  preemption.py); once the job has returned, rank zero records the stop in the folder (seqlab/run/requeue.py) and hands
  the signal to submitit, which calls :meth:`checkpoint`: the launcher, now carrying that record, is requeued with
  the job's own arguments (submitit's ``Checkpointable`` pattern: the callable in its current state);
- the requeued job runs in the folder it left, pinned (not recomposed from ``${now:...}``), after checking it is
  still that folder, and continues from its checkpoint: the same steps, weights and metrics as a run never stopped;
- rank zero holds the job folder's lock (seqlab/run/lock.py) for the life of the job: ``resume=`` on a running job
  is refused.

A timeout counts against ``hydra.launcher.max_num_timeout`` (submitit's countdown); a preemption does not.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from omegaconf import open_dict

try:
    from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher
except ImportError:  # the [slurm] extra is not installed: no options (pre-flight names the extra)
    SlurmLauncher = LocalLauncher = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)
SIGNAL_DELAY_S = 120  # SLURM's notice before the time limit: time to finish a batch and save


class RequeueIntoOwnFolder:
    """Mixed into hydra-submitit-launcher's launchers: ``__call__`` runs one job (in the job's process)."""

    _requeue: Any = None  # seqlab.run.requeue.Requeue of a requeued job, else None

    def __call__(
        self,
        sweep_overrides: list[str],
        job_dir_key: str,
        job_num: int,
        job_id: str,
        singleton_state: dict[type, Singleton],
    ) -> Optional[JobReturn]:  # noqa: UP045 - loaded by Hydra's plugin scan: no future annotations here
        import submitit

        from seqlab.errors import ConfigError
        from seqlab.run.lock import lock_folder
        from seqlab.run.requeue import check_own_folder, continued, record_preemption
        from seqlab.training.preemption import PreemptionWatch

        Singleton.set_state(singleton_state)
        setup_globals()
        config = self.hydra_context.config_loader.load_sweep_config(self.config, sweep_overrides)  # type: ignore[attr-defined]
        env = submitit.JobEnvironment()
        state = self._requeue
        with open_dict(config.hydra):
            config.hydra.job.id = env.job_id
            config.hydra.job.num = job_num
            if state is not None:  # the folder it left, not one recomposed from the time
                config.hydra.sweep.dir = str(Path(state.run_dir).parent)
                config.hydra.sweep.subdir = Path(state.run_dir).name
        run_dir = Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
        writer = env.global_rank == 0
        try:
            if state is not None:
                check_own_folder(state)
            if writer:
                run_dir.mkdir(parents=True, exist_ok=True)
                lock_folder(run_dir, "hydra.sweep.dir")
        except ConfigError as exc:
            return JobReturn(overrides=list(sweep_overrides), status=JobStatus.FAILED, _return_value=exc)
        ret = None
        with PreemptionWatch() as watch:
            with continued(state, writer):
                try:
                    ret = run_job(
                        hydra_context=self.hydra_context,  # type: ignore[attr-defined]
                        task_function=self.task_function,  # type: ignore[attr-defined]
                        config=config,
                        job_dir_key=job_dir_key,
                        job_subdir_key="hydra.sweep.subdir",
                    )
                except SystemExit:  # the job's own exit after a stop (140 for SIGUSR2): requeued below
                    if not watch.received:
                        raise
            if watch.received and writer:
                self._requeue = record_preemption(run_dir, watch.signum.name, str(env.job_id), _token(state))
                if self._requeue is not None:
                    print(
                        f"seqlab: preempted ({watch.signum.name}): saved {self._requeue.checkpoint}; "
                        f"requeuing into {run_dir}",
                        flush=True,
                    )
                    watch.requeue()  # submitit: checkpoint() below, requeue, exit
        return ret

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's hook: requeue this launcher, carrying the stopped job's record, with the same arguments; None
        (no requeue) when there is nothing to continue."""
        import submitit

        if self._requeue is None:
            return None
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _token(state: Any) -> Optional[str]:  # noqa: UP045
    return None if state is None else state.token


if SlurmLauncher is not None:

    class SeqlabSlurmLauncher(RequeueIntoOwnFolder, SlurmLauncher):
        """hydra-submitit-launcher's SLURM launcher; a preempted job is requeued into its own folder."""

    class SeqlabLocalLauncher(RequeueIntoOwnFolder, LocalLauncher):
        """The same on this machine (submitit's local executor: tests, a workstation)."""

    @dataclass
    class SeqlabSlurmConf(SlurmQueueConf):
        _target_: str = "hydra_plugins.seqlab_submitit.requeue_launcher.SeqlabSlurmLauncher"
        signal_delay_s: int = SIGNAL_DELAY_S
        max_num_timeout: int = 3  # requeues after a time limit (seqlab resumes exactly); preemptions always requeue

    @dataclass
    class SeqlabLocalConf(LocalQueueConf):
        _target_: str = "hydra_plugins.seqlab_submitit.requeue_launcher.SeqlabLocalLauncher"

    ConfigStore.instance().store(
        group="hydra/launcher", name="submitit_slurm_seqlab", node=SeqlabSlurmConf, provider="seqlab"
    )
    ConfigStore.instance().store(
        group="hydra/launcher", name="submitit_local_seqlab", node=SeqlabLocalConf, provider="seqlab"
    )
