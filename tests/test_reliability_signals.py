"""Issue 24, causes 3-5: checkpoints are written atomically (a kill -9 never loses the previous one, a failed save is
one line), SIGTERM is handled like Ctrl-C, and an error on one DDP rank ends every rank in bounded time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import TINY, run_cli, start_cli, wait_for

from seqlab.checkpoint import read_checkpoint

PARTIAL_PREFIX = ".seqlab-partial-"  # seqlab/training/atomic_checkpoint.py: a killed save's temp file
# a run that saves last.ckpt every 3 batches, for long enough to be stopped between two saves
LONG = ["task.tbptt_steps=16", "trainer.max_steps=300", "trainer.limit_val_batches=1", "task.sample.every_n_val=0"]

# ``python WRAPPER ARGS`` is ``python -m seqlab ARGS`` with a fault planted by the test (the fault is test code)
WRAPPER = """
import errno, os, sys, time
from pathlib import Path
import torch

FAULT, MARK = os.environ["FAULT"], Path(os.environ["FAULT_MARK"])

def pause_before_last_ckpt_is_replaced(event, args):
    # every way of putting a file in place (os.rename, os.replace, shutil.move) raises the "os.rename" audit event
    if event == "os.rename" and str(args[1]).endswith("last.ckpt") and os.path.exists(args[1]):
        MARK.write_text(str(args[0]))
        time.sleep(600)  # the test kills the process here

if FAULT == "pause":
    sys.addaudithook(pause_before_last_ckpt_is_replaced)
elif FAULT == "enospc":
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if any(Path(".").glob("*/checkpoints/last.ckpt")):  # every save after the first: the disk is full
            MARK.write_text("full")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    torch.save = full_disk

sys.argv[0] = "seqlab"
from seqlab.cli.command import main
main()
"""


def start(tmp_path: Path, args: list[str], env: dict[str, str] | None = None, wrapper: bool = False):
    if wrapper:
        (tmp_path / "wrapper.py").write_text(WRAPPER)
    return start_cli(args, tmp_path, env, command=[str(tmp_path / "wrapper.py")] if wrapper else None)


def other_filesystem_tmp(tmp_path: Path) -> Path:
    """A TMPDIR on another filesystem than the run folder when there is one (a tmpfs /dev/shm), else beside it."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev:
        folder = shm / f"seqlab-test-{os.getpid()}-{tmp_path.name}"
    else:
        folder = tmp_path / "tmpdir"
    folder.mkdir()
    return folder


def stray_files(tmpdir: Path) -> list[Path]:
    """Files left directly in $TMPDIR (torch and seqlab keep their own folders there: those are not strays)."""
    return [p for p in tmpdir.iterdir() if p.is_file()]


# ---- cause 3: atomic checkpoints -------------------------------------------------------------------------------------
@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
def test_kill_9_while_last_ckpt_is_replaced_keeps_the_previous_one_and_leaves_no_stray_file(tmp_path, tiny_corpus):
    tmpdir = other_filesystem_tmp(tmp_path)
    mark = tmp_path / "replacing"
    args = [*TINY, *LONG, f"task.data.path={tiny_corpus}", "hydra.run.dir=run", "hardware.threads=1"]
    env = {"FAULT": "pause", "FAULT_MARK": str(mark), "TMPDIR": str(tmpdir)}
    proc = start(tmp_path, args, env, wrapper=True)
    try:
        wait_for(mark, proc)  # the second save of last.ckpt is about to replace the first one
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        checkpoints = tmp_path / "run" / "checkpoints"
        previous = read_checkpoint(checkpoints / "last.ckpt", "test")  # complete and loadable
        assert previous["global_step"] == 3
        assert stray_files(tmpdir) == [], "no stray temp file in $TMPDIR"
        strays = [p.name for p in checkpoints.iterdir() if not p.name.endswith(".ckpt") or "last" not in p.name]
        strays = [n for n in strays if not n.startswith("best-")]
        assert all(n.startswith(PARTIAL_PREFIX) for n in strays), strays  # a killed save's file is recognisable
        assert Path(mark.read_text()).parent == checkpoints, "the temp file is written beside its target"
        # resuming from the folder continues from the previous last.ckpt and takes back the killed save's file
        proc2 = run_cli(
            [*TINY, *LONG, f"task.data.path={tiny_corpus}", "resume=run", "trainer.max_steps=6", "hydra.run.dir=again"],
            cwd=tmp_path,
            env={"TMPDIR": str(tmpdir)},
        )
        assert proc2.returncode == 0, proc2.stderr[-2000:]
        assert not [p for p in checkpoints.iterdir() if p.name.startswith(PARTIAL_PREFIX)]
        assert stray_files(tmpdir) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(tmpdir, ignore_errors=True)


@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
def test_a_checkpoint_that_cannot_be_written_is_one_line_and_failed_json(tmp_path, tiny_corpus):
    mark = tmp_path / "disk-full"
    args = [*TINY, *LONG, f"task.data.path={tiny_corpus}", "hydra.run.dir=run", "hardware.threads=1"]
    proc = start(tmp_path, args, {"FAULT": "enospc", "FAULT_MARK": str(mark)}, wrapper=True)
    out, err = proc.communicate(timeout=300)
    assert mark.exists(), "the planted fault never fired"
    assert proc.returncode == 2, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("seqlab: error:")]
    assert len(lines) == 1 and lines[0].startswith("seqlab: error: checkpoint"), err[-2000:]
    assert "No space left on device" in lines[0]
    run = tmp_path / "run"
    assert not (run / "results.json").exists(), "no results that name a stale checkpoint"
    failed = json.loads((run / "failed.json").read_text())
    assert "No space left on device" in failed["error"]
    assert read_checkpoint(failed["last_checkpoint"], "test")["global_step"] == 3  # the previous one, intact
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(PARTIAL_PREFIX)]


# ---- cause 4: SIGTERM ------------------------------------------------------------------------------------------------
def test_sigterm_saves_last_ckpt_records_interrupted_and_exits_143(tmp_path, tiny_corpus):
    args = [*TINY, *LONG, f"task.data.path={tiny_corpus}", "hydra.run.dir=cut", "hardware.threads=1"]
    proc = start(tmp_path, args)
    last = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    wait_for(last, proc)
    time.sleep(0.3)  # somewhere between two validations
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    results = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert results["interrupted"] is True and results["interrupted_by"] == "SIGTERM"
    assert 0 < results["optimizer_steps"] < 300
    assert read_checkpoint(last, "test")["global_step"] == results["optimizer_steps"]  # saved where it stopped
    assert "resume=" in out + err


@pytest.mark.slow
def test_a_sweep_stopped_by_sigterm_exits_non_zero_and_names_the_jobs_that_never_ran(tmp_path, tiny_corpus):
    args = ["-m", "model=rnn,gru,lstm", *TINY, *LONG, f"task.data.path={tiny_corpus}", "hardware.threads=1"]
    proc = start(tmp_path, [*args, "hydra.sweep.dir=sweep"])
    wait_for(tmp_path / "sweep" / "0" / "checkpoints" / "last.ckpt", proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    summary = json.loads((tmp_path / "sweep" / "sweep_summary.json").read_text())
    status = {job["num"]: job["status"] for job in summary["jobs"]}
    assert status == {0: "interrupted", 1: "not run", 2: "not run"}, summary
    text = (tmp_path / "sweep" / "sweep_summary.md").read_text()
    assert "model=gru" in text and "model=lstm" in text and "not run" in text


# ---- cause 5: no hang under DDP --------------------------------------------------------------------------------------
FAIL_ON_RANK_1 = """
import pytorch_lightning as pl
from seqlab.errors import DataError

class FailOnRankOne(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_rank == 1 and batch_idx == 2:
            raise DataError("task.data.path: rank 1 found a broken record")
"""


@pytest.mark.slow
def test_a_data_error_on_one_ddp_rank_ends_every_rank_with_one_line(tmp_path, tiny_corpus):
    (tmp_path / "plant").mkdir()
    (tmp_path / "plant" / "fail_on_rank_one.py").write_text(textwrap.dedent(FAIL_ON_RANK_1))
    args = [
        *TINY,
        "hardware=ddp_cpu",
        "hardware.threads=1",
        "task.sample.every_n_val=0",
        "trainer.max_steps=20",
        f"task.data.path={tiny_corpus}",
        "+callbacks.fail._target_=fail_on_rank_one.FailOnRankOne",
        "hydra.run.dir=run",
    ]
    started = time.time()
    proc = run_cli(
        args,
        cwd=tmp_path,
        timeout=240,
        env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "plant"), os.environ.get("PYTHONPATH", "")])},
    )
    assert time.time() - started < 240
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("seqlab: error:")]
    assert len(errors) == 1 and "rank 1 found a broken record" in errors[0], proc.stderr[-3000:]
    failed = json.loads((tmp_path / "run" / "failed.json").read_text())
    assert "rank 1 found a broken record" in failed["error"]
    assert not list((tmp_path / "run").glob(".seqlab-rank-*")), "rank 0 takes back the failing rank's record"


def test_hardware_timeout_bounds_the_process_group(tmp_path):
    from conftest import compose_config

    from seqlab.config.validate import validate
    from seqlab.errors import ConfigError
    from seqlab.training.trainer import build_trainer

    cfg = compose_config(["hardware=ddp_cpu", "hardware.timeout=42"])
    validate(cfg)
    trainer = build_trainer(cfg, tmp_path)
    assert trainer.strategy._timeout.total_seconds() == 42
    for bad in ("0", "-5", "abc"):
        with pytest.raises(ConfigError, match=r"^hardware\.timeout"):
            validate(compose_config(["hardware=ddp_cpu", f"hardware.timeout={bad}"]))


def test_only_the_temp_files_of_killed_seqlab_saves_are_removed(tmp_path):
    from seqlab.training.atomic_checkpoint import remove_stale_partials

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    killed = tmp_path / f"{PARTIAL_PREFIX}{gone.pid}-abc.tmp"  # a save whose process is gone
    running = tmp_path / f"{PARTIAL_PREFIX}{os.getpid()}-def.tmp"  # a save in progress
    users = [tmp_path / "notes.tmp", tmp_path / f"{PARTIAL_PREFIX}x.tmp", tmp_path / "last.ckpt"]
    for path in [killed, running, *users]:
        path.write_text("x")
    assert remove_stale_partials(tmp_path) == [killed]
    assert sorted(tmp_path.iterdir()) == sorted([running, *users])


def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_nothing(tmp_path, monkeypatch):
    import errno

    import torch

    from seqlab.results import _umask
    from seqlab.training.atomic_checkpoint import CheckpointWriteFailed, save_atomically

    target = tmp_path / "checkpoints" / "last.ckpt"
    save_atomically({"step": 1}, target)
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask(), "the permissions of any file the user creates"

    def full_disk(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointWriteFailed, match=r"^checkpoint .*last\.ckpt: cannot be written: No space left"):
        save_atomically({"step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]
