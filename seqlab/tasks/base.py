"""The task contract: a config schema, the checks it makes, and how it builds its module and data.

``check`` and ``build`` receive the job's :class:`~seqlab.config.job.JobConfig` (``cfg.task`` and ``cfg.model`` are
the typed dataclasses validation built; any other key reads the composed config); the helpers here also accept a
composed DictConfig (tests, tools). A task never imports a model: it asks :func:`build_model` (the registry) for the
one the config names.

Pre-flight (``python -m seqlab ...`` before Hydra starts the job) imports a task's class to call ``check``; it must
not import Lightning (seconds), so this module names Lightning's types for the type checker only, and a task may give
``module_class`` as a ``"package.module:Class"`` string, imported on first use (:class:`LazyClass`).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any, ClassVar

from omegaconf import DictConfig

from seqlab import registry
from seqlab.config.job import JobConfig, job_config
from seqlab.config.schema import to_dataclass
from seqlab.errors import ConfigError
from seqlab.models.base import SequenceModel
from seqlab.models.capabilities import Capabilities, Needs
from seqlab.old_paths import keep_old_paths
from seqlab.tasks.inference import Inference

if TYPE_CHECKING:
    import pytorch_lightning as pl


class LazyClass:
    """A class attribute naming a class as ``"package.module:Class"``: reading it imports the module (once) and
    gives the class, so a task's module (and Lightning) is imported only when a run or a checkpoint needs it."""

    def __init__(self, path: str) -> None:
        module, sep, name = path.partition(":")
        if not sep or not module or not name:
            raise ValueError(f"module_class: '{path}' is not 'package.module:Class'")
        self.path = path
        self._resolved: type | None = None

    def __get__(self, instance: object, owner: type | None = None) -> type:
        if self._resolved is None:
            module, _, name = self.path.partition(":")
            self._resolved = getattr(importlib.import_module(module), name)
        return self._resolved

    def __repr__(self) -> str:
        return f"LazyClass({self.path!r})"


class Task:
    """Subclasses set ``name``, ``Config`` (a dataclass), ``module_class`` (the LightningModule class, or its
    ``"package.module:Class"`` path, imported when first read) and implement ``build`` (importing its module and
    data classes inside, so ``check`` runs without Lightning)."""

    name: ClassVar[str] = "?"  # defaults to ``Config.name``'s default: the name is written once, in the schema
    Config: ClassVar[type]
    module_class: ClassVar[type[pl.LightningModule]]  # a "package.module:Class" string becomes a LazyClass
    causal: ClassVar[bool] = False  # predicts step t from steps <= t: needs a unidirectional model
    tbptt_key: ClassVar[str] = "task.tbptt_steps"
    # what the `model` role must offer (seqlab/models/capabilities.py); causal comes from `causal` above
    needs: ClassVar[Needs] = Needs()
    # what a trained run offers through seqlab.load (generate, translate, ...): seqlab/tasks/inference.py
    inference: ClassVar[type[Inference]] = Inference

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("module_class"), str):
            cls.module_class = LazyClass(cls.__dict__["module_class"])  # type: ignore[assignment]
        config = cls.__dict__.get("Config")
        if "name" not in cls.__dict__ and config is not None:
            default = {f.name: f.default for f in dataclasses.fields(config)}.get("name")
            if isinstance(default, str):
                cls.name = default

    @classmethod
    def model_needs(cls, cfg: JobConfig | DictConfig) -> Needs:
        """The needs of this run's model (a task whose needs depend on its keys overrides this)."""
        return cls.needs

    @classmethod
    def check(cls, cfg: JobConfig | DictConfig) -> None:
        """Raise ConfigError for combinations this task cannot run (called before anything heavy): a model that
        cannot serve the task, a bidirectional model for a causal task, truncated BPTT where it cannot work."""
        check_model_serves(cls, cfg)
        if cls.causal and is_bidirectional(cfg):
            raise ConfigError(
                "model.bidirectional",
                f"a bidirectional model cannot be the causal language model of task '{cls.name}' "
                "(it would read the characters it must predict)",
                allowed=[False],
            )
        check_tbptt_applies(cfg)

    @classmethod
    def build(cls, cfg: JobConfig | DictConfig) -> tuple[pl.LightningModule, pl.LightningDataModule]:
        raise NotImplementedError


def task_config(cfg: JobConfig | DictConfig) -> Any:
    """The typed task config of a run (the one validation built when ``cfg`` is the job's JobConfig)."""
    return job_config(cfg).task


def is_bidirectional(cfg: JobConfig | DictConfig) -> bool:
    """Whether the run's model reads its input both ways (``bidirectional``: a key models may lack, False then)."""
    return bool(getattr(job_config(cfg).model, "bidirectional", False))


def build_model(model_cfg: Any, input_size: int) -> SequenceModel:
    """The sequence model the config names, built through the registry: ``model_cfg`` is the typed model config
    (``JobConfig.model``) or a ``model`` node."""
    if dataclasses.is_dataclass(model_cfg):
        return registry.get_model(model_cfg.name)(input_size, model_cfg)
    model_cls = registry.get_model(model_cfg["name"])
    return model_cls(input_size, to_dataclass(model_cls.Config, model_cfg, "model"))


def check_model_serves(task_cls: type[Task], cfg: JobConfig | DictConfig) -> None:
    """ConfigError on ``model`` when the chosen model lacks what the task needs, naming the models that would do."""
    needs = task_cls.model_needs(cfg)
    model_cls = registry.get_model(cfg.model.name)
    missing = needs.unmet(Capabilities.of(model_cls))
    if missing is None:
        return
    serving = []
    for name in registry.names("model"):
        try:
            if needs.unmet(Capabilities.of(registry.get_model(name))) is None:
                serving.append(name)
        except Exception:  # a broken plugin is reported elsewhere; it serves nothing
            continue
    raise ConfigError(
        "model",
        f"'{cfg.model.name}' cannot serve task '{task_cls.name}' (needs {needs.describe()}; it lacks {missing})",
        allowed=serving,
    )


def check_tbptt_applies(cfg: JobConfig | DictConfig) -> None:
    """Truncated BPTT (``task.tbptt_steps`` set) needs a model whose state runs forward in time: not a
    bidirectional one (its backward direction would see only the chunk), not a pooled one and not one that declares
    ``carries_state = False`` (no state to carry)."""
    if getattr(task_config(cfg), "tbptt_steps", None) is None:  # a task without the key trains with full BPTT
        return
    if is_bidirectional(cfg):
        raise ConfigError(
            "task.tbptt_steps",
            "truncated BPTT means nothing for a bidirectional model (its backward "
            "pass would see one chunk only); use null (full BPTT) or model.bidirectional=false",
            allowed=["null"],
        )
    model_cls = registry.get_model(cfg.model.name)
    if getattr(model_cls, "pooled", False):
        raise ConfigError(
            "task.tbptt_steps",
            f"model '{cfg.model.name}' summarizes the whole sequence and carries no "
            "state, so truncated BPTT cannot work; use null",
            allowed=["null"],
        )
    if not Capabilities.of(model_cls).carries_state:
        raise ConfigError(
            "task.tbptt_steps",
            f"model '{cfg.model.name}' carries no state from one chunk to the next (it sees each call on its own), "
            "so truncated BPTT would only cut the window; use null and a shorter sequence length",
            allowed=["null"],
        )


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("Task", "build_model", "check_model_serves", "check_tbptt_applies", "task_config"))
