"""``hydra/launcher=ray``: a sweep's jobs as Ray tasks, one folder per job, each asking Ray for its whole DDP job's
CPUs or GPUs (hydra_plugins/seqlab_ray). The sweep itself runs on a local Ray instance (slow; needs seqlab[ray])."""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import pytest
import yaml
from conftest import TINY, run_cli
from omegaconf import OmegaConf

from hydra_plugins.seqlab_ray.ray_launcher import job_resources
from seqlab.errors import ConfigError


def job(**trainer):
    return OmegaConf.create({"trainer": {"devices": 1, "accelerator": "cpu", **trainer}, "hardware": {"threads": 2}})


def test_a_job_asks_for_all_its_processes_so_it_stays_on_one_node():
    assert job_resources(job(), None, None) == {"num_cpus": 2.0, "num_gpus": 0.0}
    assert job_resources(job(devices=3, strategy="ddp"), None, None) == {"num_cpus": 6.0, "num_gpus": 0.0}
    assert job_resources(job(devices=4, accelerator="gpu"), None, None) == {"num_cpus": 1.0, "num_gpus": 4.0}
    assert job_resources(job(devices="auto"), None, None) == {"num_cpus": 2.0, "num_gpus": 0.0}
    assert job_resources(job(devices=2), 1, 0.5) == {"num_cpus": 1.0, "num_gpus": 0.5}  # the launcher's keys win
    with pytest.raises(ConfigError) as exc:
        job_resources(job(num_nodes=2), None, None)
    assert exc.value.key == "trainer.num_nodes" and "hardware=slurm" in str(exc.value)


@pytest.mark.parametrize(
    ("ray_module", "extra", "key", "fragment"),
    [
        (None, [], "hydra/launcher", "pip install 'seqlab[ray]'"),  # import ray fails
        (types.ModuleType("ray"), ["trainer.num_nodes=2"], "trainer.num_nodes", "hardware=slurm"),
    ],
)
def test_a_sweep_ray_cannot_run_ends_with_one_error_before_anything_is_written(
    tmp_path, monkeypatch, ray_module, extra, key, fragment
):
    from seqlab.cli.command import launch
    from seqlab.session.in_process import isolated

    monkeypatch.setitem(sys.modules, "ray", ray_module)
    sweep = tmp_path / "sweep"
    with isolated(tmp_path), pytest.raises(ConfigError) as exc:
        launch(["-m", "hydra/launcher=ray", "seed=1,2", *extra, f"hydra.sweep.dir={sweep}"], in_process=True)
    assert exc.value.key == key and fragment in str(exc.value)
    assert not sweep.exists() or not any(sweep.iterdir())  # at most the folder seqlab claims as the sweep starts


def test_the_command_line_says_it_in_one_line_with_exit_code_2(tmp_path):
    has_ray = importlib.util.find_spec("ray") is not None  # with ray: the multi-node refusal; without: the install
    extra, key = (["trainer.num_nodes=2"], "trainer.num_nodes") if has_ray else ([], "hydra/launcher")
    proc = run_cli(["-m", "hydra/launcher=ray", "seed=1,2", *extra], cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith(f"seqlab: error: {key}: "), proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'seqlab[ray]')")
def test_a_two_job_sweep_runs_on_a_local_ray_instance_a_ddp_job_whole_in_one_folder(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"ROMEO: line {i} of a tiny play.\nJULIET: reply {i * 3}.\n" for i in range(90)))
    sweep = tmp_path / "sweep"
    argv = ["-m", "hydra/launcher=ray", "+hydra.launcher.init.num_cpus=2", "hardware=cpu,ddp_cpu"]
    argv += [f"task.data.path={corpus}"]
    proc = run_cli([*argv, *TINY, "trainer.max_steps=2", "hardware.threads=1", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "run_on_ray pid=" in proc.stdout + proc.stderr  # the jobs ran in Ray workers
    for num, hardware in ((0, "cpu"), (1, "ddp_cpu")):
        folder = sweep / str(num)
        hydra = yaml.safe_load((folder / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert hydra["job"]["id"] == f"ray_{num}" and hydra["overrides"]["task"][0] == f"hardware={hardware}"
        results = json.loads((folder / "results.json").read_text())
        assert results["run_dir"] == str(folder) and "test/loss" in results
    assert (sweep / "1" / "ddp_rank_1.log").is_file() and not (sweep / "0" / "ddp_rank_1.log").exists()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]  # the DDP job's ranks share its folder
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert [job["status"] for job in summary["jobs"]] == ["ok", "ok"]
