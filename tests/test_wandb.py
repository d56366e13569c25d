"""logger=wandb without a key or network runs offline, writes its run files, finishes, and resumes the same run."""

from __future__ import annotations

import json

from conftest import TINY, compose_config

from seqlab.run.job import run
from seqlab.training.loggers import WANDB_ID_FILE, wandb_mode


def test_auto_mode_is_offline_without_a_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert wandb_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode("auto") == "online"
    assert wandb_mode("disabled") == "disabled"


def test_offline_run_writes_files_finishes_and_resume_keeps_the_run_id(monkeypatch, tmp_path, tiny_corpus):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    overrides = [*TINY, "logger=wandb", f"task.data.path={tiny_corpus}"]
    first = tmp_path / "first"
    run(compose_config([*overrides, "trainer.max_steps=6"]), first)
    assert wandb.run is None  # the run was finished
    run_id = (first / WANDB_ID_FILE).read_text().strip()
    (offline,) = (first / "wandb").glob(f"offline-run-*-{run_id}")
    assert (offline / f"run-{run_id}.wandb").stat().st_size > 0
    config = json.loads((first / "results.json").read_text())
    assert config["model"] == "lstm"
    second = tmp_path / "second"
    run(compose_config([*overrides, "trainer.max_steps=9", f"resume={first}"]), second)
    assert (second / WANDB_ID_FILE).read_text().strip() == run_id
    assert list((second / "wandb").glob(f"offline-run-*-{run_id}"))
