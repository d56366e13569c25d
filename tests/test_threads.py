"""hardware.threads: the chooser, the registry of concurrent runs, and the one-line error for a bad value."""

from __future__ import annotations

import json
import os
import time

import pytest
import torch
from conftest import compose_config, run_inprocess

from seqlab.config.choices import parse_threads
from seqlab.errors import ConfigError
from seqlab.training import threads
from seqlab.training.threads import Registry, ThreadShare, apply_threads, choose_threads, local_processes


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    """Keep the test process's torch threads and the module's state as they were."""
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv(threads.JOBS_ENV, raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(threads, "_plan", None)
    monkeypatch.setattr(threads, "_last_set", None)
    monkeypatch.setattr(threads, "TORCH_DEFAULT", before)
    monkeypatch.setattr(threads, "_cleanup", set())
    yield
    torch.set_num_threads(before)


@pytest.fixture
def registry(tmp_path) -> Registry:
    return Registry(directory=tmp_path / "running")


def _other_run(
    registry: Registry,
    pid: int,
    processes: int = 1,
    age: float = 0.0,
    host: str | None = None,
    threads: int = 1,
    shares: bool = True,
) -> None:
    """An entry of another seqlab process, last touched ``age`` seconds ago."""
    registry.directory.mkdir(parents=True, exist_ok=True)
    path = registry.directory / f"{host or registry.host}-{pid}.json"
    entry = {
        "pid": pid,
        "host": host or registry.host,
        "processes": processes,
        "threads": threads,
        "shares": shares,
        "cpus": sorted(os.sched_getaffinity(0)),
    }
    path.write_text(json.dumps(entry))
    os.utime(path, (time.time() - age, time.time() - age))


def test_auto_shares_the_cores_among_the_processes_running_at_once():
    assert choose_threads("auto", cores=16, processes=1) == 16
    assert choose_threads("auto", cores=16, processes=4) == 4
    assert choose_threads("auto", cores=2, processes=2) == 1
    assert choose_threads("auto", cores=2, processes=5) == 1  # never 0
    assert choose_threads(3, cores=16, processes=4) == 3  # an int is honoured
    assert choose_threads("torch", cores=16, processes=4) is None  # torch's default left alone


def test_auto_takes_fewer_threads_under_a_parallel_launcher(monkeypatch, registry):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    plan = apply_threads(compose_config(), registry)
    assert plan.threads == 8 and torch.get_num_threads() == 8
    monkeypatch.setenv(threads.JOBS_ENV, "4")  # a launcher running 4 seqlab jobs at once
    plan = apply_threads(compose_config(), registry)
    assert plan.threads == 2 and torch.get_num_threads() == 2


def test_auto_counts_ddp_ranks_and_other_runs_on_the_same_cores(monkeypatch, registry):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    assert local_processes(compose_config(["hardware=ddp_cpu", "trainer.devices=4"])) == 4
    assert apply_threads(compose_config(["hardware=ddp_cpu"]), registry).threads == 4  # 2 ranks
    _other_run(registry, pid=1_000_001)
    _other_run(registry, pid=1_000_002, processes=2)
    _other_run(registry, pid=1_000_003, age=threads.STALE_SECONDS + 5)  # stopped heartbeating: not counted
    _other_run(registry, pid=1_000_004, host="elsewhere")  # another machine sharing the temp dir
    assert apply_threads(compose_config(), registry).threads == 2  # 1 (this run) + 1 + 2 processes on 8 cores


def test_runs_with_a_fixed_count_keep_their_cores_and_auto_runs_share_the_rest(monkeypatch, registry):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    _other_run(registry, pid=1_000_001, threads=2, shares=False)  # e.g. OMP_NUM_THREADS=2 or hardware.threads=2
    _other_run(registry, pid=1_000_002, threads=3, shares=True)
    assert apply_threads(compose_config(), registry).threads == 3  # (8 - 2) cores for 2 auto runs
    assert json.loads(registry.own.read_text())["shares"] is True


def test_a_running_job_gives_back_and_takes_back_cores(monkeypatch, registry):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    plan = apply_threads(compose_config(), registry)
    assert plan.threads == 4 and registry.own.is_file()
    share = ThreadShare()
    _other_run(registry, pid=1_000_001)  # a second run starts beside this one
    share._check(force=True)
    assert plan.threads == 2 and torch.get_num_threads() == 2
    assert json.loads(registry.own.read_text())["threads"] == 2  # what the others read
    (registry.directory / f"{registry.host}-1000001.json").unlink()  # and ends
    share._check(force=True)
    assert plan.threads == 4 and torch.get_num_threads() == 4


def test_an_explicit_count_is_honoured_and_torch_leaves_the_default(monkeypatch, registry):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setenv(threads.JOBS_ENV, "4")
    assert apply_threads(compose_config(["hardware.threads=3"]), registry).threads == 3
    assert torch.get_num_threads() == 3
    plan = apply_threads(compose_config(["hardware.threads=torch"]), registry)
    assert plan.threads is None and torch.get_num_threads() == threads.TORCH_DEFAULT


def test_auto_leaves_a_count_chosen_by_the_environment_or_the_caller(monkeypatch, registry):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(threads, "TORCH_DEFAULT", 8)
    torch.set_num_threads(1)  # the calling program chose
    assert apply_threads(compose_config(), registry).threads is None and torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert apply_threads(compose_config(), registry).threads is None


def _start_fit(config: list[str] | None, registry: Registry) -> threads.ThreadPlan:
    """apply_threads at run start, then ThreadShare at fit start (where the busy check runs)."""
    plan = apply_threads(compose_config(config), registry)
    ThreadShare().setup(None, None, "fit")
    return plan


def test_busy_machine_is_one_warning_line(monkeypatch, registry, caplog):
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    monkeypatch.setattr(threads, "_runnable_now", lambda: 1.0)  # one other busy thread now
    with caplog.at_level("WARNING", logger=threads.__name__):
        _start_fit(None, registry)
    (record,) = caplog.records
    message = record.getMessage()
    assert "machine busy: other work keeps about 1.0 of 2 cores busy (load 3.0)" in message and "\n" not in message
    assert "torch uses 2 threads (hardware.threads=auto)" in message and "set hardware.threads=1" in message
    caplog.clear()
    with caplog.at_level("WARNING", logger=threads.__name__):
        _start_fit(["hardware.threads=1"], registry)  # one thread fits beside one busy core
    assert not caplog.records
    monkeypatch.setattr(threads, "_runnable_now", lambda: 2.0)
    with caplog.at_level("WARNING", logger=threads.__name__):
        _start_fit(["hardware.threads=1"], registry)
    assert "torch uses 1 thread (hardware.threads=1); it may run slowly" in caplog.records[0].getMessage()
    caplog.clear()
    monkeypatch.setattr(threads, "_runnable_now", lambda: 0.0)  # the average still counts a run that just ended
    with caplog.at_level("WARNING", logger=threads.__name__):
        _start_fit(None, registry)
    assert not caplog.records
    _other_run(registry, pid=1_000_001)  # another seqlab run's thread is no reason to warn: the cores are shared
    monkeypatch.setattr(threads, "_runnable_now", lambda: 1.0)
    with caplog.at_level("WARNING", logger=threads.__name__):
        assert _start_fit(None, registry).threads == 1
    assert not caplog.records


@pytest.mark.parametrize("value", ["0", "-2", "many", "1.5", "true"])
def test_bad_setting_is_a_config_error(value):
    with pytest.raises(ConfigError, match=r"^hardware\.threads: must be auto, torch"):
        parse_threads(compose_config([f"hardware.threads={value}"]).hardware.threads)


def test_bad_setting_exits_2_with_one_line(tmp_path):
    proc = run_inprocess(["hardware.threads=0"], cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("seqlab: error: hardware.threads: must be auto, torch"), proc.stderr
    assert not (tmp_path / "outputs").exists()
