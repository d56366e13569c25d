"""Start-up: a typo, ``--help`` and ``python -m seqlab.plugins`` answer without importing torch or Lightning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.config import trainer_args

HEAVY = ("torch", "pytorch_lightning", "lightning_fabric", "torchmetrics", "matplotlib", "wandb", "optuna")
# runs ``python -m MODULE ARGS`` and, at exit, writes the names of every module it imported to $SEQLAB_MODULES_OUT
PROBE = """
import atexit, os, runpy, sys
atexit.register(lambda: open(os.environ["SEQLAB_MODULES_OUT"], "w").write("\\n".join(sorted(sys.modules))))
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
"""


def probe(module: str, args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -m module args`` in ``tmp_path``; return the process and the top-level packages it imported."""
    out = tmp_path / "modules.txt"
    env = {**os.environ, "WANDB_MODE": "disabled", "SEQLAB_MODULES_OUT": str(out)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, module, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
    )
    return proc, {name.split(".")[0] for name in out.read_text().split()}


@pytest.mark.parametrize(
    ("module", "args", "code", "stderr"),
    [
        ("seqlab", ["model=lstmx"], 2, "seqlab: error: model: unknown option 'lstmx' (allowed: "),
        ("seqlab", ["model.hiden_size=3"], 2, "seqlab: error: model.hiden_size: unknown key (allowed: "),
        ("seqlab", ["--help"], 0, None),
        ("seqlab.plugins", [], 0, None),
    ],
)
def test_nothing_heavy_is_imported(module, args, code, stderr, tmp_path):
    proc, imported = probe(module, args, tmp_path)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    if stderr is not None:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(stderr), proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_help_shows_the_keys_of_the_chosen_options(tmp_path):
    default, _ = probe("seqlab", ["--help"], tmp_path)
    chosen, imported = probe("seqlab", ["model=gru", "task=sentiment", "--help"], tmp_path)
    assert chosen.returncode == 0, chosen.stderr[-2000:]
    assert "== Config (model=gru, task=sentiment) ==" in chosen.stdout
    assert "  bucket_batches: " in chosen.stdout and "  bucket_batches: " not in default.stdout  # sentiment only
    assert "model=gru task=sentiment --help" in default.stdout  # the header says how
    assert not imported & set(HEAVY)


def test_help_refuses_a_typo_and_a_sweep_in_one_line(tmp_path):
    for args, start in (
        (["task=sentimentx", "--help"], "task: unknown option"),
        (["-m", "model=gru,lstm", "--help"], "model: --help shows one config"),
    ):
        proc, _ = probe("seqlab", args, tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"seqlab: error: {start}"), proc.stderr


def test_trainer_arguments_read_from_source_match_the_signature():
    """The Trainer's arguments are parsed from Lightning's source (no import); the signature must agree."""
    from_source = trainer_args.config_keys(trainer_args._params_from_source())
    from_signature = trainer_args.config_keys(trainer_args._params_from_signature())
    assert list(from_source.items()) == list(from_signature.items())
    assert trainer_args.trainer_defaults()["max_steps"] == -1
