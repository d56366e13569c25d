"""A run killed mid-training continues from its last checkpoint and ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import TINY, run_cli, run_dirs

pytestmark = pytest.mark.slow


def test_killed_run_resumes_to_the_same_val_loss(tmp_path, tiny_corpus):
    args = [
        *TINY,
        f"task.data.path={tiny_corpus}",
        "task.tbptt_steps=16",
        "trainer.max_steps=400",
        "trainer.val_check_interval=5",
        "trainer.limit_val_batches=1",
        "task.sample.every_n_val=0",
    ]
    whole_dir, killed_dir = tmp_path / "whole", tmp_path / "killed"
    whole_dir.mkdir()
    killed_dir.mkdir()
    assert run_cli(args, cwd=whole_dir).returncode == 0
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlab", *args],
        cwd=killed_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 240
    last = None
    while time.time() < deadline and proc.poll() is None:
        found = list((killed_dir / "outputs").glob("**/checkpoints/last.ckpt"))
        if found and json.dumps(sorted(p.name for p in found[0].parent.iterdir())).count("best") >= 1:
            last = found[0]
            time.sleep(1.0)
            break
        time.sleep(0.2)
    assert last is not None and proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (interrupted,) = run_dirs(killed_dir)
    assert not (interrupted / "results.json").exists()
    resumed = run_cli([*args, f"resume={interrupted}"], cwd=killed_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (whole,) = run_dirs(whole_dir)
    done = [d for d in run_dirs(killed_dir) if (d / "results.json").exists()]
    expected = json.loads((whole / "results.json").read_text())
    got = json.loads((done[0] / "results.json").read_text())
    assert got["optimizer_steps"] == expected["optimizer_steps"] == 400
    assert got["val/loss"] == pytest.approx(expected["val/loss"], abs=1e-6)
