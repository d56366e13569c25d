"""Task ``caption`` as users run it at scale (slow): DDP on two CPU processes, a multirun sweep, resume."""

from __future__ import annotations

import json
import math

import pytest
from conftest import run_cli, run_dirs

pytestmark = pytest.mark.slow

SMALL = [
    "task=caption",
    "model=gru",
    "model.hidden_size=16",
    "model.num_layers=1",
    "task.data.scenes.num_train=120",
    "task.data.scenes.num_val=30",
    "task.data.scenes.num_test=31",  # odd: two ranks get unequal shares
    "task.image_encoder.width=8",
    "task.decoder.embedding_dim=8",
    "task.decoder.attention_size=8",
    "task.decode.val_images=10",
    "task.decode.show=2",
    "task.decode.beam_size=2",
    "task.batch_size=16",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
]


def test_ddp_captions_each_test_image_once_and_scores_as_one_process_does(tmp_path):
    proc = run_cli([*SMALL, "hardware=ddp_cpu"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["world_size"] == 2

    from seqlab.checkpoint import load_module
    from seqlab.tasks.caption.data import CaptionDataModule

    module = load_module(results["best_checkpoint"] or run_dir)
    items = CaptionDataModule(module.task).references("test")
    assert results["test/captioned"] == len(items) == 31
    alone = module.score_images(items)  # the same checkpoint decoding every test image in this one process
    assert {"bleu4", "cider", "attributes", "heldout_bleu4", "seen_cider"} <= set(alone)
    for key, value in alone.items():
        assert math.isclose(results[f"test/{key}"], value, rel_tol=1e-5, abs_tol=1e-7), key
    assert list((run_dir / "captions").glob("val_step_*.png"))  # pictures drawn once, by rank 0


def test_the_issue_sweep_over_attention_and_cell_runs_every_job(tmp_path):
    from omegaconf import OmegaConf

    small = [arg for arg in SMALL if not arg.startswith("model=")]
    proc = run_cli(["-m", *small, "task.decoder.attention=none,soft", "model=gru,lstm"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = run_dirs(tmp_path)
    assert len(jobs) == 4
    seen = set()
    for job in jobs:
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        results = json.loads((job / "results.json").read_text())
        assert 0.0 <= results["test/bleu4"] <= 1.0 and results["test/captioned"] == 31
        seen.add((cfg.task.decoder.attention, cfg.model.name))
    assert seen == {("none", "gru"), ("none", "lstm"), ("soft", "gru"), ("soft", "lstm")}


def test_resume_continues_a_caption_run(tmp_path):
    first = run_cli([*SMALL, "hydra.run.dir=first"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    steps = json.loads((tmp_path / "first" / "results.json").read_text())["optimizer_steps"]
    again = run_cli([*SMALL, "trainer.max_epochs=2", "resume=first", "hydra.run.dir=second"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    results = json.loads((tmp_path / "second" / "results.json").read_text())
    assert results["optimizer_steps"] == 2 * steps and results["resumed_from"]
