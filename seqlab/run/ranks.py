"""Which DDP rank this process is, as its launcher tells it before Lightning starts.

A launcher names a process by environment variables, read here and nowhere else:

- Lightning's own (``python -m seqlab ... trainer.num_nodes=N`` on every node): ``NODE_RANK`` of the node, and, for
  the processes Lightning relaunches on each node itself (local ranks 1..), ``LOCAL_RANK`` and ``WORLD_SIZE``;
- ``torchrun --nnodes``: ``RANK`` (global), ``GROUP_RANK`` (the node), ``LOCAL_RANK``, ``WORLD_SIZE``;
- SLURM's ``srun``: ``SLURM_PROCID`` (global), ``SLURM_NODEID``, ``SLURM_LOCALID``.

Global rank 0 owns the run folder; every other rank *joins* it (seqlab/run/rank_join.py). The first rank of a node
without rank 0 speaks for that node: its one error line is the only one a user sees in that node's log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

GLOBAL_VARS = ("RANK", "SLURM_PROCID")
NODE_VARS = ("GROUP_RANK", "NODE_RANK", "SLURM_NODEID")
LOCAL_VARS = ("LOCAL_RANK", "SLURM_LOCALID")


@dataclass(frozen=True)
class LaunchedRank:
    """This process's place in a run: its node, its rank on that node, and its global rank when it can be known
    (None: Lightning's ``NODE_RANK`` alone, with a device count only Lightning resolves, e.g. ``devices=-1``)."""

    node: int
    local: int
    rank: int | None

    @property
    def joins(self) -> bool:
        """Not global rank 0: the run folder belongs to another process."""
        return bool(self.node or self.local or self.rank)

    @property
    def speaks_for_node(self) -> bool:
        """The first rank of a node that does not hold rank 0: it prints the node's one error line."""
        return self.node != 0 and self.local == 0

    @property
    def name(self) -> str:
        """``rank 3``, or ``node 1, local rank 0`` when the global rank is not known yet."""
        return f"rank {self.rank}" if self.rank is not None else f"node {self.node}, local rank {self.local}"

    @property
    def log_name(self) -> str:
        """Hydra's job name for this rank's log in the shared run folder (``ddp_rank_3`` -> ``ddp_rank_3.log``)."""
        return f"ddp_rank_{self.rank}" if self.rank is not None else f"ddp_node_{self.node}_rank_{self.local}"


def launched_rank(devices_per_node: int | None = None, num_nodes: int | None = None) -> LaunchedRank:
    """This process's rank from the launcher's variables (rank 0 of node 0 when none is set). ``devices_per_node``
    or ``num_nodes`` (with ``WORLD_SIZE``) turn Lightning's node and local rank into a global rank."""
    node, local, rank = _first(NODE_VARS), _first(LOCAL_VARS), _first(GLOBAL_VARS)
    if rank is None:
        world = _first(("WORLD_SIZE",))
        if world and num_nodes and world % num_nodes == 0:
            devices_per_node = world // num_nodes
        if not node:
            rank = local or 0
        elif devices_per_node:
            rank = (node or 0) * devices_per_node + (local or 0)
    return LaunchedRank(node or 0, local or 0, rank)


def joins_a_run() -> bool:
    """Whether this process is a DDP rank other than global rank 0 (it joins rank 0's run folder)."""
    return launched_rank().joins


def _first(names: tuple[str, ...]) -> int | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None
