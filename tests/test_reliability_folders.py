"""Run folders (docs/reliability.md, issue 24 causes 1, 2, 10): no file a user owns is overwritten, appended to or
deleted; one writer per run or sweep folder; every failure after the run folder exists leaves failed.json."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, run_cli

from seqlab.errors import ConfigError, DataError
from seqlab.report.runs import read_run
from seqlab.run.folder import check_output_dirs
from seqlab.run.lock import LOCK_FILE, check_not_in_use, lock_folder, release

FAILS_IN_FIT = ["trainer.val_check_interval=100000", "trainer.check_val_every_n_epoch=1"]
FAST = [*TINY, "hardware.threads=1", "test=false"]
TESTS = Path(__file__).parent


def one_error_line(proc: subprocess.CompletedProcess, alone: bool = True) -> str:
    """The run ended with exit 2, one error line on stderr and no traceback (``alone``: nothing else on stderr, as
    when it is refused before training); that line."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("seqlab: error: ")]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert not alone or proc.stderr.strip().splitlines() == errors, proc.stderr[-2000:]
    return errors[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class LateFailure:
    """A callback (``+callbacks.late._target_=``) raising at the test stage, after training saved checkpoints:
    ``data``: a DataError, what a corrupt image in the caption test split does; ``bug``: a RuntimeError."""

    def __new__(cls, error: str = "data"):
        import pytorch_lightning as pl  # the run's process imports Lightning anyway

        class _Late(pl.Callback):
            def on_test_start(self, trainer, pl_module):
                if error == "data":
                    raise DataError("task.data.images: test/broken.png: cannot read (truncated file)")
                raise RuntimeError("a bug found late")

        return _Late()


# ---- cause 1: a user's files, at any depth ------------------------------------------------------------------------
def test_no_file_a_user_owns_is_overwritten_appended_to_or_deleted(tmp_path, tiny_corpus):
    precious = tmp_path / "precious"
    (precious / "csv").mkdir(parents=True)
    (precious / "csv" / "metrics.csv").write_text("step,loss\n1,0.5\n")
    (precious / "csv" / "hparams.yaml").write_text("mine: true\n")
    (precious / "cli.log").write_text("my own log\n")
    before = snapshot(precious)
    for extra in (FAILS_IN_FIT, []):  # a run that fails after the folder exists, and one that would succeed
        proc = run_cli([*FAST, f"task.data.path={tiny_corpus}", *extra, f"hydra.run.dir={precious}"], cwd=tmp_path)
        line = one_error_line(proc)
        assert line.startswith("seqlab: error: hydra.run.dir: ") and "never overwrites" in line, line
        assert snapshot(precious) == before, "the user's files are untouched"
        assert sorted(p.name for p in precious.iterdir()) == ["cli.log", "csv"], "nothing written beside them"
    for name in ("cli.log", "csv/hparams.yaml", "samples.jsonl"):  # each clash alone is named
        mine = tmp_path / "one" / name.replace("/", "_")
        (mine / name).parent.mkdir(parents=True)
        (mine / name).write_text("mine")
        with pytest.raises(ConfigError, match=f"^hydra.run.dir: {mine / name.split('/')[0]} is there already"):
            check_output_dirs([f"hydra.run.dir={mine}"])


@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
def test_a_run_into_a_folder_of_other_files_leaves_them_as_they_were(tmp_path, tiny_corpus):
    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / "a.txt").write_text("mine")
    (mine / "README.md").write_text("# my folder\n")
    before = snapshot(mine)
    proc = run_cli([*FAST, f"task.data.path={tiny_corpus}", f"hydra.run.dir={mine}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = snapshot(mine)
    assert {k: after[k] for k in before} == before
    assert (mine / "results.json").is_file() and (mine / "csv" / "metrics.csv").is_file()


# ---- cause 2: one writer per folder -------------------------------------------------------------------------------
def test_a_folder_held_by_a_live_process_is_refused_naming_it_and_a_dead_ones_lock_is_taken(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    holder = hold(folder)
    try:
        holder_named = rf"pid {holder.pid} on {socket.gethostname()}"
        with pytest.raises(ConfigError, match=rf"hydra.run.dir: .* in use .*{holder_named}"):
            lock_folder(folder, "hydra.run.dir")
        with pytest.raises(ConfigError, match=rf"^resume: .*pid {holder.pid}"):
            check_not_in_use(folder, "resume")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (folder / LOCK_FILE).is_file(), "the dead holder's lock file is still there"
    check_not_in_use(folder, "resume")  # the kernel let go of a dead process's lock: not in use
    lock_folder(folder, "hydra.run.dir")
    try:
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()
    finally:
        release(folder)


def hold(folder: Path, shared: bool = False) -> subprocess.Popen:
    """Another process that takes ``folder``'s lock (``shared``: as a worker of one Optuna study) and keeps it until
    killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from seqlab.run.lock import lock_folder; "
         f"lock_folder({str(folder)!r}, 'x', shared={shared}); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_workers_of_one_study_share_a_folder_that_an_exclusive_writer_cannot_take(tmp_path):
    from omegaconf import OmegaConf

    from seqlab.run.folder import shares_its_folder

    folder = tmp_path / "sweep"
    folder.mkdir()
    worker = hold(folder, shared=True)
    try:
        lock_folder(folder, "resume_sweep", shared=True)  # a second worker joins
        release(folder)
        with pytest.raises(ConfigError, match=rf"^hydra.sweep.dir: .* in use .*pid {worker.pid}"):
            lock_folder(folder, "hydra.sweep.dir")  # a grid sweep (or a run) needs the folder to itself
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    optuna = OmegaConf.create(
        {"hydra": {"sweeper": {"_target_": "hydra_plugins.seqlab_sweeper.sweepers.SeqlabOptunaSweeper"}}}
    )
    grid = OmegaConf.create(
        {"hydra": {"sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"}}}
    )
    assert shares_its_folder(optuna) and not shares_its_folder(grid)


def test_a_refused_claim_leaves_the_folder_to_the_process_that_holds_it(tmp_path):
    from seqlab.run.folder import _drop_claim, claim

    folder = claim(tmp_path / "new" / "run", unique=False)  # this process made it ...
    holder = hold(folder)  # ... and another one got its lock first
    try:
        with pytest.raises(ConfigError, match=f"pid {holder.pid}"):
            lock_folder(folder, "hydra.run.dir")
        _drop_claim(folder)
        assert (folder / LOCK_FILE).is_file(), "the holder's folder and lock stay"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_a_run_resume_or_sweep_on_a_held_folder_is_refused_before_it_writes(tmp_path, tiny_corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = tmp_path / "done"  # a run still writing its checkpoints: refused before its checkpoint is even read
    (done / "checkpoints").mkdir(parents=True)
    (done / "checkpoints" / "last.ckpt").write_bytes(b"half written")
    held, sweep = tmp_path / "held", tmp_path / "sweep"
    held.mkdir(), sweep.mkdir()
    for folder in (held, sweep, done):
        lock_folder(folder, "test")  # this test process is the live writer
    try:
        cases = [
            ([f"hydra.run.dir={held}"], "hydra.run.dir", held),
            ([f"hydra.sweep.dir={sweep}", "seed=1,2", "-m"], "hydra.sweep.dir", sweep),
            ([f"resume={done}", "hydra.run.dir=resumed"], "resume", done),
        ]
        for args, key, folder in cases:
            before = snapshot(folder)
            multirun = ["-m"] if "-m" in args else []  # before the overrides, as Hydra wants it
            args = [*multirun, *FAST, f"task.data.path={tiny_corpus}", *(a for a in args if a != "-m")]
            line = one_error_line(run_cli(args, cwd=tmp_path))
            assert line.startswith(f"seqlab: error: {key}: ") and f"pid {os.getpid()}" in line, line
            assert snapshot(folder) == before, "nothing written into the held folder"
        assert not (tmp_path / "resumed").exists()
    finally:
        for folder in (held, sweep, done):
            release(folder)


@pytest.mark.slow
def test_two_runs_started_together_in_one_folder_do_not_both_succeed(tmp_path, tiny_corpus):
    folder = tmp_path / "shared"
    env = {**os.environ, "WANDB_MODE": "disabled"}
    longer = ["trainer.max_steps=300", "trainer.val_check_interval=150"]  # outlasts the other's start-up
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "seqlab",
                *FAST,
                *longer,
                f"task.data.path={tiny_corpus}",
                f"model={m}",
                f"hydra.run.dir={folder}",
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for m in ("rnn", "gru")
    ]
    outs = [(p, *p.communicate(timeout=300)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in outs)
    assert codes == [0, 2], [err[-1500:] for _, _, err in outs]
    loser = next(err for p, _, err in outs if p.returncode == 2)
    assert loser.strip().startswith("seqlab: error: hydra.run.dir: ") and len(loser.strip().splitlines()) == 1
    results = json.loads((folder / "results.json").read_text())
    assert f"name: {results['model']}" in (folder / ".hydra" / "config.yaml").read_text()


def test_a_ddp_rank_runs_in_the_folder_its_rank_zero_holds(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    from seqlab.run.folder import RunFolderClaim

    folder = tmp_path / "run"
    folder.mkdir()
    lock_folder(folder, "test")  # rank zero
    try:
        monkeypatch.setenv("LOCAL_RANK", "1")
        hydra = {
            "run": {"dir": str(folder)},
            "job": {"name": "cli"},
            "overrides": {"hydra": [f"hydra.run.dir={folder}"]},
        }
        config = OmegaConf.create({"hydra": hydra})
        RunFolderClaim().on_run_start(config)  # not refused
        assert config.hydra.run.dir == str(folder) and config.hydra.job.name == "ddp_rank_1"
    finally:
        release(folder)


# ---- cause 10: failed.json after every failure once the folder exists ----------------------------------------------
def test_a_data_error_after_a_checkpoint_leaves_failed_json(tmp_path, tiny_corpus):
    run = tmp_path / "late"
    proc = run_cli(
        [*TINY, "hardware.threads=1", f"task.data.path={tiny_corpus}", f"hydra.run.dir={run}",
         f"+callbacks.late._target_={__name__}.LateFailure"],
        cwd=tmp_path, env={"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])},
    )  # fmt: skip
    line = one_error_line(proc, alone=False)  # after training: Lightning's own notes are on stderr too
    assert line.startswith("seqlab: error: task.data.images: "), line
    assert (run / "checkpoints" / "last.ckpt").is_file(), "the trained state is kept"
    failed = json.loads((run / "failed.json").read_text())
    assert "test/broken.png" in failed["error"]
    assert read_run(run).status == "failed", "the report lists it as failed, not incomplete"


@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
def test_an_unexpected_exception_after_the_folder_exists_leaves_failed_json(tmp_path, tiny_corpus):
    run = tmp_path / "crash"
    proc = run_cli(
        [*TINY, "hardware.threads=1", f"task.data.path={tiny_corpus}", f"hydra.run.dir={run}",
         f"+callbacks.late._target_={__name__}.LateFailure", "+callbacks.late.error=bug"],
        cwd=tmp_path, env={"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])},
    )  # fmt: skip
    assert proc.returncode != 0 and "a bug found late" in proc.stderr, proc.stderr[-2000:]
    assert json.loads((run / "failed.json").read_text())["error"] == "RuntimeError: a bug found late"
    assert read_run(run).status == "failed"


@pytest.mark.slow
def test_a_resumed_sweep_on_a_held_sweep_folder_is_refused_naming_the_holder(tmp_path, tiny_corpus):
    args = [*(o for o in FAST if not o.startswith("trainer.max_steps=")), f"task.data.path={tiny_corpus}"]
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", "trainer.max_steps=3,6", *args, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lock_folder(sweep, "test")  # another resume_sweep= of this folder, still running
    try:
        before = snapshot(sweep)
        proc = run_cli(["-m", "trainer.max_steps=3,6", *args, f"resume_sweep={sweep}"], cwd=tmp_path)
        line = one_error_line(proc)
        assert line.startswith("seqlab: error: resume_sweep: ") and f"pid {os.getpid()}" in line, line
        assert snapshot(sweep) == before, "the held sweep is not touched"
    finally:
        release(sweep)
