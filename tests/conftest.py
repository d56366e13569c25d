"""Shared fixtures: composed configs, a tiny text corpus, and running the CLI in a temp folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from inprocess import run_inprocess  # noqa: F401  (re-exported: tests import their helpers from conftest)
from omegaconf import DictConfig

from seqlab.config.store import register_configs

# the real data sets: $SEQLAB_DATA_DIR when set, else ../shared/data beside the checkout (tests skip without them)
SHARED_DATA = Path(os.environ.get("SEQLAB_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "data")

# quick settings for a run that trains a few steps on a tiny corpus
TINY = [
    "model.hidden_size=16",
    "model.num_layers=1",
    "task.batch_size=4",
    "task.seq_len=16",
    "task.tbptt_steps=8",
    "task.embedding_dim=8",
    "task.sample.length=20",
    "trainer.max_steps=6",
    "trainer.val_check_interval=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
]


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path / "cache"))  # generated sets never land outside the test
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The run config as ``python -m seqlab OVERRIDES`` composes it."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="seqlab.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides or [])


@pytest.fixture
def one_thread():
    """One torch thread for the test: much faster than two on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    """A small UTF-8 text (about 6k characters, some non-ASCII) for training a few steps."""
    lines = [f"ROMEO: line {i} of a tiny play, où l'été chante {i % 7}.\nJULIET: reply {i * 3}.\n" for i in range(90)]
    path = tmp_path / "corpus.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def run_cli(
    args: list[str], cwd: Path, module: str = "seqlab", timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m MODULE ARGS`` in ``cwd`` the way a user would."""
    full_env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )


def start_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, command: list[str] | None = None
) -> subprocess.Popen:
    """Start ``python -m seqlab ARGS`` (or ``python COMMAND ARGS``) in ``cwd`` and return at once (stdout and stderr
    piped, as text): for tests that act on a running process."""
    full_env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen([sys.executable, *(command or ["-m", "seqlab"]), *args], cwd=cwd, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 180) -> None:
    """Until ``path`` exists; fails (with the process's stderr once it has ended) if ``proc`` ends or time runs out."""
    deadline = time.time() + seconds
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    if not path.exists():
        stderr = proc.communicate()[1][-3000:] if proc.poll() is not None else ""
        raise AssertionError(f"{path} never appeared: {proc.poll()=}\n{stderr}")


def run_dirs(root: Path) -> list[Path]:
    """Run folders (those holding a .hydra folder) under ``root/outputs``."""
    return sorted(p.parent for p in (root / "outputs").glob("**/.hydra"))
