"""``python -m seqlab`` as a user runs it: a run folder with everything in it, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, run_cli, run_dirs, run_inprocess

ROOT = Path(__file__).resolve().parents[1]


def test_main_job_writes_a_complete_run_folder(tmp_path, tiny_corpus):
    proc = run_inprocess(
        ["model=lstm", "task=charlm", f"task.data.path={tiny_corpus}", *TINY, "trainer.enable_progress_bar=true"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    assert run_dir.is_relative_to(tmp_path / "outputs")
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert any(p.name.startswith("best") for p in (run_dir / "checkpoints").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    assert {"val/loss", "val/bpc", "test/loss", "test/bpc", "tokens_per_second"} <= set(results)
    assert "----- sample" in proc.stdout + proc.stderr  # generated text at validation
    gen = run_inprocess(
        [f"ckpt_path={run_dir}", "prompt=JULIET:", "length=30", "seed=1"], cwd=tmp_path, module="seqlab.generate"
    )
    assert gen.returncode == 0, gen.stderr
    assert gen.stdout.startswith("JULIET:")


# a process where no other test starts one for the class (unknown option and key: test_startup.py; a wrong type:
# test_reliability.py), the rest in-process
@pytest.mark.parametrize(
    ("args", "key", "run"),
    [
        (["model=lstmx"], "model", run_inprocess),
        (["model.hidden_sizex=3"], "model.hidden_sizex", run_inprocess),
        (["model.hidden_size=abc"], "model.hidden_size", run_inprocess),
        (["model.bidirectional=true"], "model.bidirectional", run_cli),
        (["task.data.path=/no/such/file.txt"], "task.data.path", run_cli),
        (["task.data.path=EMPTY"], "task.data.path", run_inprocess),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_no_run_folder(tmp_path, args, key, run):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    args = [a.replace("EMPTY", str(empty)) for a in args]
    proc = run([*TINY, *args], cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert lines == [lines[-1]] and lines[0].startswith(f"seqlab: error: {key}:"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_help_lists_every_group_option(tmp_path):
    proc = run_inprocess(["--help"], cwd=tmp_path)
    assert proc.returncode == 0
    for line in (
        "model: ",
        "task: ",
        "optimizer: adam, adamw, asgd, ntasgd, sgd",
        "hardware: ",
        "logger: csv, none, tensorboard, wandb",
    ):
        assert line in proc.stdout
    models = next(line for line in proc.stdout.splitlines() if line.startswith("model: "))
    assert {"rnn", "lstm", "gru"} <= {m.strip() for m in models[len("model: ") :].split(",")}


def test_regular_install_works_from_any_directory(tmp_path):
    """Build the wheel, install it (no deps) into a folder, and run from elsewhere: conf/ ships in the wheel."""
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheel_dir),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheel_dir.glob("seqlab-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import seqlab.conf; print(seqlab.conf.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
    )
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    proc = run_cli(["--help"], cwd=elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "model: " in proc.stdout and "charlm" in proc.stdout
