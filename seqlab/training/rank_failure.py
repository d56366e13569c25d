"""Under DDP, an error on any rank ends every rank promptly, with one error line and failed.json from rank 0.

A failing rank leaves without waiting at a barrier the others will never reach (seqlab/run/job.py ``_finish``); its
exit closes its connections, so the other ranks' next collective fails at once instead of waiting for torch's
30-minute default. A rank other than 0 first records its error in the run folder (``.seqlab-rank-<r>-error.json``);
rank 0, whose collective failed, reads it, takes it away and raises :class:`PeerFailed` with that message, which it
reports (seqlab/cli/command.py: one line, failed.json, exit 2). A rank that stops only because another did records that
(``.seqlab-rank-<r>-left.json``), so a rank that left no record at all (killed, out of memory, its node gone) is
named by rank 0 as the one that failed. Ranks on rank 0's node never print an error line of their own (exit 2): the
line comes once, from rank 0; the first rank of every other node prints one line for its node (rank 0's account,
read from failed.json in the shared folder, or that rank 0 itself is gone). A rank that is stuck rather than dead,
or a node that never comes to the rendezvous, is given up after ``hardware.timeout`` seconds (the process group's
timeout, seqlab/training/ddp.py); record waits are bounded by half of it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from seqlab.config.choices import TIMEOUT_KEY
from seqlab.errors import SeqlabError, TrainingFailed
from seqlab.results import FAILED_FILE, write_json

ERROR_FILE = ".seqlab-rank-{rank}-error.json"
LEFT_FILE = ".seqlab-rank-{rank}-left.json"  # a rank that stopped because another one did: not the culprit
PEER_WAIT_SECONDS = 10.0  # how long a rank whose collective failed looks for the failing rank's record


class PeerFailed(TrainingFailed):
    """Another DDP rank failed (its message) or stopped answering; this rank stops too."""


@contextmanager
def rank_errors_shared(run_dir: Path, trainer: Any) -> Iterator[None]:
    """Around a run's fit and test: with several ranks, record this rank's own error for the others, and turn a
    failed collective (a peer died or timed out) into :class:`PeerFailed` naming the rank that failed."""
    try:
        yield
    except SeqlabError as exc:
        if trainer.world_size > 1 and trainer.global_rank != 0 and not isinstance(exc, PeerFailed):
            _record(run_dir, trainer.global_rank, str(exc))
        raise
    except Exception as exc:
        if trainer.world_size <= 1 or not collective_failed(exc):
            rank = trainer.global_rank
            if trainer.world_size > 1 and rank != 0:  # a bug on this rank: rank 0 names it too
                _record(run_dir, rank, f"rank {rank} crashed: {type(exc).__name__}: {exc}")
            raise
        wait = peer_wait(trainer)
        if trainer.global_rank != 0:
            _record(run_dir, trainer.global_rank, str(exc), LEFT_FILE)
            raise PeerFailed(_verdict_of_rank_zero(run_dir, trainer, exc, 1.5 * wait)) from exc
        if not _joined(exc):
            raise _failed(
                trainer,
                f"{TIMEOUT_KEY}: rank 0 waited {wait_text(trainer)} for the other {trainer.world_size - 1} rank(s) to "
                "join and they did not all come: start the same command on every node (same MASTER_ADDR, "
                f"MASTER_PORT, hydra.run.dir), or raise {TIMEOUT_KEY}",
            ) from exc
        peer = _peer_error(run_dir, trainer.world_size, wait)
        if peer is not None:
            raise _failed(trainer, peer) from exc
        if "timed out" in str(exc).lower() or "timeout" in str(exc).lower():
            raise _failed(
                trainer,
                f"{TIMEOUT_KEY}: rank {trainer.global_rank} waited longer than the timeout for the other ranks "
                "(one is stuck or gone; raise hardware.timeout when a step is slower than that)",
            ) from exc
        raise


def _failed(trainer: Any, message: str) -> PeerFailed:
    """Rank 0's error for a failed peer, with the step and the last checkpoint its failed.json names."""
    from seqlab.training.last_checkpoint import LastCheckpoint

    latest = next((cb for cb in trainer.callbacks if isinstance(cb, LastCheckpoint)), None)
    last = str(latest.path) if latest is not None and latest.path.is_file() else None
    return PeerFailed(message, step=trainer.global_step, last_checkpoint=last)


def peer_wait(trainer: Any) -> float:
    """How long a rank looks for the records of the others: :data:`PEER_WAIT_SECONDS`, or half of
    ``hardware.timeout`` when that is shorter (every rank ends within about the timeout)."""
    timeout = _timeout_seconds(trainer)
    return min(PEER_WAIT_SECONDS, timeout / 2) if timeout else PEER_WAIT_SECONDS


def wait_text(trainer: Any) -> str:
    timeout = _timeout_seconds(trainer)
    return f"{timeout:g} s" if timeout else "its timeout"


def _timeout_seconds(trainer: Any) -> float | None:
    timeout = getattr(trainer.strategy, "_timeout", None)  # hardware.timeout (seqlab/training/ddp.py)
    return timeout.total_seconds() if timeout is not None else None


RENDEZVOUS_WORDS = ("waiting for clients", "clients joined", "trying to connect")  # torch's TCPStore, server/client


def _joined(exc: BaseException) -> bool:
    """Whether the ranks had met when ``exc`` ended this one: not a rendezvous that timed out (torch's TCPStore:
    rank 0 waiting for clients, another rank unable to connect to rank 0). Lightning has taken down the process
    group by now, so the error's words are what is left to tell."""
    return not any(word in str(exc).lower() for word in RENDEZVOUS_WORDS)


def _verdict_of_rank_zero(run_dir: Path, trainer: Any, exc: BaseException, wait: float) -> str:
    """A rank other than 0 whose collective failed: rank 0's account of the failure (its failed.json, waited for
    up to ``wait`` seconds), else rank 0 itself is gone. The first rank of another node prints it
    (seqlab/cli/command.py)."""
    rank = trainer.global_rank
    if not _joined(exc):
        return (
            f"{TIMEOUT_KEY}: rank {rank} could not reach rank 0 within {wait_text(trainer)}: start node 0 too, with "
            "the same MASTER_ADDR, MASTER_PORT and hydra.run.dir"
        )
    deadline = time.monotonic() + wait
    failed = run_dir / FAILED_FILE
    while time.monotonic() < deadline:
        if failed.is_file():
            try:
                return f"rank {rank} stopped: {json.loads(failed.read_text())['error']}"
            except (OSError, ValueError, KeyError, TypeError):
                pass
        time.sleep(0.2)
    with contextlib.suppress(OSError):  # no rank 0 to take it back
        (run_dir / LEFT_FILE.format(rank=rank)).unlink()
    return f"rank {rank} stopped: rank 0 stopped answering (killed, out of memory, or its node went down)"


def collective_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed collective (a peer gone or silent), not an error of this rank's own."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    words = ("gloo", "nccl", "connection", "timed out", "timeout", "peer", "broken pipe")
    return isinstance(exc, RuntimeError) and any(word in text for word in words)


def _record(run_dir: Path, rank: int, message: str, name: str = ERROR_FILE) -> None:
    with contextlib.suppress(OSError):
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / name.format(rank=rank), {"rank": rank, "error": message})


def _peer_error(run_dir: Path, world: int, wait: float = PEER_WAIT_SECONDS) -> str | None:
    """Rank 0: the first failing peer's message, or, when a peer left no word (killed), which ranks those are; it
    waits up to ``wait`` seconds for every rank's record (its error, or that it left because another did). The
    records are taken away."""
    deadline = time.monotonic() + wait
    while True:
        silent = []
        for peer in range(1, world):
            path = run_dir / ERROR_FILE.format(rank=peer)
            if path.is_file():
                try:
                    message = str(json.loads(path.read_text())["error"])
                except (OSError, ValueError, KeyError):
                    continue
                remove_records(run_dir, world)
                return message
            if not (run_dir / LEFT_FILE.format(rank=peer)).is_file():
                silent.append(peer)
        if time.monotonic() > deadline:
            remove_records(run_dir, world)
            if not silent:
                return None
            names = ", ".join(str(peer) for peer in silent)
            return (
                f"rank {names} stopped without a word (killed, out of memory, or its node went down); every rank stops"
            )
        time.sleep(0.1)


def remove_records(run_dir: Path, world: int) -> None:
    """Take back the ranks' records (rank 0, once it holds the error)."""
    for peer in range(1, world):
        for name in (ERROR_FILE, LEFT_FILE):
            with contextlib.suppress(OSError):
                (run_dir / name.format(rank=peer)).unlink()
