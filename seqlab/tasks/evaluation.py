"""Scoring a trained run on a test set: the task's DataModule rebuilt from the run's saved config with
``task.data.*`` keys replaced, its test split encoded with the run's own vocabularies and tokenizers (a word the run
never saw reads as ``<unk>``), and the module's own test step run by a one-device trainer with logging off (what a
test step draws, such as plots, goes to a temporary folder and is not kept: nothing is written into the run or the
working folder).

A task's inference class names what its data module would otherwise learn from the new file
(:meth:`seqlab.tasks.inference.Inference.trained_builds`): while the data module prepares, those builders return the
run's trained objects, in the order the data module asks for them.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from seqlab.errors import ConfigError

DATA_PREFIX = "task.data."


def data_overrides(config: Any, overrides: Mapping[str, Any] | None) -> Any:
    """A copy of the run's composed config with ``overrides`` (``task.data.*`` keys it has) applied; ConfigError
    naming the first key outside ``task.data`` or unknown to the run."""
    from omegaconf import OmegaConf

    cfg = copy.deepcopy(config)
    known = sorted(f"{DATA_PREFIX}{k}" for k in OmegaConf.to_container(cfg.task.data, resolve=False))
    for key, value in (overrides or {}).items():
        if not key.startswith(DATA_PREFIX) or OmegaConf.select(cfg, key, default=_MISSING) is _MISSING:
            raise ConfigError(key, "not a data key of this run", allowed=known)
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg


_MISSING = object()


@contextlib.contextmanager
def trained_builds(builds: list[tuple[Any, str, list[Any]]]) -> Iterator[None]:
    """While open, each ``owner.name(...)`` returns the next of its ``values`` instead of building from the data."""
    saved = []
    try:
        for owner, name, values in builds:
            queue = list(values)
            saved.append((owner, name, owner.__dict__[name]))

            def trained(*_args: Any, _queue: list[Any] = queue, _name: str = name, **_kwargs: Any) -> Any:
                if not _queue:
                    raise RuntimeError(f"{_name} was called more often than the run has trained objects")
                return _queue.pop(0)

            setattr(owner, name, staticmethod(trained) if isinstance(owner, type) else trained)
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def test_metrics(run: Any, overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
    """The run's ``test/*`` metrics on the test split of its data with ``overrides`` (``task.data.*``) applied."""
    import pytorch_lightning as pl

    from seqlab import registry

    cfg = data_overrides(run.config, overrides)
    task_cls = registry.get_task(str(cfg.task.name))
    if type(run.module).test_step is pl.LightningModule.test_step:
        raise ConfigError("ckpt_path", f"task '{task_cls.name}' has no test step to score")
    with trained_builds(run.trained_builds()):
        _, data = task_cls.build(cfg)
    with tempfile.TemporaryDirectory(prefix="seqlab-evaluate-") as scratch:  # test-time plots land here, unkept
        trainer = pl.Trainer(
            accelerator="gpu" if str(run.device).startswith("cuda") else "cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=scratch,
            limit_test_batches=cfg.trainer.get("limit_test_batches", 1.0),
        )
        try:
            (logged,) = trainer.test(run.module, datamodule=data, verbose=False)
        finally:
            run.module.eval()
    return {k: float(v) for k, v in sorted(logged.items()) if k.startswith("test/")}
