"""DDP under Hydra: every rank runs this one job, in this job's folder.

Lightning's ``ddp`` strategy starts ranks 1..N-1 by re-running the command line. Under Hydra it appends
``hydra.run.dir=<run.dir>``, which in a multirun re-executes the whole sweep in each rank (and points at the
``run`` folder, not the job's). :func:`launch_ranks_as_this_job` makes the children run
``python -m seqlab <this job's overrides> hydra.run.dir=<this job's folder>`` instead: one run folder per job,
however many ranks, in a single run and in a multirun alike.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytorch_lightning as pl

# what Lightning's launcher exports into the launching process; left set, the next job of a multirun would take
# itself for an externally launched rank and wait for peers that never start
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def job_command(local_rank: int) -> tuple[Sequence[str], str]:
    """The command and working directory that start rank ``local_rank`` of the current Hydra job."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    command = [
        sys.executable,
        "-m",
        "seqlab",
        *hc.overrides.task,
        f"hydra.run.dir={hc.runtime.output_dir}",  # its log: ddp_rank_<global rank>.log (run/rank_join.py)
        "hydra.output_subdir=null",
    ]
    return command, hc.runtime.cwd


def launch_ranks_as_this_job() -> None:
    """Point Lightning's subprocess launcher at :func:`job_command` (a no-op outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    import pytorch_lightning.strategies.launchers.subprocess_script as launcher

    launcher._hydra_subprocess_cmd = job_command
    launcher._launch_process_observer = _observe_ranks


# a rank other than 0 exits with this code after an error it handed to rank 0 (seqlab/training/rank_failure.py)
HANDLED_EXIT = 2
REPORT_GRACE_SECONDS = 30.0


def _observe_ranks(child_processes: list[Any]) -> None:
    """Lightning's watcher of the ranks it started, which SIGKILLs everything as soon as one exits non-zero, but
    which first gives rank 0 :data:`REPORT_GRACE_SECONDS` to report a rank's handled error (one line, failed.json)
    and exit by itself."""
    import time

    from lightning_fabric.strategies.launchers.subprocess_script import _ChildProcessObserver

    class PatientObserver(_ChildProcessObserver):
        grace_until: float | None = None

        def _run(self) -> bool:
            for proc in self._child_processes:
                proc.poll()
            if any(proc.returncode == HANDLED_EXIT for proc in self._child_processes):
                self.grace_until = self.grace_until or time.monotonic() + REPORT_GRACE_SECONDS
                if time.monotonic() < self.grace_until:
                    return False
            return super()._run()

    PatientObserver(child_processes=child_processes, main_pid=os.getpid()).start()


@contextmanager
def launch_environment_restored() -> Iterator[None]:
    """Restore the DDP launch variables after a run to what they were before it."""
    saved = {key: os.environ.get(key) for key in LAUNCH_ENV}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def strategy_with_timeout(strategy: Any, seconds: float) -> Any:
    """A DDP strategy named by ``strategy`` (``ddp``, ``ddp_spawn``, ...) built with a process-group timeout of
    ``seconds`` (``hardware.timeout``): a rank left waiting for a peer that failed stops with an error then, not
    after torch's 30 minutes. Other strategies (``auto``, an instance) are returned unchanged."""
    from pytorch_lightning.strategies import StrategyRegistry

    if not isinstance(strategy, str) or strategy not in StrategyRegistry:
        return strategy
    entry = StrategyRegistry[strategy]
    cls = entry["strategy"]
    if "timeout" not in inspect.signature(cls.__init__).parameters:
        return strategy
    return cls(**entry["init_params"], timeout=timedelta(seconds=seconds))


def rank_and_world(trainer: Any) -> tuple[int, int]:
    """``(global rank, world size)`` of a data module's trainer; ``(0, 1)`` before it has one."""
    return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)


def gather_objects(value: Any) -> list[Any]:
    """``value`` from every rank (rank order, ``torch.distributed.all_gather_object``); ``[value]`` outside DDP."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


class RankAwareData(pl.LightningDataModule):
    """A data module that knows its rank under DDP (the contract ``run.py`` reads, instead of duck typing).

    - ``shards_itself``: True when its loaders already give each rank its own part (a custom batch sampler, a
      stream slice); the run then turns off Lightning's ``use_distributed_sampler``, which cannot wrap them.
    - ``shard``: what this rank trains on (e.g. ``{"rank", "start", "tokens"}`` of a stream), or None; results.json
      gathers it from every rank as ``train_shards``.
    """

    shards_itself: bool = False
    shard: dict[str, Any] | None = None

    def bucket_loader(
        self, dataset: Any, lengths: list[int], batch_size: int, bucket: int, shuffle: bool, seed: int, collate: Any
    ) -> Any:
        """A loader of ``dataset`` in batches of similar ``lengths`` (``BucketBatchSampler``), this rank's share.
        A :class:`~seqlab.data.batching.LabelledSequences` gathers each batch itself (``collate`` is not used)."""
        from torch.utils.data import DataLoader

        from seqlab.data.batching import BucketBatchSampler, LabelledSequences, WholeBatches, as_is

        rank, world = rank_and_world(self.trainer)
        sampler = BucketBatchSampler(lengths, batch_size, bucket, shuffle, seed=seed, rank=rank, world=world)
        if isinstance(dataset, LabelledSequences):
            return DataLoader(WholeBatches(dataset), sampler=sampler, batch_size=None, collate_fn=as_is)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)


class BucketedSplits(RankAwareData):
    """Train/val/test loaders in batches of similar length, each rank its share (``shards_itself``).

    A subclass fills ``self.splits[name]`` (a dataset with ``.lengths``) in ``prepare()`` and sets ``collate``
    (``staticmethod``) unless its splits are :class:`~seqlab.data.batching.LabelledSequences`, which gather their own
    batches; its ``cfg`` has ``batch_size``, ``bucket_batches`` and ``data.split_seed``. Training batches are shuffled
    by bucket, evaluation batches are not."""

    shards_itself = True
    collate: Any = None

    def _loader(self, name: str, shuffle: bool) -> Any:
        self.prepare()
        split, cfg = self.splits[name], self.cfg
        return self.bucket_loader(
            split, split.lengths, cfg.batch_size, cfg.bucket_batches, shuffle, cfg.data.split_seed, self.collate
        )

    def train_dataloader(self) -> Any:
        return self._loader("train", True)

    def val_dataloader(self) -> Any:
        return self._loader("val", False)

    def test_dataloader(self) -> Any:
        return self._loader("test", False)


def trainer_overrides_for(data: pl.LightningDataModule) -> dict[str, Any]:
    """Trainer arguments a data module's sharding fixes."""
    return {"use_distributed_sampler": False} if isinstance(data, RankAwareData) and data.shards_itself else {}


def train_shard(data: pl.LightningDataModule) -> dict[str, Any] | None:
    return data.shard if isinstance(data, RankAwareData) else None
