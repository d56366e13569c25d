"""Multi-node DDP on one shared run folder: global rank 0 claims and writes it, every other rank joins it; a rank
that dies or never comes ends every rank within ``hardware.timeout`` with one line naming it.

Two nodes are simulated on localhost: two ``python -m seqlab`` (or ``torchrun --nnodes=2``) processes with the same
command, ``NODE_RANK=0|1`` and a free port, as a cluster job does on two machines with a shared disk."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY
from omegaconf import OmegaConf

from seqlab.errors import ConfigError
from seqlab.run.folder import RunFolderClaim
from seqlab.run.lock import LOCK_FILE, lock_folder, release
from seqlab.run.rank_join import join_run_folder, require_shared_folder, wait_for_claim
from seqlab.run.ranks import LaunchedRank, launched_rank
from seqlab.training.rank_failure import LEFT_FILE, _peer_error

RANK_VARS = ("RANK", "SLURM_PROCID", "GROUP_RANK", "NODE_RANK", "SLURM_NODEID", "LOCAL_RANK", "SLURM_LOCALID")
TWO_NODES = [
    *TINY,
    "hardware=ddp_cpu",
    "hardware.threads=1",
    "trainer.num_nodes=2",
    "trainer.devices=1",
    "task.sample.every_n_val=0",
]


@pytest.fixture
def no_rank(monkeypatch):
    for name in (*RANK_VARS, "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "devices", "expected"),
    [
        ({}, None, LaunchedRank(0, 0, 0)),
        ({"NODE_RANK": "1"}, 2, LaunchedRank(1, 0, 2)),  # Lightning: node 1's first process, 2 devices a node
        ({"NODE_RANK": "1", "LOCAL_RANK": "1"}, 2, LaunchedRank(1, 1, 3)),
        ({"NODE_RANK": "1"}, None, LaunchedRank(1, 0, None)),  # devices=-1: only Lightning knows the count
        ({"RANK": "3", "GROUP_RANK": "1", "LOCAL_RANK": "1"}, None, LaunchedRank(1, 1, 3)),  # torchrun
        ({"SLURM_PROCID": "5", "SLURM_NODEID": "2", "SLURM_LOCALID": "1"}, None, LaunchedRank(2, 1, 5)),
        ({"LOCAL_RANK": "1"}, None, LaunchedRank(0, 1, 1)),  # a process Lightning relaunched on node 0
    ],
)
def test_the_launchers_variables_name_the_rank(no_rank, env, devices, expected):
    for name, value in env.items():
        no_rank.setenv(name, value)
    rank = launched_rank(devices)
    assert rank == expected
    assert rank.joins == (expected != LaunchedRank(0, 0, 0))
    assert rank.speaks_for_node == (expected.node != 0 and expected.local == 0)


def test_world_size_and_nodes_give_the_global_rank_of_a_relaunched_process(no_rank):
    no_rank.setenv("NODE_RANK", "1")
    no_rank.setenv("LOCAL_RANK", "2")
    no_rank.setenv("WORLD_SIZE", "8")  # Lightning: 4 processes a node on 2 nodes
    rank = launched_rank(None, num_nodes=2)
    assert rank.rank == 6 and rank.log_name == "ddp_rank_6"


def _config(folder: Path, explicit: bool = True, nodes: int = 2, timeout: float = 5) -> object:
    overrides = [f"hydra.run.dir={folder}"] if explicit else []
    return OmegaConf.create(
        {
            "trainer": {"num_nodes": nodes, "devices": 1},
            "hardware": {"timeout": timeout},
            "hydra": {
                "run": {"dir": str(folder)},
                "job": {"name": "cli"},
                "output_subdir": ".hydra",
                "overrides": {"hydra": overrides},
            },
        }
    )


def test_a_joining_node_runs_in_rank_zeros_folder_under_its_own_log_name(tmp_path, no_rank):
    folder = tmp_path / "shared"
    folder.mkdir()
    lock_folder(folder, "test")  # rank 0 claimed it
    try:
        no_rank.setenv("NODE_RANK", "1")
        config = _config(folder)
        RunFolderClaim().on_run_start(config)
        assert config.hydra.run.dir == str(folder)
        assert config.hydra.job.name == "ddp_rank_1"  # ddp_rank_1.log, never rank 0's cli.log
        assert config.hydra.output_subdir is None  # .hydra/ is rank 0's
    finally:
        release(folder)


def test_a_joining_rank_waits_for_rank_zeros_claim_then_gives_up_in_one_line(tmp_path, no_rank, capsys):
    folder = tmp_path / "shared"
    rank = LaunchedRank(1, 0, 1)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"^hardware\.timeout: rank 1 waited 0\.5 s for rank 0 to claim"):
        wait_for_claim(folder, rank, 0.5)
    assert 0.5 <= time.monotonic() - started < 3
    assert not folder.exists()  # it wrote nothing meanwhile
    folder.mkdir()
    (folder / LOCK_FILE).touch()
    wait_for_claim(folder, rank, 0.5)  # claimed: at once
    (folder / "results.json").write_text("{}")  # a run that ended there: nothing to join, nothing written
    with pytest.raises(ConfigError, match=r"^hydra\.run\.dir: .* holds a finished run \(results\.json\)"):
        wait_for_claim(folder, rank, 0.5)
    job_folder = tmp_path / "sweep" / "0"  # a multirun's job folder: Hydra made it, rank 0 logs there
    job_folder.mkdir(parents=True)
    (job_folder / "cli.log").touch()
    wait_for_claim(job_folder, rank, 0.5)
    no_rank.setenv("NODE_RANK", "1")
    with pytest.raises(SystemExit) as stop:
        join_run_folder(_config(tmp_path / "never", timeout=0.3))
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("seqlab: error: hardware.timeout: rank 1 waited 0.3 s")


def test_a_run_on_several_nodes_needs_the_run_folder_by_name_on_every_rank(tmp_path, no_rank):
    for rank in (LaunchedRank(0, 0, 0), LaunchedRank(1, 0, 1)):
        with pytest.raises(ConfigError, match=r"^hydra\.run\.dir: .*same hydra\.run\.dir"):
            require_shared_folder(_config(tmp_path, explicit=False), rank)
        require_shared_folder(_config(tmp_path, explicit=True), rank)
    require_shared_folder(_config(tmp_path, explicit=False, nodes=1), LaunchedRank(0, 0, 0))  # one node: any folder


def test_rank_zero_names_the_rank_that_died_without_a_word(tmp_path):
    (tmp_path / LEFT_FILE.format(rank=1)).write_text('{"rank": 1, "error": "another rank stopped"}')
    message = _peer_error(tmp_path, world=3, wait=0.2)  # rank 1 left because another did; rank 2 said nothing
    assert message is not None and message.startswith("rank 2 stopped without a word")
    assert not list(tmp_path.iterdir()), "rank 0 takes the records back"


# ---- two nodes on localhost (subprocesses: the processes, their exit codes and lines are under test) -------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if k not in (*RANK_VARS, "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    full.update({"WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1", **env})
    return subprocess.Popen(command, cwd=cwd, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _node(rank: int, port: int, args: list[str], cwd: Path) -> subprocess.Popen:
    env = {"NODE_RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    return _start([sys.executable, "-m", "seqlab", *args], cwd, env)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("seqlab: error:")]


def _assert_one_run(folder: Path) -> None:
    entries = {p.name for p in folder.iterdir()}
    assert {".hydra", "cli.log", "results.json", "ddp_rank_1.log", "checkpoints"} <= entries, entries
    assert not any(name.startswith(".seqlab-rank-") for name in entries), entries
    results = json.loads((folder / "results.json").read_text())
    assert results["world_size"] == 2
    assert [shard["rank"] for shard in results["train_shards"]] == [0, 1]
    assert "GLOBAL_RANK: 1" in (folder / "ddp_rank_1.log").read_text()  # node 1 logged there, not into cli.log
    assert "GLOBAL_RANK: 1" not in (folder / "cli.log").read_text()


@pytest.mark.slow
def test_two_nodes_with_one_shared_folder_train_one_run(tmp_path, tiny_corpus):
    args, port = [*TWO_NODES, f"task.data.path={tiny_corpus}", "hydra.run.dir=shared_run"], _free_port()
    nodes = [_node(rank, port, args, tmp_path) for rank in (1, 0)]  # node 1 first: it waits for node 0's claim
    outs = [node.communicate(timeout=240) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [err[-2000:] for _, err in outs]
    _assert_one_run(tmp_path / "shared_run")


TORCHRUN = Path(sys.executable).parent / "torchrun"


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed beside this python")
def test_torchrun_on_two_nodes_trains_one_run(tmp_path, tiny_corpus):
    args, port = [*TWO_NODES, f"task.data.path={tiny_corpus}", "hydra.run.dir=shared_run"], _free_port()
    launch = [str(TORCHRUN), "--nnodes=2", "--nproc-per-node=1", "--master-addr=127.0.0.1", f"--master-port={port}"]
    nodes = [_start([*launch, f"--node-rank={n}", "-m", "seqlab", *args], tmp_path, {}) for n in (0, 1)]
    outs = [node.communicate(timeout=240) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [err[-2000:] for _, err in outs]
    _assert_one_run(tmp_path / "shared_run")


@pytest.mark.slow
def test_a_node_killed_mid_run_ends_the_other_within_the_timeout_naming_it(tmp_path, tiny_corpus):
    folder = tmp_path / "shared_run"
    args = [*TWO_NODES, f"task.data.path={tiny_corpus}", f"hydra.run.dir={folder}", "hardware.timeout=20"]
    args = [a for a in args if not a.startswith("trainer.max_steps")] + ["trainer.max_steps=100000"]
    port = _free_port()
    node0, node1 = (_node(rank, port, args, tmp_path) for rank in (0, 1))
    try:
        deadline = time.monotonic() + 180
        while not (folder / "checkpoints" / "last.ckpt").is_file():  # training has started on both nodes
            assert node0.poll() is None and time.monotonic() < deadline, node0.communicate()[1][-2000:]
            time.sleep(0.2)
        node1.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _, err = node0.communicate(timeout=60)
        assert time.monotonic() - killed < 20
    finally:
        for node in (node0, node1):
            node.kill()
            node.communicate()
    assert node0.returncode == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    (line,) = _errors(err)
    assert "rank 1 stopped without a word" in line
    failed = json.loads((folder / "failed.json").read_text())
    assert failed["error"] in line and failed["last_checkpoint"] == str(folder / "checkpoints" / "last.ckpt")


@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
def test_a_node_whose_node_zero_never_comes_ends_within_the_timeout_in_one_line(tmp_path):
    args = [*TWO_NODES, "hydra.run.dir=shared_run", "hardware.timeout=3"]
    started = time.monotonic()
    node1 = _node(1, _free_port(), args, tmp_path)
    _, err = node1.communicate(timeout=120)
    assert node1.returncode == 2
    (line,) = _errors(err)
    assert "rank 1 waited 3 s for rank 0 to claim" in line, err[-2000:]
    assert time.monotonic() - started < 60  # startup + 3 s, not torch's 30 minutes
    assert not (tmp_path / "shared_run").exists()  # it wrote nothing


@pytest.mark.slow
def test_node_zero_whose_other_node_never_comes_ends_within_the_timeout_in_one_line(tmp_path, tiny_corpus):
    folder = tmp_path / "shared_run"
    args = [*TWO_NODES, f"task.data.path={tiny_corpus}", f"hydra.run.dir={folder}", "hardware.timeout=3"]
    node0 = _node(0, _free_port(), args, tmp_path)
    _, err = node0.communicate(timeout=120)
    assert node0.returncode == 2, err[-2000:]
    (line,) = _errors(err)
    assert "rank 0 waited 3 s for the other 1 rank(s) to join" in line
    assert json.loads((folder / "failed.json").read_text())["error"] in line
