"""Issue 27: a job preempted (or at its time limit) saves its exact-resume checkpoint, is requeued into its own run
folder and ends where a run never stopped ends; a plain process stopped by the same signal exits 140 with one line."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import pytest
from conftest import TINY, run_cli, run_inprocess
from inprocess import _process_state_restored

from seqlab.checkpoint import read_checkpoint
from seqlab.errors import ConfigError
from seqlab.run.requeue import REQUEUE_FILE, check_own_folder, record_preemption
from seqlab.training import signals
from seqlab.training.preemption import PreemptionWatch, cluster_plugins
from seqlab.training.signals import interrupted_exit_code

# test code planted in the job: the scheduler's notice (SIGUSR2), sent once, at the end of a batch past step AT
PREEMPT_AT = """
import os, signal
from pathlib import Path
import pytorch_lightning as pl

class PreemptAt(pl.Callback):
    def __init__(self, at: int, flag: str) -> None:
        self.at, self.flag = at, Path(flag)

    def on_fit_start(self, trainer, pl_module):  # at=-1: while the run is still being set up
        if self.at < 0:
            self.flag.write_text("before training")
            os.kill(os.getpid(), signal.SIGUSR2)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if 0 <= self.at <= trainer.global_step and not self.flag.exists():
            self.flag.write_text(str(trainer.global_step))
            os.kill(os.getpid(), signal.SIGUSR2)
"""
SHORT = ["trainer.max_steps=20", "trainer.val_check_interval=3", "hardware.threads=1", "task.sample.every_n_val=0"]


def planted(tmp_path: Path, at: int = 8) -> tuple[list[str], dict[str, str]]:
    (tmp_path / "plant").mkdir(exist_ok=True)
    (tmp_path / "plant" / "preempt_at.py").write_text(textwrap.dedent(PREEMPT_AT))
    args = [
        "+callbacks.preempt._target_=preempt_at.PreemptAt",
        f"+callbacks.preempt.at={at}",
        f"+callbacks.preempt.flag={tmp_path / 'preempted'}",
    ]
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "plant"), os.environ.get("PYTHONPATH", "")])}
    return args, env


# ---- (a) requeued into its own folder, the same result as a run never stopped ------------------------------------
@pytest.mark.slow
def test_a_preempted_job_is_requeued_into_its_own_folder_and_ends_as_a_run_never_stopped(tmp_path, tiny_corpus):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    args = [*TINY, *SHORT, f"task.data.path={tiny_corpus}"]
    whole = run_inprocess([*args, "hydra.run.dir=whole"], cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-2000:]
    plant, env = planted(tmp_path)
    sweep = run_inprocess(
        ["-m", "hydra/launcher=submitit_local_seqlab", "hydra.sweep.dir=sweep", *args, *plant], cwd=tmp_path, env=env
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert (tmp_path / "preempted").read_text() == "8", "the notice came mid-run, once"
    job = tmp_path / "sweep" / "0"
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.name.isdigit()) == ["0"], "no second folder"
    stopped = json.loads((job / "previous-1" / "results.json").read_text())  # the first attempt, set aside
    assert stopped["interrupted_by"] == "SIGUSR2" and stopped["optimizer_steps"] == 8 and stopped["test_skipped"]
    record = json.loads((job / REQUEUE_FILE).read_text())
    assert [(a["signal"], a["step"]) for a in record["attempts"]] == [("SIGUSR2", 8)]
    expected = json.loads((tmp_path / "whole" / "results.json").read_text())
    got = json.loads((job / "results.json").read_text())
    assert got["interrupted"] is False and got["resumed_from"] == str(job.absolute() / "checkpoints" / "last.ckpt")
    assert got["optimizer_steps"] == expected["optimizer_steps"] == 20
    for key in ("val/loss", "test/loss"):
        assert got[key] == pytest.approx(expected[key], abs=1e-6), key
    weights = read_checkpoint(job / "checkpoints" / "last.ckpt", "test")["state_dict"]
    reference = read_checkpoint(tmp_path / "whole" / "checkpoints" / "last.ckpt", "test")["state_dict"]
    assert weights.keys() == reference.keys()
    assert all((weights[k] - reference[k]).abs().max() <= 1e-6 for k in weights)
    metrics = (job / "csv" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == len((tmp_path / "whole" / "csv" / "metrics.csv").read_text().splitlines())
    (log,) = (tmp_path / "sweep" / ".submitit").glob("*/*_0_log.out")
    text = log.read_text()
    assert text.count("seqlab: preempted (SIGUSR2)") == 1 and "Requeued job" in text


# ---- (b) the process: signal -> exit code and one line -------------------------------------------------------------
@pytest.mark.slow
def test_the_preemption_signal_stops_a_plain_run_with_exit_140_and_one_line(tmp_path, tiny_corpus):
    plant, env = planted(tmp_path, at=6)
    proc = run_cli([*TINY, *SHORT, f"task.data.path={tiny_corpus}", "hydra.run.dir=cut", *plant], tmp_path, env=env)
    assert proc.returncode == 140, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("seqlab:")]
    assert len(lines) == 1 and "stopped by SIGUSR2 at step 6" in lines[0] and "resume=" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    results = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert results["interrupted_by"] == "SIGUSR2" and results["optimizer_steps"] == 6
    assert read_checkpoint(tmp_path / "cut" / "checkpoints" / "last.ckpt", "test")["global_step"] == 6


# ---- the pieces, in-process ----------------------------------------------------------------------------------------
def test_exit_codes_name_the_signal():
    assert interrupted_exit_code({"interrupted_by": "SIGTERM"}) == 143
    assert interrupted_exit_code({"interrupted_by": "SIGUSR2"}) == 140
    assert interrupted_exit_code({"interrupted_by": "SIGINT"}) == interrupted_exit_code({}) == 130


def test_the_watch_handles_the_notice_as_sigterm_and_hands_it_to_the_handler_it_replaced(monkeypatch):
    monkeypatch.setattr(signals, "_stop_name", signals.SIGTERM_NAME)
    seen: list[str] = []
    previous_term = signal.signal(signal.SIGTERM, lambda s, f: seen.append("term"))
    previous_usr2 = signal.signal(signal.SIGUSR2, lambda s, f: seen.append("submitit"))
    try:
        with PreemptionWatch() as watch:
            os.kill(os.getpid(), signal.SIGUSR2)
            assert watch.received and seen == ["term"] and signals.stop_signal_name() == "SIGUSR2"
            watch.requeue()
        assert seen == ["term", "submitit"]
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGUSR2, previous_usr2)


def test_a_notice_before_training_stops_it_at_its_first_batch(tmp_path, tiny_corpus, monkeypatch):
    """In a submitit job SIGTERM is ignored outside a Trainer (submitit's handler): a notice that comes while the
    run is set up is acted on when training starts, so there is a checkpoint to requeue from."""
    from seqlab.cli import launch

    plant, _ = planted(tmp_path, at=-1)
    monkeypatch.syspath_prepend(str(tmp_path / "plant"))
    monkeypatch.setattr(signals, "_stop_name", signals.SIGTERM_NAME)
    argv = [*TINY, *SHORT, f"task.data.path={tiny_corpus}", "hydra.run.dir=early", "test=false", *plant]
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)  # as submitit's job does
    try:
        with _process_state_restored(tmp_path, ["seqlab"], {"WANDB_MODE": "disabled"}), PreemptionWatch() as watch:
            results = launch(argv, in_process=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert watch.received and (tmp_path / "preempted").read_text() == "before training"
    assert results["interrupted_by"] == "SIGUSR2" and 0 < results["optimizer_steps"] <= 2, results
    assert (tmp_path / "early" / "checkpoints" / "last.ckpt").is_file()


def test_lightning_does_not_requeue_under_slurm(monkeypatch):
    for key in ("SLURM_NTASKS", "SLURM_JOB_NAME"):
        monkeypatch.delenv(key, raising=False)
    assert cluster_plugins() == []
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "seqlab")
    (environment,) = cluster_plugins()
    assert environment.auto_requeue is False


def _stopped_run(folder: Path, interrupted: bool = True) -> Path:
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (folder / "results.json").write_text(json.dumps({"interrupted": interrupted, "optimizer_steps": 8}))
    return folder


def test_only_the_job_that_left_a_folder_continues_in_it(tmp_path):
    state = record_preemption(_stopped_run(tmp_path / "0"), "SIGUSR2", "123")
    assert state is not None and Path(state.checkpoint) == tmp_path / "0" / "checkpoints" / "last.ckpt"
    check_own_folder(state)  # its own folder: accepted
    again = record_preemption(tmp_path / "0", "SIGUSR2", "124", token=state.token)
    assert again == state and len(json.loads((tmp_path / "0" / REQUEUE_FILE).read_text())["attempts"]) == 2
    stranger = _stopped_run(tmp_path / "other")
    (stranger / REQUEUE_FILE).write_text(json.dumps({"token": "someone else's"}))
    for folder in (tmp_path / "other", tmp_path / "moved-away"):
        with pytest.raises(ConfigError) as exc:
            check_own_folder(type(state)(str(folder), state.token, str(folder / "checkpoints" / "last.ckpt")))
        assert exc.value.key == "hydra.sweep.dir"
    assert (stranger / REQUEUE_FILE).read_text() == json.dumps({"token": "someone else's"}), "left untouched"


def test_a_job_that_finished_anyway_is_not_requeued(tmp_path):
    assert record_preemption(_stopped_run(tmp_path / "0", interrupted=False), "SIGUSR2", "1") is None
    assert not (tmp_path / "0" / REQUEUE_FILE).exists()


def test_the_launcher_requeues_itself_with_the_record_and_the_same_arguments():
    launchers = pytest.importorskip("hydra_plugins.seqlab_submitit.requeue_launcher")
    from seqlab.run.requeue import Requeue

    launcher = launchers.SeqlabLocalLauncher(submitit_folder="x")
    assert launcher.checkpoint(["model=gru"], "hydra.sweep.dir", 0, "id", {}) is None, "nothing to continue"
    launcher._requeue = Requeue("/runs/0", "token", "/runs/0/checkpoints/last.ckpt")
    delayed = launcher.checkpoint(["model=gru"], "hydra.sweep.dir", 0, "id", {})
    assert delayed.function is launcher and delayed.function._requeue.run_dir == "/runs/0"
    assert delayed.args == (["model=gru"], "hydra.sweep.dir", 0, "id", {})
