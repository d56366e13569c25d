"""A DDP rank other than global rank 0 joins the run folder rank 0 claimed; it never claims one.

Multi-node runs start the same command on every node (Lightning's ``NODE_RANK``, ``torchrun --nnodes``, SLURM's
``srun``) with one ``hydra.run.dir`` on a disk every node sees. Only global rank 0 claims, locks and writes the
folder (.hydra/, cli.log, checkpoints, results.json, failed.json: seqlab/run/folder.py). A joining rank
(seqlab/run/ranks.py):

- needs that folder named: without an explicit ``hydra.run.dir`` each node would make its own, so a run on several
  nodes or launched processes is refused at once, on every rank, with one line;
- waits up to ``hardware.timeout`` for rank 0's claim (its lock file or .hydra/ in the folder), writing nothing; a
  rank whose rank 0 never comes ends then with one line, instead of waiting at the rendezvous;
- writes only its own log there, ``ddp_rank_<global rank>.log`` (no .hydra/, no cli.log).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from seqlab.config.choices import TIMEOUT_KEY, parse_timeout
from seqlab.errors import ConfigError, SeqlabError
from seqlab.results import FAILED_FILE, RESULTS_FILE
from seqlab.run.lock import LOCK_FILE
from seqlab.run.ranks import LaunchedRank, launched_rank

RUN_DIR_KEY = "hydra.run.dir"
JOB_NAME = "cli"  # hydra.job.name of python -m seqlab (conf/config.yaml): rank 0's log is <run dir>/cli.log
POLL_SECONDS = 0.2
CLAIM_SIGNS = (LOCK_FILE, ".hydra")  # what rank 0 writes first into a folder it has taken (and its job log)
FINISHED = (RESULTS_FILE, FAILED_FILE)  # a run that has ended: nothing to join


def join_run_folder(config: DictConfig) -> None:
    """Hydra's ``on_run_start`` on a joining rank: wait for rank 0's claimed folder, then run in it under this rank's
    own log name. Ends the process with one line (exit 2) when the folder is not named or never claimed."""
    rank = rank_of(config)
    try:
        require_shared_folder(config, rank)
        folder = Path(str(config.hydra.run.dir)).absolute()
        wait_for_claim(folder, rank, parse_timeout(_timeout(config)), str(config.hydra.job.name))
    except SeqlabError as exc:
        print(f"seqlab: error: {exc}", file=sys.stderr)
        sys.exit(2)
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.job.name = rank.log_name
        config.hydra.output_subdir = None  # .hydra/ is rank 0's


def rank_of(config: DictConfig) -> LaunchedRank:
    """This process's rank, its global number worked out from the trainer's devices and nodes where needed."""
    devices = OmegaConf.select(config, "trainer.devices", default=None)
    return launched_rank(_devices_per_node(devices), _int(OmegaConf.select(config, "trainer.num_nodes", default=None)))


def require_shared_folder(config: DictConfig, rank: LaunchedRank) -> None:
    """Raise ConfigError on ``hydra.run.dir`` when this run spans several launched processes or nodes and the run
    folder is not given: every rank must be told the same one."""
    explicit = any(o.split("=", 1)[0] == RUN_DIR_KEY for o in config.hydra.overrides.hydra)
    if explicit or not spans_launched_processes(config, rank):
        return
    raise ConfigError(
        RUN_DIR_KEY,
        f"{rank.name} of a run on several nodes or launched processes needs the run folder by name: give every node "
        "the same hydra.run.dir=<folder on a disk every node sees>",
    )


def spans_launched_processes(config: DictConfig, rank: LaunchedRank) -> bool:
    """Several nodes, several processes started by a launcher (torchrun's ``WORLD_SIZE``), or a joining rank.
    (The ranks Lightning relaunches on a node are always given their node's folder, seqlab/training/ddp.py.)"""
    nodes = _int(OmegaConf.select(config, "trainer.num_nodes", default=None)) or 1
    return nodes > 1 or (_int(os.environ.get("WORLD_SIZE")) or 1) > 1 or rank.joins


def wait_for_claim(folder: Path, rank: LaunchedRank, timeout: float, job_name: str = JOB_NAME) -> None:
    """Return once rank 0 has taken ``folder``: its lock file (a single run), its saved config or its job log (a job
    of a multirun, whose folder Hydra made); raise ConfigError after ``timeout`` seconds without any, and at once
    when the folder holds a finished run (rank 0 refuses it: this rank must not write there either)."""
    deadline = time.monotonic() + timeout
    while not any((folder / sign).exists() for sign in (*CLAIM_SIGNS, f"{job_name}.log")):
        if time.monotonic() >= deadline:
            raise ConfigError(
                TIMEOUT_KEY,
                f"{rank.name} waited {timeout:g} s for rank 0 to claim {folder} and it never did: start rank 0 "
                "(node 0) too, with the same hydra.run.dir on a disk every node sees",
            )
        time.sleep(POLL_SECONDS)
    finished = [name for name in FINISHED if (folder / name).exists()]
    if finished:
        raise ConfigError(
            RUN_DIR_KEY,
            f"{folder} holds a finished run ({finished[0]}); {rank.name} does not join it: choose a new folder for "
            "every node",
        )


def _timeout(config: DictConfig) -> object:
    return OmegaConf.select(config, TIMEOUT_KEY, default=None)


def _devices_per_node(devices: object) -> int | None:
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    if OmegaConf.is_list(devices) or isinstance(devices, list | tuple):
        return len(devices)  # type: ignore[arg-type]
    count = _int(devices)
    return count if count and count > 0 else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def speak_for_node(error: SeqlabError) -> None:
    """A joining rank's error: printed (one line) by the first rank of a node without rank 0, whose log no one
    else writes to; on rank 0's node the line comes from rank 0 alone."""
    if launched_rank().speaks_for_node:
        print(f"seqlab: error: {error}", file=sys.stderr)
