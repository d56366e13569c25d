"""Task ``translate`` as users run it at scale (slow): DDP on two CPU processes, a multirun sweep, resume."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli, run_dirs

pytestmark = pytest.mark.slow

SMALL = [
    "task=translate_digits",
    "model=gru",
    "model.hidden_size=16",
    "model.num_layers=1",
    "task.decoder.hidden_size=16",
    "task.decoder.embedding_dim=8",
    "task.embedding_dim=8",
    "task.data.synthetic_pairs=300",
    "task.batch_size=16",
    "task.decode.beam_size=2",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
]


def test_ddp_decodes_each_test_sentence_once_and_scores_over_all_ranks(tmp_path):
    proc = run_cli([*SMALL, "hardware=ddp_cpu"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["world_size"] == 2
    # every test source decoded once (by one rank), all scored together: as many as the split holds
    from omegaconf import OmegaConf

    from seqlab.tasks.base import task_config
    from seqlab.tasks.translate.data import TranslationDataModule

    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    data = TranslationDataModule(task_config(cfg))
    data.prepare()
    assert results["sacrebleu"]["test"]["sentences"] == len(data.references("test"))
    assert 0.0 <= results["test/bleu"] <= 100.0


def test_a_sweep_over_attention_and_reversal_runs_every_job(tmp_path):
    proc = run_cli(
        ["-m", *SMALL, "task.decoder.attention=none,bahdanau", "task.reverse_source=false,true"], cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = run_dirs(tmp_path)
    assert len(jobs) == 4
    seen = set()
    for job in jobs:
        cfg = (job / ".hydra" / "overrides.yaml").read_text().lower()
        results = json.loads((job / "results.json").read_text())
        assert "test/bleu" in results
        seen.add(("attention=bahdanau" in cfg, "reverse_source=true" in cfg))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def test_resume_continues_a_translation_run(tmp_path):
    first = run_cli([*SMALL, "hydra.run.dir=first"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    steps = json.loads((tmp_path / "first" / "results.json").read_text())["optimizer_steps"]
    again = run_cli([*SMALL, "trainer.max_epochs=2", "resume=first", "hydra.run.dir=second"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    results = json.loads((tmp_path / "second" / "results.json").read_text())
    assert results["optimizer_steps"] == 2 * steps and results["resumed_from"]
