"""What seqlab promises when things go wrong (docs/reliability.md): it never deletes what a run did not create,
never runs code from a checkpoint, keeps the latest state in last.ckpt, and ends bad input with one line."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY, run_cli, run_dirs, run_inprocess

from seqlab.checkpoint import read_checkpoint
from seqlab.errors import DataError
from seqlab.run.folder import claim

# fails inside fit, after Hydra made the run folder: Lightning refuses the interval once it knows the epoch length
FAILS_IN_FIT = ["trainer.val_check_interval=100000", "trainer.check_val_every_n_epoch=1"]


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("seqlab: error:")]


def assert_one_line_error(proc: subprocess.CompletedProcess, key: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = error_lines(proc)
    assert len(errors) == 1 and errors[0].startswith(f"seqlab: error: {key}"), proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == errors, "nothing but the error line on stderr"


# ---- data safety ---------------------------------------------------------------------------------------------------
def test_a_failed_run_never_removes_a_folder_that_was_there_before(tmp_path, tiny_corpus):
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "notes.txt").write_text("mine")
    (precious / "sub" / "data.csv").write_text("1,2")
    proc = run_inprocess(
        [*TINY, f"task.data.path={tiny_corpus}", *FAILS_IN_FIT, f"hydra.run.dir={precious}"], cwd=tmp_path
    )
    assert_one_line_error(proc, "trainer.val_check_interval")
    assert (precious / "notes.txt").read_text() == "mine" and (precious / "sub" / "data.csv").is_file()
    assert sorted(p.name for p in precious.iterdir()) == ["notes.txt", "sub"], "only what the run made is removed"


def test_a_failed_run_into_outputs_or_the_current_folder_keeps_every_earlier_run(tmp_path, tiny_corpus):
    earlier = tmp_path / "outputs" / "2026-01-01" / "10-00-00_charlm_lstm"
    earlier.mkdir(parents=True)
    (earlier / "results.json").write_text("{}")
    for run_dir in ("outputs", "."):
        proc = run_inprocess(
            [*TINY, f"task.data.path={tiny_corpus}", *FAILS_IN_FIT, f"hydra.run.dir={run_dir}"], cwd=tmp_path
        )
        assert_one_line_error(proc, "trainer.val_check_interval")
        assert (earlier / "results.json").read_text() == "{}"
        assert tiny_corpus.is_file() and tmp_path.is_dir()


def test_a_failed_run_removes_the_folders_it_created(tmp_path, tiny_corpus):
    proc = run_inprocess(
        [*TINY, f"task.data.path={tiny_corpus}", *FAILS_IN_FIT, "hydra.run.dir=new/deep/run"], cwd=tmp_path
    )
    assert_one_line_error(proc, "trainer.val_check_interval")
    assert not (tmp_path / "new").exists()


def test_an_explicit_run_folder_that_holds_a_run_is_refused_before_anything_is_written(tmp_path):
    old = tmp_path / "old"
    (old / ".hydra").mkdir(parents=True)
    (old / ".hydra" / "config.yaml").write_text("seed: 1\n")
    proc = run_inprocess([f"hydra.run.dir={old}"], cwd=tmp_path)
    assert_one_line_error(proc, "hydra.run.dir")
    assert (old / ".hydra" / "config.yaml").read_text() == "seed: 1\n"
    assert sorted(p.name for p in old.iterdir()) == [".hydra"]


def test_run_folders_started_in_the_same_second_are_distinct(tmp_path):
    first = claim(tmp_path / "outputs" / "12-00-00_charlm_lstm", unique=True)
    second = claim(tmp_path / "outputs" / "12-00-00_charlm_lstm", unique=True)
    assert first != second and first.is_dir() and second.is_dir()
    assert second.name == "12-00-00_charlm_lstm_2"


# ---- checkpoint safety -----------------------------------------------------------------------------------------------
class Evil:
    """Unpickled without weights_only, it runs ``exec(code)``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


@pytest.fixture
def evil_checkpoint(tmp_path) -> tuple[Path, Path]:
    """A checkpoint whose pickle creates ``marker`` when it is unpickled without weights_only."""
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.ckpt"
    config = {"task": {"name": "charlm"}}
    torch.save(
        {
            "state_dict": {},
            "hyper_parameters": {"config": config},
            "x": Evil(f"open({str(marker)!r}, 'w').write('pwned')"),
        },
        evil,
    )
    # it would run: prove the fixture is armed
    torch.load(evil, weights_only=False)
    assert marker.read_text() == "pwned"
    marker.unlink()
    return evil, marker


@pytest.mark.parametrize(
    ("module", "args", "run"),
    [
        ("seqlab.generate", ["ckpt_path=EVIL"], run_inprocess),
        ("seqlab.predict", ["ckpt_path=EVIL", "text=great film"], run_inprocess),
        ("seqlab", [*TINY, "resume=EVIL"], run_cli),  # and once as a process: exit code 2, no traceback
    ],
)
def test_a_crafted_checkpoint_is_refused_and_never_run(tmp_path, tiny_corpus, evil_checkpoint, module, args, run):
    evil, marker = evil_checkpoint
    args = [a.replace("EVIL", str(evil)) for a in args]
    if module == "seqlab":
        args.append(f"task.data.path={tiny_corpus}")
    proc = run(args, cwd=tmp_path, module=module)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "would run code" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not marker.exists(), "unpickling the checkpoint ran its code"
    assert not (tmp_path / "outputs").exists()


def test_read_checkpoint_refuses_a_truncated_file(tmp_path):
    path = tmp_path / "cut.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DataError, match="not a readable checkpoint"):
        read_checkpoint(path, "resume")


# ---- the latest state -----------------------------------------------------------------------------------------------
def test_last_checkpoint_is_the_latest_state_even_when_the_metric_never_improves(tmp_path, tiny_corpus):
    args = [
        *TINY,
        f"task.data.path={tiny_corpus}",
        "optimizer.lr=1e-30",
        "trainer.max_steps=12",
        "trainer.val_check_interval=2",
        "task.sample.every_n_val=0",
        "hydra.run.dir=run",
    ]
    proc = run_inprocess(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = tmp_path / "run"
    results = json.loads((run / "results.json").read_text())
    last = read_checkpoint(run / "checkpoints" / "last.ckpt", "test")
    assert last["global_step"] == results["optimizer_steps"] == 12
    assert Path(results["last_checkpoint"]) == (run / "checkpoints" / "last.ckpt").absolute()
    best = read_checkpoint(results["best_checkpoint"], "test")
    assert best["global_step"] < 12, "with lr=1e-30 val/loss stops improving early; best stays behind"
    mode = stat.S_IMODE((run / "results.json").stat().st_mode)
    assert mode & 0o044 == 0o044 & ~_umask(), f"results.json mode {oct(mode)}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- bad input: one line, exit 2, no traceback, no folder ---------------------------------------------------------
LATIN1_CSV = b"text,label\nun film tr\xe8s r\xe9ussi,pos\nennuyeux,neg\n"


# each class of bad input once in a process of its own (exit code, nothing else on stderr), the rest in-process
@pytest.mark.parametrize(
    ("args", "key", "run"),
    [
        (["trainer.max_steps=abc"], "trainer.max_steps", run_cli),
        (["seed=abc"], "seed", run_inprocess),
        (["trainer.val_check_interval=0"], "trainer.val_check_interval", run_inprocess),
        (FAILS_IN_FIT, "trainer.val_check_interval", run_cli),
        (
            ["trainer.val_check_interval=0.5", "trainer.check_val_every_n_epoch=null"],
            "trainer.val_check_interval",
            run_inprocess,
        ),
        (["trainer.max_steps=-1", "trainer.max_epochs=-1", "optimizer.schedule=cosine"], "optimizer.schedule", run_cli),
        (["hydra.run.dir=/proc/seqlab-run"], "hydra.run.dir", run_cli),
        (["task=sentiment", "task.data.path=LATIN1", "task.data.test_path=LATIN1"], "task.data.path", run_cli),
        (["task=forecast", "task.data.path=LATIN1", "task.data.target=label"], "task.data.path", run_inprocess),
        (["task.data.path=SHORT"], "task.data.path", run_inprocess),
        (["task=sentiment", "task.data.path=NOLABEL", "task.data.test_path=NOLABEL"], "task.data.path", run_inprocess),
    ],
)
def test_bad_input_is_one_line(tmp_path, tiny_corpus, args, key, run):
    (tmp_path / "latin1.csv").write_bytes(LATIN1_CSV)
    (tmp_path / "short.txt").write_text("ROMEO: hi")
    (tmp_path / "nolabel.csv").write_text("text,label\ngood film,pos\nbad film,\n")
    files = {"LATIN1": "latin1.csv", "SHORT": "short.txt", "NOLABEL": "nolabel.csv"}
    for name, file in files.items():
        args = [a.replace(name, str(tmp_path / file)) for a in args]
    base = TINY
    if any(a.startswith("task=") for a in args):  # other tasks: the run keys of TINY, not its char-LM keys
        base = [a for a in TINY if not a.startswith("task.")]
    elif not any(a.startswith("task.data.path") for a in args):
        args.append(f"task.data.path={tiny_corpus}")
    proc = run([*base, *args], cwd=tmp_path)
    assert_one_line_error(proc, key)
    assert not (tmp_path / "outputs").exists()
    if "SHORT" in str(args) or "short.txt" in str(args):
        assert "val split has 0 characters" in proc.stderr and "longer text" in proc.stderr
    if "nolabel" in str(args):
        assert "line 3 has an empty label" in proc.stderr


@pytest.fixture
def finished_run(tmp_path, tiny_corpus) -> Path:
    proc = run_inprocess([*TINY, f"task.data.path={tiny_corpus}", "hydra.run.dir=done"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tmp_path / "done"


def test_resume_from_a_checkpoint_of_another_shape_or_a_damaged_one_is_one_line(tmp_path, tiny_corpus, finished_run):
    base = [*TINY, f"task.data.path={tiny_corpus}"]
    proc = run_inprocess([*base, "model.hidden_size=24", f"resume={finished_run}"], cwd=tmp_path)
    assert_one_line_error(proc, "resume")
    assert "shape" in proc.stderr
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes((finished_run / "checkpoints" / "last.ckpt").read_bytes()[:5000])
    proc = run_inprocess([*base, f"resume={cut}"], cwd=tmp_path)
    assert_one_line_error(proc, "resume")
    assert not (tmp_path / "outputs").exists()


def test_resume_latest_takes_only_a_run_of_the_same_config(tmp_path, tiny_corpus):
    base = [*TINY, f"task.data.path={tiny_corpus}", "trainer.max_steps=3"]
    assert run_inprocess([*base, "optimizer.lr=0.01"], cwd=tmp_path).returncode == 0
    time.sleep(1.1)
    assert run_inprocess([*base, "optimizer.lr=0.02"], cwd=tmp_path).returncode == 0
    (older, newer) = sorted(run_dirs(tmp_path), key=lambda d: (d / "checkpoints" / "last.ckpt").stat().st_mtime)
    proc = run_inprocess([*base, "optimizer.lr=0.01", "trainer.max_steps=6", "resume=latest"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    resumed = max(run_dirs(tmp_path), key=lambda d: d.stat().st_mtime)
    results = json.loads((resumed / "results.json").read_text())
    assert Path(results["resumed_from"]).parent.parent.absolute() == older.absolute()
    proc = run_inprocess([*base, "optimizer.lr=0.03", "resume=latest"], cwd=tmp_path)
    assert_one_line_error(proc, "resume")
    assert "optimizer.lr" in proc.stderr and "differs" in proc.stderr


# ---- interruption ---------------------------------------------------------------------------------------------------
@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
def test_ctrl_c_saves_the_state_and_resuming_ends_where_an_uninterrupted_run_ends(tmp_path, tiny_corpus):
    args = [
        *TINY,
        f"task.data.path={tiny_corpus}",
        "task.tbptt_steps=16",
        "trainer.max_steps=150",
        "trainer.val_check_interval=5",
        "trainer.limit_val_batches=1",
        "task.sample.every_n_val=0",
    ]
    assert run_inprocess([*args, "hydra.run.dir=whole"], cwd=tmp_path).returncode == 0
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqlab", *args, "hydra.run.dir=cut"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # somewhere between two validations
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-2000:]
    assert "Traceback" not in out
    cut = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert cut["interrupted"] is True and 0 < cut["optimizer_steps"] < 150
    assert "test/loss" in cut, "an interrupted run still scores its best checkpoint on the test set"
    assert read_checkpoint(first, "test")["global_step"] == cut["optimizer_steps"]
    proc = run_inprocess([*args, "resume=cut", "hydra.run.dir=resumed"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "results.json").read_text())
    assert resumed["optimizer_steps"] == whole["optimizer_steps"] == 150
    assert resumed["val/loss"] == pytest.approx(whole["val/loss"], abs=1e-6)
