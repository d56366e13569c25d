"""The private Lightning hooks seqlab/training/ddp.py relies on are still there: if an upgrade of Lightning renames
or removes one, these fail (instead of DDP under Hydra silently re-running the whole sweep in every rank, or a
rank's handled error being SIGKILLed before rank 0 reports it)."""

from __future__ import annotations

import inspect
import os
from types import SimpleNamespace

import pytorch_lightning.strategies.launchers.subprocess_script as launcher
from lightning_fabric.strategies.launchers.subprocess_script import _ChildProcessObserver

from seqlab.training import ddp

HOOKS = ("_hydra_subprocess_cmd", "_launch_process_observer")  # module globals ddp.launch_ranks_as_this_job replaces


def test_the_launcher_reads_the_hooks_seqlab_replaces_as_module_globals():
    """Replacing the module attribute only works while the launcher looks the name up in its module at call time."""
    for hook in HOOKS:
        assert callable(getattr(launcher, hook, None)), f"Lightning no longer has {launcher.__name__}.{hook}"
    cls = launcher._SubprocessScriptLauncher
    assert "_launch_process_observer" in cls.launch.__code__.co_names
    assert "_hydra_subprocess_cmd" in cls._call_children_scripts.__code__.co_names


def test_launch_ranks_as_this_job_replaces_both_hooks(monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    for hook in HOOKS:  # put back after the test
        monkeypatch.setattr(launcher, hook, getattr(launcher, hook))
    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    ddp.launch_ranks_as_this_job()
    assert launcher._hydra_subprocess_cmd is ddp.job_command
    assert launcher._launch_process_observer is ddp._observe_ranks


def test_the_child_process_observer_keeps_what_seqlabs_subclass_overrides():
    """ddp._observe_ranks subclasses it: built with (main_pid, child_processes), it keeps ``_child_processes`` and
    its ``_run()`` polls them and answers whether to stop watching (False while every rank runs)."""
    params = inspect.signature(_ChildProcessObserver.__init__).parameters
    assert {"main_pid", "child_processes"} <= params.keys()
    running = SimpleNamespace(poll=lambda: None, returncode=None)
    observer = _ChildProcessObserver(main_pid=os.getpid(), child_processes=[running])
    assert observer._child_processes == [running]
    assert observer._run() is False
    assert callable(observer.start)


def test_the_private_property_that_says_when_loggers_write_is_still_there():
    """seqlab/training/log_steps.py hands train/loss to Lightning only when this says the loggers write."""
    from pytorch_lightning.trainer.connectors.logger_connector.logger_connector import _LoggerConnector

    from seqlab.training.log_steps import loggers_write_now

    assert isinstance(inspect.getattr_static(_LoggerConnector, "should_update_logs"), property)
    trainer = SimpleNamespace(_logger_connector=SimpleNamespace(should_update_logs=False), fast_dev_run=False)
    assert loggers_write_now(trainer) is False
    trainer.fast_dev_run = 1
    assert loggers_write_now(trainer) is True
