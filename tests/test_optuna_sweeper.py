"""seqlab's Optuna sweeper on Optuna >= 4 (issue 27): the search space from Hydra's sweep syntax, pruning at every
validation (a pruned trial stops, is told PRUNED and shows as pruned, and the sweep exits 0), and several workers
sharing one study (SQLite; PostgreSQL when a local server can be started)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY, compose_config, run_cli, start_cli, wait_for

optuna = pytest.importorskip("optuna", reason="Optuna not installed (pip install -e .[optuna])")

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from hydra_plugins.seqlab_sweeper import optuna_study  # noqa: E402
from hydra_plugins.seqlab_sweeper.optuna_space import search_space  # noqa: E402
from seqlab.config.preflight import preflight  # noqa: E402
from seqlab.errors import ConfigError  # noqa: E402
from seqlab.run.job import run  # noqa: E402
from seqlab.training.trial_pruning import ENV_PRUNING, ENV_TRIAL, make_pruner  # noqa: E402

QUIET = [*TINY, "task.sample.every_n_val=0", "hardware.threads=1", "trainer.val_check_interval=2"]


def test_the_search_space_follows_hydras_sweep_syntax():
    space, fixed = search_space(
        [
            "optimizer.lr=tag(log, interval(1e-4, 1e-2))",
            "model.hidden_size=choice(64, 128)",
            "model.dropout=interval(0.0, 0.5)",
            "model.num_layers=range(1, 4)",
            "task.tbptt_steps=int(interval(5, 50))",
            "task.seq_len=tag(log, int(interval(16, 256)))",
            "optimizer.gamma=range(0.1, 0.4, 0.1)",
            "model=gru,lstm",
            "task.batch_size=8",
        ]
    )
    assert space["optimizer.lr"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert space["model.hidden_size"] == CategoricalDistribution([64, 128])
    assert space["model.dropout"] == FloatDistribution(0.0, 0.5)
    assert space["model.num_layers"] == IntDistribution(1, 3)  # Hydra's range leaves the end out
    assert space["task.tbptt_steps"] == IntDistribution(5, 50)
    assert space["task.seq_len"] == IntDistribution(16, 256, log=True)
    assert space["task.seq_len"] == IntDistribution(16, 256, log=True)
    assert space["optimizer.gamma"].low == pytest.approx(0.1) and space["optimizer.gamma"].high == pytest.approx(0.3)
    assert space["model"] == CategoricalDistribution(["gru", "lstm"])
    assert fixed == {"task.batch_size": "8"}


def test_a_key_fixed_on_the_command_line_leaves_the_search():
    space, fixed = search_space(
        ["model.hidden_size=choice(64, 128)", "optimizer.lr=interval(0.1, 1)", "model.hidden_size=32"]
    )
    assert "model.hidden_size" not in space and fixed == {"model.hidden_size": "32"}
    assert set(space) == {"optimizer.lr"}


def test_a_wrong_pruner_is_one_line_before_anything_runs():
    with pytest.raises(
        ConfigError, match=r"hydra.sweeper.pruner: unknown pruner 'mediun' \(allowed: hyperband, median, none\)"
    ):
        preflight(["-m", "hparams_search=optuna", "hydra.sweeper.pruner=mediun"])
    assert isinstance(make_pruner("median", {"n_warmup_steps": 3, "min_resource": 2}), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner("hyperband", {"n_warmup_steps": 3}), optuna.pruners.HyperbandPruner)


def test_a_running_trial_is_alive_while_its_worker_is(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db", study_name="s")
    ours, dead, far, far_old = (study.ask() for _ in range(4))
    optuna_study.beat(study, [ours.number])
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    here = socket.gethostname()
    ours_attr = {"host": here, "pid": proc.pid, "time": time.time()}
    study._storage.set_trial_user_attr(dead._trial_id, optuna_study.HEARTBEAT, ours_attr)
    for trial, age in ((far, 10), (far_old, 1000)):
        beat = {"host": "elsewhere", "pid": 1, "time": time.time() - age}
        study._storage.set_trial_user_attr(trial._trial_id, optuna_study.HEARTBEAT, beat)
    trials = {t.number: t for t in study.get_trials()}
    alive = {n for n, t in trials.items() if optuna_study.is_alive(t, grace_s=120)}
    assert alive == {ours.number, far.number}  # a dead pid on this host, a stale heartbeat elsewhere: killed
    assert optuna_study.counted(study, list(trials.values()), False, 120) == (0, 2)
    fresh = study.ask()  # no heartbeat yet: alive while it is young (its worker writes one at once)
    fresh = study.get_trials()[fresh.number]
    assert optuna_study.is_alive(fresh, grace_s=120) and not optuna_study.is_alive(fresh, grace_s=0)


def test_a_trial_reports_each_validation_and_stops_when_pruned(tmp_path, tiny_corpus, monkeypatch, one_thread):
    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(study_name="s", storage=storage)
    good = study.ask()
    for step in range(0, 41, 2):
        good.report(0.01, step)  # a finished trial far better at every step
    study.tell(good, 0.01)
    trial = study.ask()
    spec = {"trial": trial.number, "storage": storage, "study": "s", "pruner": "median", "pruner_args": {}}
    monkeypatch.setenv(ENV_TRIAL, str(trial.number))
    monkeypatch.setenv(ENV_PRUNING, json.dumps({**spec, "pruner_args": {"n_startup_trials": 1}}))
    cfg = compose_config([*QUIET, f"task.data.path={tiny_corpus}", "trainer.max_steps=40"])
    results = run(cfg, tmp_path / "run")
    # the first validation (2 batches of 2 TBPTT chunks: step 4) is worse than the median: pruned there
    assert results["stopped_by"] == "pruned" and results["stopped_at"]["step"] == 4 == results["optimizer_steps"]
    assert results["stopped_at"]["val/loss"] == pytest.approx(results["val/loss"])
    assert not any(k.startswith("test/") for k in results)  # a pruned trial is not tested
    reported = optuna.load_study(study_name="s", storage=storage).trials[trial.number].intermediate_values
    assert reported == {4: pytest.approx(results["val/loss"])}


def test_without_a_trial_the_run_has_no_pruning(tmp_path, tiny_corpus, monkeypatch, one_thread):
    monkeypatch.delenv(ENV_TRIAL, raising=False)
    from seqlab.training.trial_pruning import trial_callbacks

    assert trial_callbacks(compose_config([f"task.data.path={tiny_corpus}"])) == []


def sweep_of(root: Path) -> Path:
    (found,) = (root / "outputs" / "multirun").glob("*/*/optuna.db")
    return found.parent


SWEEP = [
    "-m",
    "hparams_search=optuna",
    *QUIET,
    "optimizer.lr=choice(0.003,3.0)",  # with seed 42: 3.0 first (learns), then 0.003 (lags: pruned)
    "hydra.sweeper.pruner=median",
    "hydra.sweeper.pruner_args.n_startup_trials=1",
    "trainer.max_steps=12",
    "model.dropout=0.0",  # fixed: out of the search (one layer: no effect)
]


@pytest.mark.slow
def test_a_pruned_trial_shows_as_pruned_and_the_sweep_succeeds(tmp_path, tiny_corpus):
    proc = run_cli([*SWEEP, "hydra.sweeper.n_trials=2", f"task.data.path={tiny_corpus}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = sweep_of(tmp_path)
    study = optuna.load_study(study_name="seqlab", storage=f"sqlite:///{sweep}/optuna.db")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert "sweep summary: 2 jobs, 1 ok, 0 failed, 1 pruned" in proc.stdout
    md = (sweep / "sweep_summary.md").read_text()
    assert "| 1 | optimizer.lr=0.003 | pruned | pruned at step 4 (val/loss" in md
    results = json.loads((sweep / "1" / "results.json").read_text())
    assert results["stopped_by"] == "pruned" and results["optimizer_steps"] == 4
    assert yaml.safe_load((sweep / "optimization_results.yaml").read_text())["best_params"] == {"optimizer.lr": 3.0}


def two_workers(tmp_path: Path, corpus: Path, storage: list[str]) -> tuple[Path, list[str], object]:
    """Worker 1 starts a 6-trial search in a fixed folder; worker 2 joins it while worker 1 runs its first trial."""
    sweep = tmp_path / "sweep"
    # long enough trials (no pruning) that the first worker is still at it when the second has started
    args = [*SWEEP, "hydra.sweeper.n_trials=6", "trainer.max_steps=160", "hydra.sweeper.pruner=none"]
    args += [f"task.data.path={corpus}", *storage]
    first = start_cli([*args, f"hydra.sweep.dir={sweep}"], tmp_path)
    wait_for(sweep / "0" / ".hydra" / "overrides.yaml", first, 120)
    # the first worker is paused until the second has asked for a trial: both run trials however slow the machine
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = start_cli([*args, f"resume_sweep={sweep}"], tmp_path)
        wait_for(sweep / "1" / ".hydra" / "overrides.yaml", second, 120)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    outs = [p.communicate(timeout=600) for p in (first, second)]
    for proc, (_, err) in zip((first, second), outs):
        assert proc.returncode == 0, err[-3000:]
    storage_url = storage[0].split("=", 1)[1].strip("'") if storage else f"sqlite:///{sweep}/optuna.db"
    return sweep, [o for o, _ in outs], optuna.load_study(study_name="seqlab", storage=storage_url)


def assert_shared(sweep: Path, outputs: list[str], study) -> None:
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(6)), "six trials in all, each number once"
    assert all(t.state == TrialState.COMPLETE for t in trials)
    pids = {t.user_attrs[optuna_study.HEARTBEAT]["pid"] for t in trials}
    assert len(pids) == 2, "both workers ran trials"
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == [str(n) for n in range(6)]
    for trial in trials:  # trial k ran in folder k with its parameters
        overrides = yaml.safe_load((sweep / str(trial.number) / ".hydra" / "overrides.yaml").read_text())
        assert f"optimizer.lr={trial.params['optimizer.lr']}" in overrides
    assert "the study has" in outputs[1], "the second worker joined the study"


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(tmp_path, tiny_corpus):
    assert_shared(*two_workers(tmp_path, tiny_corpus, []))


def postgres_server() -> tuple[str, list[str], Path]:
    """A PostgreSQL server in a fresh temp folder: (its URL, the command that stops it, the folder); skip with the
    reason where none can start."""
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        pytest.skip("no PostgreSQL server here (pg_ctl not found)")
    pytest.importorskip("psycopg", reason="no PostgreSQL driver for SQLAlchemy (pip install 'psycopg[binary]')")
    folder = Path(tempfile.mkdtemp(prefix="seqlab-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as the postgres user when there is one
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip("PostgreSQL does not run as root and there is no postgres user")
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    initdb = str(Path(pg_ctl).with_name("initdb"))
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "seqlab", "--auth=trust"], check=True, capture_output=True)
    options = f"-p {port} -k {folder} -h 127.0.0.1"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-w", "start", "-l", str(folder / "log")],
                   check=True, capture_output=True)  # fmt: skip
    return f"postgresql+psycopg://seqlab@127.0.0.1:{port}/postgres", [*prefix, pg_ctl, "-D", str(data), "stop"], folder


@pytest.mark.slow
def test_two_workers_share_one_postgresql_study(tmp_path, tiny_corpus):
    url, stop, folder = postgres_server()
    try:
        assert_shared(*two_workers(tmp_path, tiny_corpus, [f"hydra.sweeper.storage='{url}'"]))
    finally:
        subprocess.run(stop, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_ddp_rank_finds_its_trial_in_the_environment_not_a_former_jobs(tmp_path, monkeypatch):
    from seqlab.training.trial_pruning import TrialPruning, trial_callbacks

    cfg = compose_config([])
    spec = {"trial": 3, "storage": f"sqlite:///{tmp_path}/s.db", "study": "s", "pruner": "median", "pruner_args": {}}
    monkeypatch.setenv(ENV_PRUNING, json.dumps(spec))
    monkeypatch.setenv(ENV_TRIAL, "3")  # a rank started as a single run: no Hydra sweeper config, the parent's env
    (callback,) = trial_callbacks(cfg)
    assert isinstance(callback, TrialPruning) and callback.number == 3 and callback.monitor == "val/loss"
    assert isinstance(callback.pruner, optuna.pruners.MedianPruner)
    monkeypatch.setenv(ENV_TRIAL, "4")  # the next job of the process: the spec left behind is not its own
    assert trial_callbacks(cfg) == []


def test_hparams_search_without_optuna_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    with pytest.raises(ConfigError, match=r"^hparams_search: needs the Optuna sweeper: pip install 'seqlab\[optuna\]'"):
        preflight(["-m", "hparams_search=optuna"])
