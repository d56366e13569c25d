"""Under DDP, an error on any rank ends every rank promptly, with one error line and failed.json from rank 0.

A failing rank leaves without waiting at a barrier the others will never reach (seqlab/run/job.py ``_finish``); its
exit closes its connections, so the other ranks' next collective fails at once instead of waiting for torch's
30-minute default. A rank other than 0 first records its error in the run folder (``.seqlab-rank-<r>-error.json``);
rank 0, whose collective failed, reads it, takes it away and raises :class:`PeerFailed` with that message, which it
reports (seqlab/cli/command.py: one line, failed.json, exit 2). Ranks other than 0 never print an error line of
their own (exit 2): the line comes once, from rank 0. A rank that is stuck rather than dead is given up after
``hardware.timeout`` seconds (the process group's timeout, seqlab/training/ddp.py).
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
from seqlab.results import write_json

ERROR_FILE = ".seqlab-rank-{rank}-error.json"
PEER_WAIT_SECONDS = 10.0  # how long a rank whose collective failed looks for the failing rank's record


class PeerFailed(TrainingFailed):
    """Another DDP rank failed (its message) or stopped answering; this rank stops too."""


@contextmanager
def rank_errors_shared(run_dir: Path, trainer: Any) -> Iterator[None]:
    """Around a run's fit and test: with several ranks, record this rank's own error for the others, and turn a
    failed collective (a peer died or timed out) into :class:`PeerFailed`."""
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
        if trainer.global_rank != 0:
            raise PeerFailed(f"rank {trainer.global_rank}: another rank stopped ({exc})") from exc
        peer = _peer_error(run_dir, trainer.world_size)
        if peer is not None:
            raise PeerFailed(peer) from exc
        if "timed out" in str(exc).lower() or "timeout" in str(exc).lower():
            raise PeerFailed(
                f"{TIMEOUT_KEY}: rank {trainer.global_rank} waited longer than the timeout for the other ranks "
                "(one is stuck or gone; raise hardware.timeout when a step is slower than that)"
            ) from exc
        raise


def collective_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed collective (a peer gone or silent), not an error of this rank's own."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    words = ("gloo", "nccl", "connection", "timed out", "timeout", "peer", "broken pipe")
    return isinstance(exc, RuntimeError) and any(word in text for word in words)


def _record(run_dir: Path, rank: int, message: str) -> None:
    with contextlib.suppress(OSError):
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / ERROR_FILE.format(rank=rank), {"rank": rank, "error": message})


def _peer_error(run_dir: Path, world: int) -> str | None:
    """Rank 0: the first failing peer's message (waiting up to :data:`PEER_WAIT_SECONDS` for it to be written);
    the records are taken away."""
    deadline = time.monotonic() + PEER_WAIT_SECONDS
    while True:
        for peer in range(1, world):
            path = run_dir / ERROR_FILE.format(rank=peer)
            if path.is_file():
                try:
                    message = str(json.loads(path.read_text())["error"])
                except (OSError, ValueError, KeyError):
                    continue
                remove_records(run_dir, world)
                return message
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def remove_records(run_dir: Path, world: int) -> None:
    """Take back the ranks' error records (rank 0, once it holds the error)."""
    for peer in range(1, world):
        with contextlib.suppress(OSError):
            (run_dir / ERROR_FILE.format(rank=peer)).unlink()
