"""Resumable sweeps (issue 17): ``python -m seqlab -m <the same sweep> resume_sweep=<folder>|latest`` continues a sweep
in its own folder. Finished jobs are reused (never run twice), interrupted ones continue from their last checkpoint and
end where an uninterrupted sweep ends, failed ones rerun only with ``rerun_failed=true``, another grid is refused with
one line and nothing written, and an Optuna search continues its study and its trial count (slow)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import TINY, run_cli, run_inprocess

from seqlab.run.folder import SWEEP_MARKER, is_seqlab_sweep
from seqlab.sweep.resume import Job, grid_jobs, job_state, merge_metrics, set_aside

# TINY without its trainer.max_steps (the grids below sweep it), one thread (exact repeats), no samples
QUICK = [
    *(o for o in TINY if not o.startswith("trainer.max_steps=")),
    "task.sample.every_n_val=0",
    "hardware.threads=1",
]
HAS_OPTUNA = importlib.util.find_spec("optuna") is not None


def sweep_dir(root: Path) -> Path:
    (found,) = (root / "outputs" / "multirun").glob(f"*/*/{SWEEP_MARKER}")
    return found.parent


def overrides_of(job: Path) -> list[str]:
    return yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())


def results_of(job: Path) -> dict:
    return json.loads((job / "results.json").read_text())


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: (mtime in ns, size)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()
    }


def assert_refused(proc: subprocess.CompletedProcess, key: str = "resume_sweep") -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith(f"seqlab: error: {key}: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, list[str]]:
    """A finished grid of two short jobs."""
    root = tmp_path_factory.mktemp("finished")
    corpus = root / "corpus.txt"
    corpus.write_text("".join(f"ROMEO: line {i}, où l'été {i % 7}.\nJULIET: reply {i * 3}.\n" for i in range(90)))
    args = [*QUICK, f"task.data.path={corpus}"]
    proc = run_inprocess(["-m", "trainer.max_steps=3,6", *args], cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, args


@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
def test_a_changed_grid_is_refused_with_one_line_and_nothing_written(finished, tmp_path):
    root, args = finished
    sweep = sweep_dir(root)
    before = snapshot(root)
    cases = [
        (["-m", "trainer.max_steps=3,6,9", *args], "trainer.max_steps=9"),  # another job count
        (["-m", "trainer.max_steps=3", *args], "trainer.max_steps=6"),  # a job missing
        (["-m", "trainer.max_steps=3,6", *args, "model.hidden_size=17"], "model.hidden_size=17"),  # other overrides
        (["-m", "trainer.max_steps=3,6", "model=gru", *args], "model=gru"),
    ]
    for argv, named in cases:
        line = assert_refused(run_inprocess([*argv, f"resume_sweep={sweep}"], cwd=root))
        assert named in line and "resume it with its own overrides: trainer.max_steps=3,6" in line
    assert_refused(run_inprocess(["-m", "trainer.max_steps=3,6", *args, "hydra.sweep.subdir=j${hydra.job.num}",
                            "resume_sweep=latest"], cwd=root), "hydra.sweep.subdir")  # fmt: skip
    # once as a process of its own: exit code 2 and nothing but the line on stderr
    assert "add -m" in assert_refused(run_cli([*args, f"resume_sweep={sweep}"], cwd=root))
    assert "not a sweep folder seqlab wrote" in assert_refused(
        run_inprocess(["-m", *args, f"resume_sweep={tmp_path}"], root)
    )
    assert_refused(run_inprocess(["-m", *args, "rerun_failed=true"], cwd=root), "rerun_failed")
    assert_refused(
        run_inprocess(["-m", *args, f"hydra.sweep.dir={tmp_path}", "resume_sweep=latest"], root), "hydra.sweep.dir"
    )
    # an explicit hydra.sweep.dir that holds a sweep is refused (it would overwrite its jobs)
    line = assert_refused(
        run_inprocess(["-m", "trainer.max_steps=3,6", *args, f"hydra.sweep.dir={sweep}"], root), "hydra.sweep.dir"
    )
    assert f"resume_sweep={sweep}" in line
    assert snapshot(root) == before, "a refused resumption writes nothing"


def test_a_job_whose_config_changed_since_it_ran_is_refused(finished, tmp_path):
    root, args = finished
    copy = tmp_path / "outputs" / "multirun" / "2024-05-01" / "12-00-00"
    shutil.copytree(sweep_dir(root), copy)
    saved = copy / "1" / ".hydra" / "config.yaml"
    saved.write_text(saved.read_text().replace("seed: 42", "seed: 7"))  # as if a default had changed since
    before = snapshot(copy)
    line = assert_refused(run_inprocess(["-m", "trainer.max_steps=3,6", *args, "resume_sweep=latest"], cwd=tmp_path))
    assert "job 1 (1)" in line and "seed: 7 there, 42 here" in line
    assert snapshot(copy) == before


def test_resuming_a_finished_sweep_runs_nothing_and_summarizes_every_job(finished):
    root, args = finished
    sweep = sweep_dir(root)
    jobs = {d: snapshot(d) for d in (sweep / "0", sweep / "1")}
    # the same grid, its values in another order: jobs are matched by their overrides
    proc = run_inprocess(["-m", "trainer.max_steps=6,3", *args, "resume_sweep=latest", "rerun_failed=false"], cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 jobs: 2 finished (reused, not run)" in proc.stdout
    assert "sweep summary: 2 jobs, 2 ok, 0 failed" in proc.stdout
    assert {d: snapshot(d) for d in jobs} == jobs, "a finished job is never run again"
    marker = json.loads((sweep / SWEEP_MARKER).read_text())
    assert [j["action"] for j in marker["resumes"][-1]["jobs"]] == ["done", "done"]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]


def test_failed_jobs_rerun_only_when_asked(tmp_path, tiny_corpus):
    missing = tmp_path / "later.txt"  # only job 1 gets it, and it is not there yet
    argv = ["-m", f"task.data.path={tiny_corpus},{missing}", *QUICK, "trainer.max_steps=4"]
    first = run_inprocess(argv, cwd=tmp_path)
    assert first.returncode == 1, first.stderr[-3000:]
    sweep = sweep_dir(tmp_path)
    reason = json.loads((sweep / "1" / "failed.json").read_text())["error"]
    assert "later.txt" in reason
    jobs = {d: snapshot(d) for d in (sweep / "0", sweep / "1")}
    again = run_inprocess([*argv, "resume_sweep=latest"], cwd=tmp_path)
    assert again.returncode == 1 and "1 failed (not rerun; rerun_failed=true reruns them)" in again.stdout
    assert "sweep summary: 2 jobs, 1 ok, 1 failed" in again.stdout and reason in again.stdout
    assert {d: snapshot(d) for d in jobs} == jobs, "a failed job is not run again unless asked"
    shutil.copy(tiny_corpus, missing)
    rerun = run_inprocess([*argv, f"resume_sweep={sweep}", "rerun_failed=true"], cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "sweep summary: 2 jobs, 2 ok, 0 failed" in rerun.stdout
    assert snapshot(sweep / "0") == jobs[sweep / "0"]
    assert results_of(sweep / "1")["optimizer_steps"] == 4
    # nothing deleted: the failure moved aside, the job's config and log stayed
    assert json.loads((sweep / "1" / "previous-1" / "failed.json").read_text())["error"] == reason
    assert not (sweep / "1" / "failed.json").exists() and (sweep / "1" / ".hydra" / "config.yaml").is_file()


def test_grid_jobs_follow_hydra_and_the_state_of_a_folder_decides_what_runs(tmp_path):
    jobs = grid_jobs({"model": "rnn,gru"}, ["task.tbptt_steps=5,10", "seed=1", "resume_sweep=x"])
    assert jobs[0] == ["model=rnn", "task.tbptt_steps=5", "seed=1"] and len(jobs) == 4
    job = tmp_path / "job"
    assert job_state(None) == "new"
    (job / ".hydra").mkdir(parents=True)
    assert job_state(job) == "restart"
    (job / "checkpoints").mkdir()
    (job / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert job_state(job) == "resume"
    (job / "results.json").write_text('{"interrupted": true}')  # Ctrl-C: results so far, not final
    assert job_state(job) == "resume"
    (job / "failed.json").write_text("{}")
    assert job_state(job) == "failed"
    (job / "results.json").write_text('{"val/loss": 1.0}')
    assert job_state(job) == "done"


def test_only_folders_of_seqlab_sweeps_are_resumed(tmp_path):
    claim = "hydra:\n  callbacks:\n    run_folder:\n      _target_: seqlab.run.folder.RunFolderClaim\n"
    for name, text in (("older", claim), ("foreign", "hydra:\n  callbacks: {}\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "multirun.yaml").write_text(text)
    assert is_seqlab_sweep(tmp_path / "older")  # a seqlab sweep from before the marker
    assert not is_seqlab_sweep(tmp_path / "foreign") and not is_seqlab_sweep(tmp_path)
    (tmp_path / SWEEP_MARKER).write_text("{}")
    assert is_seqlab_sweep(tmp_path)


def test_setting_aside_moves_and_never_deletes(tmp_path):
    job = tmp_path / "3"
    for name in (".hydra/config.yaml", "cli.log", "failed.json", "checkpoints/last.ckpt", "csv/metrics.csv"):
        (job / name).parent.mkdir(parents=True, exist_ok=True)
        (job / name).write_text(name)
    before = sorted(p.read_text() for p in job.rglob("*") if p.is_file())
    rerun = Job(3, ["seed=1"], job, "rerun")
    set_aside(rerun)
    assert sorted(p.name for p in job.iterdir()) == [".hydra", "cli.log", "previous-1"]
    assert sorted(p.read_text() for p in job.rglob("*") if p.is_file()) == before
    (job / "csv").mkdir()
    (job / "csv" / "metrics.csv").write_text("step,train/loss\n0,4.0\n5,3.0\n10,2.0\n")
    (job / "checkpoints").mkdir()
    (job / "checkpoints" / "last.ckpt").write_text("state at step 5")
    resumed = Job(3, ["seed=1"], job, "resume")
    set_aside(resumed)
    assert resumed.previous == job / "previous-2" and resumed.checkpoint == str(job / "checkpoints" / "last.ckpt")
    assert (job / "checkpoints" / "last.ckpt").is_file(), "a resumed job keeps its checkpoints"
    # the resumed run logs from step 5 on; its curve keeps the steps before
    (job / "csv" / "metrics.csv").write_text("step,train/loss,val/loss\n5,3.0,\n10,2.5,2.6\n")
    merge_metrics(resumed)
    with open(job / "csv" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["step"], r["train/loss"]) for r in rows] == [("0", "4.0"), ("5", "3.0"), ("10", "2.5")]


# ---- killed mid-way (slow) -------------------------------------------------------------------------------------------
def start(argv: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.Popen(
        [sys.executable, "-m", "seqlab", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 240) -> None:
    """``kill -9`` the whole process group once ``ready()`` (a checkpoint of the job to interrupt) holds."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.1)
    time.sleep(0.5)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def checkpointed(root: Path, job: str) -> Callable[[], bool]:
    def ready() -> bool:
        found = list((root / "outputs" / "multirun").glob(f"*/*/{job}/checkpoints/best-*.ckpt"))
        return bool(found) and (found[0].parent / "last.ckpt").is_file()

    return ready


LONG = ["task.tbptt_steps=16", "trainer.val_check_interval=5", "trainer.limit_val_batches=1"]


@pytest.mark.slow
def test_a_killed_grid_resumes_to_the_results_of_an_uninterrupted_one(tmp_path, tiny_corpus):
    args = [*QUICK, *LONG, f"task.data.path={tiny_corpus}"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir()
    killed.mkdir()
    assert run_cli(["-m", "trainer.max_steps=10,400,15", *args], cwd=whole).returncode == 0
    proc = start(["-m", "trainer.max_steps=10,400,15", *args], cwd=killed)
    kill_when(proc, checkpointed(killed, "1"))
    sweep = sweep_dir(killed)
    assert (sweep / "0" / "results.json").is_file()
    assert not (sweep / "1" / "results.json").exists() and (sweep / "1" / "checkpoints" / "last.ckpt").is_file()
    assert not (sweep / "2").exists(), "the job after the interrupted one never started"
    first = snapshot(sweep / "0")
    proc = run_cli(["-m", "trainer.max_steps=15,400,10", *args, "resume_sweep=latest"], cwd=killed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 jobs: 1 finished (reused, not run), 1 interrupted" in proc.stdout and "1 not started" in proc.stdout
    assert "sweep summary: 3 jobs, 3 ok, 0 failed" in proc.stdout
    assert snapshot(sweep / "0") == first, "the finished job ran once"
    # same numbers and folders as the original order, whatever the order typed now
    assert [overrides_of(sweep / n)[0] for n in ("0", "1", "2")] == [f"trainer.max_steps={s}" for s in (10, 400, 15)]
    resumed = results_of(sweep / "1")
    assert resumed["resumed_from"] == str(sweep / "1" / "checkpoints" / "last.ckpt")
    expected = {overrides_of(d)[0]: results_of(d) for d in sorted(sweep_dir(whole).glob("[0-9]"))}
    for job in ("0", "1", "2"):
        got, want = results_of(sweep / job), expected[overrides_of(sweep / job)[0]]
        assert got["optimizer_steps"] == want["optimizer_steps"]
        for metric in ("val/loss", "test/loss"):
            assert got[metric] == pytest.approx(want[metric], abs=1e-6), (job, metric)
    # the curve of the resumed job starts at its first step, as the uninterrupted one's
    with open(sweep / "1" / "csv" / "metrics.csv", newline="") as fh:
        steps = [int(float(r["step"])) for r in csv.DictReader(fh)]
    with open(sweep_dir(whole) / "1" / "csv" / "metrics.csv", newline="") as fh:
        assert steps[0] == int(float(next(csv.DictReader(fh))["step"]))
    assert (sweep / "1" / "previous-1" / "csv" / "metrics.csv").is_file()
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert [j["status"] for j in summary["jobs"]] == ["ok", "ok", "ok"]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_OPTUNA, reason="Optuna sweeper not installed (pip install -e .[optuna])")
def test_an_optuna_search_resumed_continues_its_study_and_its_trial_count(tmp_path, tiny_corpus):
    import optuna

    args = ["-m", "hparams_search=optuna", *QUICK, *LONG, "trainer.max_steps=300", f"task.data.path={tiny_corpus}"]
    proc = start([*args, "hydra.sweeper.n_trials=2"], cwd=tmp_path)
    kill_when(proc, checkpointed(tmp_path, "1"))
    sweep = sweep_dir(tmp_path)
    assert (sweep / "optuna.db").is_file() and not (sweep / "1" / "results.json").exists()
    first = snapshot(sweep / "0")
    resumed = run_cli([*args, "hydra.sweeper.n_trials=3", "resume_sweep=latest"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1 finished (reused, not run), 1 interrupted" in resumed.stdout
    assert "the study has 2 trials, 2 of them toward n_trials=3; running 1 more" in resumed.stdout
    assert "sweep summary: 3 jobs, 3 ok, 0 failed" in resumed.stdout
    assert snapshot(sweep / "0") == first
    study = optuna.load_study(study_name="seqlab", storage=f"sqlite:///{sweep}/optuna.db")
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2] and all(t.state.name == "COMPLETE" for t in trials)
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2"]
    for trial in trials:  # trial k ran in folder k, with its parameters, and Optuna saw its result
        job = sweep / str(trial.number)
        assert f"optimizer.lr={trial.params['optimizer.lr']}" in overrides_of(job)
        assert trial.value == pytest.approx(results_of(job)["val/loss"])
    assert results_of(sweep / "1")["resumed_from"] == str(sweep / "1" / "checkpoints" / "last.ckpt")
    assert len({t.params["optimizer.lr"] for t in trials}) == 3, "the resumed sampler does not repeat a trial"
    # resumed again with nothing left to do: nothing runs
    again = run_cli([*args, "hydra.sweeper.n_trials=3", "resume_sweep=latest"], cwd=tmp_path)
    assert again.returncode == 0 and "running 0 more" in again.stdout
    assert len(optuna.load_study(study_name="seqlab", storage=f"sqlite:///{sweep}/optuna.db").trials) == 3
