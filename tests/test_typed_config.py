"""One reading of the config: validation builds the typed configs once, modules read those (their defaults, not
defaults of their own), nothing is built at full size to check a config, and a run says which limit stops it."""

from __future__ import annotations

import json
import logging
import resource
import sys
import time

import pytest
from conftest import TINY, compose_config
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

import seqlab.config.job as job_module
import seqlab.config.validate as validate_module
from seqlab.config.job import JobConfig, job_config
from seqlab.config.validate import validate
from seqlab.errors import ConfigError
from seqlab.tasks.charlm.config import CharLMConfig
from seqlab.tasks.charlm.module import CharLMModule
from seqlab.training.stop_notice import stop_line

VOCAB = list("\nabcdefgh ")
BIG = ["model.hidden_size=2048", "model.num_layers=4", "model.bidirectional=true"]  # about 1 GB of weights


def test_a_task_node_without_carry_state_carries_it_as_charlm_config_says(one_thread):
    """The TBPTT loop used to read ``task.get("carry_state", False)``: a char LM whose node lacks the key (a config
    written before the key existed, or composed by hand) trained without carrying its state."""
    cfg = compose_config(["model.hidden_size=8", "model.num_layers=1"])
    with open_dict(cfg):
        for key in ("carry_state", "tbptt_accumulate", "embedding_dim"):
            del cfg.task[key]
    module = CharLMModule(cfg, VOCAB)
    assert CharLMConfig.carry_state is True
    assert module.carry_state is True
    assert module.embedding.embedding_dim == CharLMConfig.embedding_dim


def test_the_module_reads_the_typed_config_validation_built(one_thread):
    job = validate(compose_config(["task=wordlm", "model.hidden_size=8", "model.num_layers=1", "task.ar=0.5"]))
    assert isinstance(job, JobConfig) and job.task.ar == 0.5 and job.task.softmax == "full"
    from seqlab.tasks.wordlm.module import WordLMModule

    module = WordLMModule(job, ["<pad>", "<unk>", "<eos>", "a", "b"])
    assert module.job is job and module.task is job.task
    assert module.ar == 0.5 and module.tar == job.task.tar
    assert job.seed == job.raw.seed  # other keys read the composed config


def test_what_the_run_reads_of_a_module_and_its_loggers_is_a_contract(one_thread):
    """run/job.py asks the module for ``model_parameters()`` (its ``encoder``'s trainable parameters, None without
    one) and the JobConfig for ``logger_kinds`` (the ``logger`` group's choice), instead of probing attributes or
    class names."""
    job = validate(compose_config(["task=wordlm", "model.hidden_size=8", "model.num_layers=1", "logger=[csv,wandb]"]))
    assert job.logger_kinds == ["csv", "wandb"]
    assert validate(compose_config(["logger=none"])).logger_kinds == []
    from seqlab.tasks.wordlm.module import WordLMModule

    module = WordLMModule(job, ["<pad>", "<unk>", "<eos>", "a", "b"])
    assert module.model_parameters() == module.encoder.num_parameters() > 0
    del module.encoder
    assert module.model_parameters() is None


def test_a_saved_config_with_a_key_the_schema_dropped_still_builds_its_module(one_thread):
    """A checkpoint's config keeps the keys of the seqlab that wrote it: a key since removed is left out (a run's
    own config with that key is refused by validation, naming it)."""
    cfg = compose_config(["model.hidden_size=8", "model.num_layers=1"])
    with open_dict(cfg):
        cfg.task.retired_key = 3
    saved = OmegaConf.to_container(cfg, resolve=True)
    module = CharLMModule(saved, VOCAB)
    assert not hasattr(module.task, "retired_key") and module.task.seq_len == cfg.task.seq_len
    with pytest.raises(ConfigError) as refused:
        validate(cfg)
    assert refused.value.key == "task.retired_key"


def test_validation_runs_once_per_job_in_process(tmp_path, tiny_corpus, monkeypatch, one_thread):
    """``python -m seqlab ...`` in this process: pre-flight validates, the run takes its JobConfig."""
    builds, checks = [], []
    real_build = job_module.build_job
    real_check = validate_module.dry_build

    def counted_build(cfg, *args, **kwargs):
        builds.append(cfg.task.name)
        return real_build(cfg, *args, **kwargs)

    def counted_check(check):
        checks.append(check)
        return real_check(check)

    monkeypatch.setattr(job_module, "build_job", counted_build)
    monkeypatch.setattr(validate_module, "build_job", counted_build)
    monkeypatch.setattr(validate_module, "dry_build", counted_check)
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    argv = [*TINY, f"task.data.path={tiny_corpus}", "logger=none", "hardware.threads=1", f"hydra.run.dir={run_dir}"]
    monkeypatch.setattr(sys, "argv", ["seqlab", *argv])
    GlobalHydra.instance().clear()
    from seqlab.cli.command import main

    try:
        main()
    finally:
        GlobalHydra.instance().clear()
        logging.getLogger().handlers.clear()
    assert json.loads((run_dir / "results.json").read_text())["optimizer_steps"] == 6
    assert builds == ["charlm"], "the typed config is built once, by pre-flight's validation"
    assert len(checks) == 1, "the model is checked once (pre-flight), not again by the run"


def test_a_config_validated_elsewhere_is_validated_again_by_its_run(monkeypatch):
    validate(compose_config(["model.hidden_size=8"]))
    called = []
    monkeypatch.setattr(validate_module, "validate", lambda cfg: called.append(cfg) or job_config(cfg))
    other = compose_config(["model.hidden_size=16"])
    validate_module.validated_job(other)
    assert called == [other]


def test_a_large_model_is_checked_on_the_meta_device(monkeypatch):
    """A config error on a 4 x 2048 bidirectional LSTM (about 1 GB of weights) allocates none of it."""
    from seqlab.models.recurrent import RecurrentEncoder

    devices = []
    real_init = RecurrentEncoder.__init__

    def recording_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        devices.append(next(self.parameters()).device.type)

    monkeypatch.setattr(RecurrentEncoder, "__init__", recording_init)
    cfg = compose_config(BIG)  # task=charlm is causal: a bidirectional model is refused
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.perf_counter()
    with pytest.raises(ConfigError) as refused:
        validate(cfg)
    seconds = time.perf_counter() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert refused.value.key == "model.bidirectional"
    assert devices == ["meta"]
    assert grown_mb < 300, f"validation grew the peak memory by {grown_mb:.0f} MB"
    assert seconds < 10  # a real build takes longer; the bound is loose for a loaded machine


def test_a_model_that_cannot_be_built_on_meta_is_checked_on_the_cpu(monkeypatch):
    """A plugin model whose ``__init__`` reads a tensor's value fails on the meta device: it is built for real."""
    from seqlab.models.recurrent import RecurrentEncoder

    devices = []
    real_init = RecurrentEncoder.__init__

    def value_reading_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        float(next(self.parameters()).sum())  # no value on meta: raises there
        devices.append(next(self.parameters()).device.type)

    monkeypatch.setattr(RecurrentEncoder, "__init__", value_reading_init)
    validate(compose_config(["model.hidden_size=8", "model.num_layers=1"]))
    assert devices == ["cpu"]


def test_the_task_checks_build_on_meta_too():
    """translate measures the encoder and builds the decoder to check them: on the meta device, at any size."""
    cfg = compose_config(["task=translate", *BIG, "task.decoder.hidden_size=4096", "task.bridge=project"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    job = validate(cfg)  # a real build: over 1.5 GB (encoder and decoder)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert job.model.hidden_size == 2048
    assert grown_mb < 300, f"validation grew the peak memory by {grown_mb:.0f} MB"


def test_the_stop_line_names_the_limit_that_ends_the_run():
    line = stop_line(max_epochs=10, max_steps=1500, steps_per_epoch=94)
    assert line.startswith("stops after trainer.max_epochs=10 (about 940 optimizer steps), before trainer.max_steps")
    assert stop_line(10, 500, 94) == "stops at trainer.max_steps=500 (about 5.3 epochs), before trainer.max_epochs=10"
    assert stop_line(10, 6, 4000).startswith("stops at trainer.max_steps=6 (of about 4000 in an epoch)")
    assert stop_line(10, -1, 94) is None and stop_line(-1, 1500, 94) is None
    assert "whichever comes first" in stop_line(10, 1500, float("inf"))


def test_a_run_says_at_start_that_its_epochs_stop_it_before_the_step_cap(tmp_path, caplog, one_thread):
    from seqlab.run.job import run

    cfg = compose_config(
        [
            "task=copy",
            "model.hidden_size=8",
            "model.num_layers=1",
            "task.batch_size=4",
            "task.data.train_size=16",
            "task.data.val_size=8",
            "task.data.test_size=8",
            "trainer.max_epochs=2",
            "trainer.max_steps=1500",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "logger=none",
            "test=false",
        ]
    )
    with caplog.at_level(logging.INFO, logger="seqlab.training.stop_notice"):
        results = run(cfg, tmp_path / "run")
    lines = [r.getMessage() for r in caplog.records if r.name == "seqlab.training.stop_notice"]
    assert lines == [
        "stops after trainer.max_epochs=2 (about 8 optimizer steps), before trainer.max_steps=1500; "
        "raise trainer.max_epochs (or set it to -1) to train 1500 steps"
    ]
    assert results["optimizer_steps"] == 8
