"""DDP on two CPU processes (gloo): one run folder, each rank its own contiguous slice, each multirun job once."""

from __future__ import annotations

import json

import pytest
from conftest import TINY, run_cli, run_dirs

pytestmark = pytest.mark.slow
DDP = ["hardware=ddp_cpu", "task.sample.every_n_val=0"]


def test_ddp_on_cpu_writes_one_run_folder_and_shards_the_stream(tmp_path, tiny_corpus):
    proc = run_cli([*TINY, *DDP, f"task.data.path={tiny_corpus}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["world_size"] == 2
    shards = results["train_shards"]
    assert [s["rank"] for s in shards] == [0, 1]
    assert shards[0]["start"] + shards[0]["tokens"] == shards[1]["start"]  # contiguous, disjoint slices
    assert shards[0]["tokens"] == shards[1]["tokens"] > 0
    assert (run_dir / "ddp_rank_1.log").exists()  # rank 1 ran inside this folder


def test_multirun_with_ddp_runs_each_job_once(tmp_path, tiny_corpus):
    proc = run_cli(["-m", "model=rnn,gru", *TINY, *DDP, f"task.data.path={tiny_corpus}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = run_dirs(tmp_path)
    assert len(jobs) == 2  # not 2 x 2: the ranks did not re-execute the sweep
    models = sorted(json.loads((job / "results.json").read_text())["model"] for job in jobs)
    assert models == ["gru", "rnn"]
    assert all(json.loads((job / "results.json").read_text())["world_size"] == 2 for job in jobs)
