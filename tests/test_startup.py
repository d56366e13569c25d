"""Start-up: a typo, ``--help`` and ``python -m seqlab.plugins`` answer without importing torch or Lightning; a config
error found by validation (which needs torch for the meta-device build) imports no Lightning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.config import trainer_args
from seqlab.tasks.base import LazyClass, Task

HEAVY = ("torch", "pytorch_lightning", "lightning_fabric", "torchmetrics", "matplotlib", "wandb", "optuna")
# what pre-flight may not import even when validation builds the model on the meta device (torch is allowed)
LIGHTNING_AND_CO = (*HEAVY[1:], "lightning", "sklearn", "sacrebleu", "tensorboard")
BIG_BIDIRECTIONAL = ["model.hidden_size=4096", "model.num_layers=4", "model.bidirectional=true"]
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


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (BIG_BIDIRECTIONAL, "seqlab: error: model.bidirectional: a bidirectional model cannot be the causal "),
        (["model=bow"], "seqlab: error: model: 'bow' cannot serve task 'charlm' "),
    ],
)
def test_a_config_error_imports_no_lightning(args, stderr, tmp_path):
    """Issue 25: the 4 x 4096 bidirectional error (and a capability mismatch, which loads every model, plugins'
    too) is one line, exit 2, and pre-flight never imports Lightning (seconds of the answer's time)."""
    proc, imported = probe("seqlab", args, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(stderr), proc.stderr
    assert "torch" in imported  # the check did run: validation builds the model on the meta device
    assert not imported & set(LIGHTNING_AND_CO), sorted(imported & set(LIGHTNING_AND_CO))
    assert not (tmp_path / "outputs").exists()


# pre-flight of one command line per installed task (its check included), in one fresh process: the keys of the
# ConfigErrors (or "ok") and the top-level packages the process imported
PREFLIGHT_EVERY_TASK = """
import json, sys
from seqlab import registry
from seqlab.api import ConfigError, DataError
from seqlab.config.preflight import preflight
answers = {}
for name in registry.names("task"):
    try:
        preflight([f"task={name}", "model.bidirectional=true", "trainer.max_steps=2"])
        answers[name] = "ok"
    except ConfigError as exc:
        answers[name] = exc.key
    except DataError:  # its data set is not in $SEQLAB_DATA_DIR here: the check ran as far as the data
        answers[name] = "data"
print(json.dumps({"answers": answers, "imported": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_every_task_check_runs_without_lightning(tmp_path):
    """Each task's class and check (built-in and installed plugins) import no Lightning: their module and data
    classes are imported by build, and module_class is resolved when first read."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.run(
        [sys.executable, "-c", PREFLIGHT_EVERY_TASK], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"charlm", "wordlm", "sentiment", "translate", "caption", "adding"} <= set(report["answers"])
    assert report["answers"]["charlm"] == "model.bidirectional"  # the causal check ran
    assert "task.name" not in report["answers"].values(), report["answers"]  # every task class imported
    assert "torch" in report["imported"]
    assert not set(report["imported"]) & set(LIGHTNING_AND_CO), sorted(set(report["imported"]) & set(LIGHTNING_AND_CO))


class _LazyTask(Task):
    module_class = "seqlab.tasks.sequence_module:SequenceModule"


class _EagerTask(Task):
    module_class = LazyClass  # any class: a plugin that gives the class itself keeps working


def test_module_class_may_be_a_path_resolved_on_first_read():
    from seqlab.tasks.sequence_module import SequenceModule

    assert isinstance(_LazyTask.__dict__["module_class"], LazyClass)
    assert _LazyTask.module_class is SequenceModule and _LazyTask().module_class is SequenceModule
    assert _EagerTask.module_class is LazyClass
    with pytest.raises(ValueError, match="package.module:Class"):
        LazyClass("seqlab.tasks.sequence_module.SequenceModule")
