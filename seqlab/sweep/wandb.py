"""``python -m seqlab.wandb_sweep [sweep=PRESET] [method=grid|random|bayes] [metric=val/loss] [goal=minimize]
[name=NAME] [run_cap=N] [out=sweep.yaml] [OVERRIDES ...]``

Turn a seqlab sweep (a preset of ``conf/sweep/``, ``hparams_search=...``, and any ``-m`` style overrides such as
``model=lstm,gru task.tbptt_steps=10,20``) into a W&B sweep file whose agent runs ``python -m seqlab`` with its
parameters as Hydra overrides (``group=option``, ``key=value``: W&B's ``${args_no_hyphens}``). Hydra's sweep syntax
is translated: ``a,b``, ``choice(a,b)``, ``range(1,5)`` -> ``values``; ``interval(lo,hi)`` -> ``distribution:
uniform`` (``int_uniform`` for integer bounds), ``tag(log,interval(lo,hi))`` -> ``log_uniform_values``; one value
-> ``value``. Every run logs to W&B (``logger=wandb``, added to a logger list) in the group named after the sweep
(``logger.group``). Prints the two commands that start it. A bad argument is one line on stderr, exit code 2.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import OmegaConf

from seqlab.cli.args import parse_key_values
from seqlab.errors import ConfigError, SeqlabError

COMMAND = ["${env}", "${interpreter}", "-m", "seqlab", "${args_no_hyphens}"]
METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
SPEC: dict[str, tuple[type, Any]] = {
    "method": (str, None),
    "metric": (str, None),
    "goal": (str, None),
    "name": (str, None),
    "run_cap": (int, None),
    "out": (str, "sweep.yaml"),
}
# keys that steer Hydra's own multirun (its sweeper and launcher), meaningless for one agent run
MULTIRUN_ONLY = ("hydra.sweeper", "hydra.sweep.", "hydra.launcher", "hydra/sweeper", "hydra/launcher")
PRESET_GROUPS = ("sweep", "hparams_search")


def sweep_overrides(overrides: list[str]) -> tuple[dict[str, Override], Any]:
    """The overrides of the ``-m`` jobs by key, merged as Hydra's basic sweeper does (a preset's
    ``hydra.sweeper.params`` first, then the command line: the same key replaces the preset's), and the composed
    config (Hydra's node included) of the fixed ones. A preset itself (``sweep=``, ``hparams_search=``) is not
    passed on: the run keys it sets are, so an agent needs no sweeper plugin."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from seqlab.config.preflight import CONFIG_MODULE, compose_checked
    from seqlab.config.store import register_configs

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(overrides)
    fixed = [o for o in parsed if not o.is_sweep_override()]
    presets = [o for o in fixed if o.get_key_element() in PRESET_GROUPS]
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            compose_checked([o.input_line for o in fixed])  # a problem is one line
            cfg = compose(config_name="config", overrides=[o.input_line for o in fixed], return_hydra_config=True)
            plain = compose(config_name="config", overrides=[o.input_line for o in fixed if o not in presets])
    finally:
        GlobalHydra.instance().clear()
    params = (cfg.hydra.sweeper.get("params") or {}) if "sweeper" in cfg.hydra else {}
    merged: dict[str, Override] = {}
    for override in [
        *_keys_set(presets, plain, cfg),
        *parser.parse_overrides([f"{k}={v}" for k, v in params.items()]),
        *parsed,
    ]:
        if override.is_delete():
            raise ConfigError(override.input_line, "a deletion cannot be a W&B sweep parameter")
        merged[override.get_key_element()] = override
    for preset in presets:
        del merged[preset.get_key_element()]
    return merged, cfg


def _keys_set(presets: list[Override], plain: Any, cfg: Any) -> list[Override]:
    """``key=value`` for every run key the presets change (``cfg`` composed with them, ``plain`` without)."""
    if not presets:
        return []
    before, after = _leaves(OmegaConf.to_container(plain)), _leaves(OmegaConf.to_container(cfg))
    out = []
    for key, value in after.items():
        if key.split(".")[0] != "hydra" and (key not in before or before[key] != value):
            override = OverridesParser.create().parse_override(
                f"{'' if key in before else '+'}{key}={_spell(key, value)}"
            )
            if override.value() != value:
                raise ConfigError(key, f"a preset sets it to {value!r}, which cannot be a W&B parameter")
            out.append(override)
    return out


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        return {k: v for key, child in node.items() for k, v in _leaves(child, f"{prefix}{key}.").items()}
    return {prefix[:-1]: node}


def _spell(key: str, value: Any) -> str:
    """``value`` as Hydra's override grammar reads it back."""
    if isinstance(value, list):
        return "[" + ",".join(_spell(key, v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    raise ConfigError(key, f"a preset sets it to {value!r}, which cannot be a W&B parameter")


def parameter(override: Override) -> dict[str, Any]:
    """The W&B spec of one override: ``value``, ``values`` or a ``distribution`` with ``min``/``max``."""
    key = override.get_key_element()
    if not override.is_sweep_override():
        return {"value": wandb_value(key, override.value(), override.get_value_element_as_str())}
    sweep = override.value()
    if isinstance(sweep, ChoiceSweep | RangeSweep):
        typed, texts = list(override.sweep_iterator()), list(override.sweep_string_iterator())
        return {"values": [wandb_value(key, v, t) for v, t in zip(typed, texts)]}
    if isinstance(sweep, IntervalSweep):
        lo, hi = sweep.start, sweep.end
        integer = isinstance(lo, int) and isinstance(hi, int)
        if "log" in sweep.tags:
            if integer:
                raise ConfigError(key, "tag(log, interval()) of integers has no W&B distribution: give float bounds")
            return {"distribution": "log_uniform_values", "min": float(lo), "max": float(hi)}
        if integer:
            return {"distribution": "int_uniform", "min": lo, "max": hi}
        return {"distribution": "uniform", "min": float(lo), "max": float(hi)}
    raise ConfigError(key, f"'{override.input_line}' has no W&B form: list the values (a,b,c)")


def wandb_value(key: str, value: Any, text: str) -> Any:
    """A value the agent passes on as ``key=<str(value)>`` and Hydra parses back to ``value``: the value itself,
    else Hydra's own spelling of it (quoted strings, lists)."""
    candidates: list[Any] = ["null"] if value is None else []
    if isinstance(value, bool | int | float | str):
        candidates.append(value)
    candidates.append(text)
    parser = OverridesParser.create()
    for candidate in candidates:
        try:
            back = parser.parse_override(f"{key}={candidate}").value()
        except Exception:
            continue
        if type(back) is type(value) and back == value:
            return candidate
    raise ConfigError(key, f"the value {text!r} cannot be passed as a W&B key=value argument")


def build_sweep(
    overrides: list[str],
    method: str | None = None,
    metric: str | None = None,
    goal: str | None = None,
    name: str | None = None,
    run_cap: int | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The W&B sweep config of ``python -m seqlab -m OVERRIDES``, and the overrides left out (Hydra's sweeper and
    launcher settings)."""
    from seqlab.config.preflight import preflight
    from seqlab.report.runs import direction

    overrides = [o for o in overrides if o not in ("-m", "--multirun")]
    preflight(["-m", *overrides])  # unknown presets, options and keys: one line
    merged, cfg = sweep_overrides(overrides)
    dropped = [k for k in merged if k.startswith(MULTIRUN_ONLY)]
    for key in dropped:
        del merged[key]
    named = [o.partition("=")[2] for o in overrides if o.partition("=")[0] in PRESET_GROUPS]
    preset = named[0] if named else None
    name = name or f"{preset or 'seqlab'}-{time.strftime('%Y%m%d-%H%M%S')}"
    _add_wandb_logger(merged, name)
    parameters = {key: parameter(o) for key, o in merged.items()}
    _check_values(parameters)
    sampled = [k for k, p in parameters.items() if "distribution" in p]
    method = method or ("bayes" if sampled else "grid")
    if method not in METHODS:
        raise ConfigError("method", f"unknown method '{method}'", allowed=METHODS)
    if method == "grid" and sampled:
        raise ConfigError("method", f"grid needs lists of values, {sampled[0]} is a distribution: use random or bayes")
    sweeper = cfg.hydra.get("sweeper") or {}
    metric = metric or str(cfg.get("optimized_metric") or "val/loss")
    default_goal = sweeper.get("direction") if metric == cfg.get("optimized_metric") else None
    if not isinstance(default_goal, str):
        default_goal = "minimize" if direction(metric) == "min" else "maximize"
    goal = goal or default_goal
    if goal not in GOALS:
        raise ConfigError("goal", f"unknown goal '{goal}'", allowed=GOALS)
    if run_cap is None and method != "grid" and isinstance(sweeper.get("n_trials"), int):
        run_cap = sweeper.n_trials
    wandb_node = _compose_logger([f"{k}={p['value']}" for k, p in parameters.items() if "value" in p])
    out: dict[str, Any] = {"name": name, "project": str(wandb_node.get("project") or "seqlab")}
    if wandb_node.get("entity"):
        out["entity"] = str(wandb_node.entity)
    out.update(method=method, metric={"name": metric, "goal": goal})
    if run_cap is not None and method != "grid":
        out["run_cap"] = run_cap
    out.update(parameters=parameters, command=list(COMMAND))
    return out, dropped


def _add_wandb_logger(merged: dict[str, Override], group: str) -> None:
    """``logger=wandb`` (or the command line's logger list with wandb added) and ``logger.group=<sweep>``."""
    parser = OverridesParser.create()
    current = merged.get("logger")
    if current is not None and current.is_sweep_override():
        raise ConfigError("logger", "cannot be swept in a W&B sweep (every run logs to W&B): give one value or a list")
    chosen = current.value() if current is not None else []
    kinds = [str(k) for k in (chosen if isinstance(chosen, list) else [chosen]) if k not in ("none", None)]
    kinds += [] if "wandb" in kinds else ["wandb"]
    value = kinds[0] if len(kinds) == 1 else "[" + ",".join(kinds) + "]"
    merged["logger"] = parser.parse_override(f"logger={value}")
    if "logger.group" not in merged:
        merged["logger.group"] = parser.parse_override(f"logger.group={group}")


def _check_values(parameters: dict[str, dict[str, Any]]) -> None:
    """Every value of every parameter composes (unknown keys and options of a preset are one line)."""
    from seqlab.config.preflight import preflight

    argv = []
    for key, spec in parameters.items():
        values = spec.get("values") or ([spec["min"], spec["max"]] if "min" in spec else [spec["value"]])
        argv.append(f"{key}={','.join(str(v) for v in values)}" if len(values) > 1 else f"{key}={values[0]}")
    preflight(["-m", *argv])


def _compose_logger(overrides: list[str]) -> Any:
    from seqlab.testing.compose import compose_run_config

    return compose_run_config(overrides).logger


def write_sweep(config: dict[str, Any], path: Path, argv: list[str]) -> Path:
    """The sweep file, with a header saying how it was made and how to start it."""
    header = (
        f"# W&B sweep written by: python -m seqlab.wandb_sweep {' '.join(argv)}\n"
        f"# Start it: wandb sweep {path}   then: wandb agent <the ENTITY/PROJECT/SWEEP_ID it prints>\n"
        "# The agent runs: python -m seqlab key=value ... (one seqlab run folder per run; docs/sweeps.md)\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1000))
    return path


def combinations(config: dict[str, Any]) -> int | None:
    """How many runs a grid has (None for random or bayes: as many as run_cap or the agents allow)."""
    if config["method"] != "grid":
        return config.get("run_cap")
    total = 1
    for spec in config["parameters"].values():
        total *= len(spec.get("values", [None]))
    return total


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):
        print(__doc__)
        return
    own = [a for a in argv if a.partition("=")[0] in SPEC]
    overrides = [a for a in argv if a not in own]
    try:
        opts = parse_key_values(own, SPEC)
        config, dropped = build_sweep(
            overrides, opts["method"], opts["metric"], opts["goal"], opts["name"], opts["run_cap"]
        )
        path = write_sweep(config, Path(opts["out"]), argv)
    except SeqlabError as exc:
        print(f"seqlab.wandb_sweep: error: {exc}", file=sys.stderr)
        sys.exit(2)
    runs = combinations(config)
    swept = [k for k, p in config["parameters"].items() if "value" not in p]
    print(
        f"wrote {path}: {config['method']} over {', '.join(swept) or 'nothing'}"
        + (f", {runs} runs" if runs else "")
        + f"; W&B project {config['project']}, group {config['name']}"
    )
    if dropped:
        print(f"left out (they steer Hydra's multirun, not a run): {', '.join(dropped)}")
    where = f"{config.get('entity', '<ENTITY>')}/{config['project']}"
    print(f"start it:\n  wandb sweep {path}\n  wandb agent {where}/<SWEEP_ID>    # the id `wandb sweep` prints")


if __name__ == "__main__":
    main()
