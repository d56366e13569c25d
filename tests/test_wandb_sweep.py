"""python -m seqlab.wandb_sweep: the W&B sweep file of every preset and of hand-written -m command lines
round-trips, i.e. every parameter combination the agent would send, put on the command line exactly as the agent
builds it (``${args_no_hyphens}``, with W&B's own formatting code), composes to the same seqlab config as the
equivalent ``-m`` job (enumerated by Hydra's basic sweeper); no W&B server needed. Bad input is one line, exit 2."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from seqlab.config.store import register_configs
from seqlab.sweep.wandb import COMMAND, main

CONF = Path(__file__).resolve().parents[1] / "conf"
PRESETS = sorted(p.stem for p in (CONF / "sweep").glob("*.yaml"))


def write(tmp_path: Path, argv: list[str], capsys) -> tuple[dict, str]:
    out = tmp_path / "sweep.yaml"
    main([*argv, f"out={out}", "name=test-sweep"])
    return yaml.safe_load(out.read_text()), capsys.readouterr().out  # as `wandb sweep` reads it


def agent_command_lines(config: dict, samples: int = 3) -> Iterator[list[str]]:
    """The argument lists the agent passes to ``python -m seqlab``: every grid combination, or a few draws of
    random/bayes (each value of a list in turn; min, max and the middle of a distribution)."""
    params = config["parameters"]
    if config["method"] == "grid":
        choices = [[(k, v) for v in p["values"]] if "values" in p else [(k, p["value"])] for k, p in params.items()]
        draws = [dict(combo) for combo in itertools.product(*choices)]
    else:
        draws = [{k: _draw(p, i) for k, p in params.items()} for i in range(samples)]
    for draw in draws:
        args = create_sweep_command_args({"args": {k: {"value": v} for k, v in draw.items()}})
        yield args["args_no_hyphens"]


def _draw(spec: dict, i: int):
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        return spec["values"][i % len(spec["values"])]
    lo, hi = spec["min"], spec["max"]
    mid = (lo + hi) // 2 if spec["distribution"] == "int_uniform" else (lo * hi) ** 0.5 if "log" in spec else lo
    return [lo, hi, mid][i % 3]


def multirun_jobs(argv: list[str]) -> list[list[str]]:
    """The overrides of every job of ``python -m seqlab -m ARGV`` with Hydra's basic sweeper (the preset's
    ``hydra.sweeper.params`` first, then the command line)."""
    params: list[str] = []
    for arg in argv:
        if arg.startswith("sweep="):
            preset = yaml.safe_load((CONF / "sweep" / f"{arg.split('=', 1)[1]}.yaml").read_text())
            params += [f"{k}={v}" for k, v in preset["hydra"]["sweeper"]["params"].items()]
    (jobs,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides([*params, *argv]), None)
    return jobs


def composed(argument_lists: list[list[str]], in_wandb_group: bool = False) -> list[str]:
    """The run config of each list (without ``logger``, which the W&B sweep sets), as sorted YAML texts;
    ``in_wandb_group``: check that each logs to W&B in the sweep's group."""
    register_configs()
    GlobalHydra.instance().clear()
    out = []
    with initialize_config_module(config_module="seqlab.conf", version_base="1.3"):
        for args in argument_lists:
            cfg = OmegaConf.to_container(compose(config_name="config", overrides=args))
            logger = cfg.pop("logger")
            assert not in_wandb_group or (logger["kinds"]["wandb"] is True and logger["group"] == "test-sweep")
            out.append(yaml.safe_dump(cfg, sort_keys=True))
    GlobalHydra.instance().clear()
    return sorted(out)


def check_round_trip(config: dict, argv: list[str]) -> int:
    """Every agent command line is one ``-m`` job (the same keys and parsed values); composed, a covering subset of
    the pairs (each value of each key at least once) gives the same seqlab config on both sides."""
    assert config["command"] == COMMAND == ["${env}", "${interpreter}", "-m", "seqlab", "${args_no_hyphens}"]
    sent = list(agent_command_lines(config))
    jobs = multirun_jobs(argv) if config["method"] == "grid" else sampled_jobs(sent)
    by_job = {canonical(args): args for args in sent}
    assert len(by_job) == len(sent) and sorted(by_job) == sorted(canonical(job) for job in jobs)
    chosen = covering([canonical(job) for job in jobs])
    pairs = [(by_job[canonical(job)], job) for job in jobs if canonical(job) in chosen]
    assert composed([a for a, _ in pairs], in_wandb_group=True) == composed([j for _, j in pairs])
    return len(sent)


def canonical(args: list[str]) -> tuple[tuple[str, str], ...]:
    """An argument list as sorted (key, value) pairs, each value as Hydra parses it (``1e-05`` and ``0.00001`` are
    one value), without the preset (``sweep=``: its keys are in the list) and the logger keys (the W&B sweep adds its
    logger; ``composed`` checks it)."""
    parsed = OverridesParser.create().parse_overrides(list(args))
    pairs = {(o.key_or_group, repr(o.value())) for o in parsed}
    dropped = {"sweep", "logger", "logger.group"}
    return tuple(sorted((k, v) for k, v in pairs if k not in dropped))


def covering(jobs: list[tuple[tuple[str, str], ...]]) -> set[tuple[tuple[str, str], ...]]:
    """Few jobs that hold every (key, value) pair of ``jobs`` at least once (greedy)."""
    left = {pair for job in jobs for pair in job}
    chosen: set[tuple[tuple[str, str], ...]] = set()
    while left:
        best = max(jobs, key=lambda job: len(left.intersection(job)))
        chosen.add(best)
        left -= set(best)
    return chosen


def sampled_jobs(sent: list[list[str]]) -> list[list[str]]:
    """The job an Optuna (or any sampling) sweeper runs for the same draw: the same ``key=value`` overrides, as
    ``f"{key}={value}"``, without the W&B logger the sweep adds."""
    return [[a for a in args if not a.startswith(("logger=", "logger.group="))] for args in sent]


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_round_trips(preset, tmp_path, capsys):
    argv = [f"sweep={preset}", "trainer.max_steps=500"]
    config, printed = write(tmp_path, argv, capsys)
    assert config["method"] == "grid" and config["metric"] == {"name": "val/loss", "goal": "minimize"}
    assert config["parameters"]["trainer.max_steps"] == {"value": 500}
    assert "sweep" not in config["parameters"]  # the run keys a preset sets are passed on, not the preset
    runs = check_round_trip(config, argv)
    assert runs == len(multirun_jobs(argv))
    assert "wandb sweep" in printed and "wandb agent seqlab" not in printed and "/seqlab/<SWEEP_ID>" in printed


def test_hand_written_grid_round_trips(tmp_path, capsys):
    argv = [
        "model=lstm,gru",
        "task.tbptt_steps=range(4,12,4)",
        "optimizer.lr=0.001,1e-05",
        "model.bidirectional=false",
        "model.hidden_size=choice(32,64)",
        "trainer.max_steps=5",
        "task.sample.prompt='ROMEO, JULIET'",  # a comma inside a quoted string is not a sweep
        "logger=[csv,tensorboard]",
    ]
    config, printed = write(tmp_path, argv, capsys)
    params = config["parameters"]
    assert params["task.tbptt_steps"] == {"values": [4, 8]}  # Hydra's range: the end is left out
    assert params["optimizer.lr"] == {"values": [0.001, 1e-05]}
    assert params["model.bidirectional"] == {"value": False}
    assert params["logger"] == {"value": "[csv,tensorboard,wandb]"}
    assert params["task.sample.prompt"] == {"value": "'ROMEO, JULIET'"}  # Hydra's spelling, for the agent
    assert check_round_trip(config, argv) == 2 * 2 * 2 * 2
    assert "16 runs" in printed


def test_preset_and_command_line_sweep_of_the_same_key(tmp_path, capsys):
    argv = ["sweep=arch_grid", "model=lstm", "model.num_layers=1,2"]  # the command line replaces the preset's
    config, _ = write(tmp_path, argv, capsys)
    assert config["parameters"]["model"] == {"value": "lstm"}
    assert check_round_trip(config, argv) == 2 * 2 * 2


def test_optuna_search_becomes_a_bayes_sweep(tmp_path, capsys):
    pytest.importorskip("optuna", reason="needs the optuna extra")
    argv = ["hparams_search=optuna", "model=gru"]
    config, _ = write(tmp_path, argv, capsys)
    params = config["parameters"]
    assert config["method"] == "bayes" and config["run_cap"] == 20
    assert config["metric"] == {"name": "val/loss", "goal": "minimize"}
    assert params["optimizer.lr"] == {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2}
    assert params["model.dropout"] == {"distribution": "uniform", "min": 0.0, "max": 0.5}
    assert params["model.hidden_size"] == {"values": [64, 128, 256, 512]}
    check_round_trip(config, argv)


def test_methods_metric_and_intervals(tmp_path, capsys):
    argv = ["model.num_layers=int(interval(1,3))", "model.dropout=interval(0.0,0.3)", "method=random", "metric=val/bpc"]
    config, _ = write(tmp_path, argv, capsys)
    assert config["method"] == "random" and config["metric"] == {"name": "val/bpc", "goal": "minimize"}
    assert config["parameters"]["model.num_layers"] == {"distribution": "int_uniform", "min": 1, "max": 3}
    check_round_trip(config, [a for a in argv if not a.startswith(("method=", "metric="))])
    config, _ = write(tmp_path, ["model=rnn,gru", "metric=val/acc", "goal=maximize", "method=bayes"], capsys)
    assert config["method"] == "bayes" and config["metric"] == {"name": "val/acc", "goal": "maximize"}


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["sweep=nope"], "sweep: unknown option 'nope'"),
        (["model.hidden_sizex=1,2"], "model.hidden_sizex: unknown key"),
        (["model=lstm,lstmx"], "model: unknown option 'lstmx'"),
        (["model.dropout=interval(0.0,0.5)", "method=grid"], "method: grid needs lists of values"),
        (["method=annealing"], "method: unknown method 'annealing'"),
        (["goal=best"], "goal: unknown goal 'best'"),
        (["logger=csv,wandb"], "logger: cannot be swept"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, start, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main([*argv, f"out={tmp_path / 'sweep.yaml'}"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith(f"seqlab.wandb_sweep: error: {start}"), err
    assert err.count("\n") == 1
    assert not (tmp_path / "sweep.yaml").exists()


def test_default_name_and_group_come_from_the_preset(tmp_path, capsys):
    out = tmp_path / "s.yaml"
    main(["sweep=tbptt_grid", "model=rnn,gru", f"out={out}"])
    config = yaml.safe_load(out.read_text())
    assert config["name"].startswith("tbptt_grid-")
    assert config["parameters"]["logger.group"] == {"value": config["name"]}
    printed = capsys.readouterr().out
    assert f"wandb sweep {out}" in printed and "wandb agent <ENTITY>/seqlab/<SWEEP_ID>" in printed
    assert out.read_text().startswith("# W&B sweep written by: python -m seqlab.wandb_sweep sweep=tbptt_grid")


@pytest.mark.slow  # make test stays under 5 minutes (issue 26); make test-slow runs it
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_wandb_sweeps_engine_accepts_the_files_and_sends_the_same_grid(tmp_path, capsys):
    """W&B's own sweep engine (the ``sweeps`` package, optional) validates each file and enumerates the grid."""
    sweeps = pytest.importorskip("sweeps", reason="W&B's sweep engine is optional: pip install sweeps")
    cases = [[f"sweep={p}", "trainer.max_steps=500"] for p in PRESETS]
    cases += [["model=lstm,gru", "task.tbptt_steps=range(4,12,4)", "optimizer.lr=0.001,1e-05"]]
    cases += [["model.dropout=interval(0.0,0.5)", "optimizer.lr=tag(log,interval(1e-4,1e-2))", "method=random"]]
    for argv in cases:
        config, _ = write(tmp_path, argv, capsys)
        config.pop("run_cap", None)  # a newer key than the engine's 2022 schema
        engine = sweeps.SweepConfig(config)
        runs: list = []
        while len(runs) < 50 and (run := sweeps.next_run(engine, runs)) is not None:
            run.state = sweeps.RunState.finished
            runs.append(run)
        sent = sorted(sorted(f"{k}={v['value']}" for k, v in run.config.items()) for run in runs)
        if config["method"] == "grid":
            assert sent == sorted(sorted(args) for args in agent_command_lines(config))
        else:
            assert len(sent) == 50
            lr = [run.config["optimizer.lr"]["value"] for run in runs]
            assert all(1e-4 <= v <= 1e-2 for v in lr) and min(lr) < 1e-3 < max(lr)
            assert composed([list(args) for args in sent[:3]], in_wandb_group=True)
