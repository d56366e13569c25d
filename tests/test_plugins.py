"""Throwaway plugin packages, built in a temp folder and really ``pip install``ed, seen through seqlab.

Each package set is installed with ``pip install --target DIR`` into its own folder, which joins ``sys.path`` (in
process) or ``PYTHONPATH`` (the CLI) only for the test that uses it: the shared venv never sees a broken or
clashing plugin, so tests running beside these ones are not disturbed. The installs happen once per module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import TINY, run_dirs
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from seqlab import registry
from seqlab.config.validate import validate
from seqlab.errors import ConfigError, PluginError
from seqlab.plugins import render
from seqlab.testing import compose_run_config

CONF = Path(registry.__file__).parent / "conf"
TOY = '''
"""A throwaway seqlab plugin: model toycell (an Elman RNN) and task toytask (char LM)."""
from seqlab.models.recurrent import ElmanRNN
from seqlab.tasks.charlm.task import CharLMTask


class ToyCell(ElmanRNN):
    """h_t = tanh(W x_t + U h_{t-1} + b), under another name."""


class ToyTask(CharLMTask):
    name = "toytask"
'''


def write_plugin(
    root: Path,
    dist: str,
    module: str,
    init: str,
    eps: dict[str, dict[str, str]],
    conf: dict[str, str] | None = None,
    version: str = "0.3.1",
) -> Path:
    """A source tree of an installable seqlab plugin: pyproject.toml, the module, its config package."""
    folder = root / dist
    (folder / module).mkdir(parents=True)
    (folder / module / "__init__.py").write_text(init)
    sections = ""
    if conf is not None:
        eps = {**eps, "seqlab.conf": {module: f"{module}.conf"}}
        (folder / module / "conf").mkdir()
        (folder / module / "conf" / "__init__.py").write_text("")
        for rel, text in conf.items():
            (folder / module / "conf" / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / module / "conf" / rel).write_text(text)
    for group, entries in eps.items():
        sections += f'[project.entry-points."{group}"]\n' + "".join(f'{k} = "{v}"\n' for k, v in entries.items())
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "{version}"
        dependencies = ["seqlab"]

        [tool.setuptools.packages.find]
        include = ["{module}*"]

        [tool.setuptools.package-data]
        "{module}.conf" = ["**/*.yaml"]

        """)
        + sections
    )
    return folder


def builtin_yaml(rel: str, old: str, new: str) -> str:
    text = (CONF / rel).read_text().replace(f"name: {old}", f"name: {new}")
    return f"# Usage: python -m seqlab {rel.split('/')[0]}={new}\n{text}"


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    """Folders with pip-installed plugins: main (toy + broken), clash (two packages, one name), shadow."""
    root = tmp_path_factory.mktemp("plugin_src")
    toy_eps = {"seqlab.models": {"toycell": "seqlab_toy:ToyCell"}, "seqlab.tasks": {"toytask": "seqlab_toy:ToyTask"}}
    toy = write_plugin(
        root,
        "seqlab-toy",
        "seqlab_toy",
        TOY,
        toy_eps,
        {
            "model/toycell.yaml": builtin_yaml("model/rnn.yaml", "rnn", "toycell"),
            "task/toytask.yaml": builtin_yaml("task/charlm.yaml", "charlm", "toytask"),
        },
    )
    boom = "raise RuntimeError('seqlab_broken is broken on purpose')"
    broken = write_plugin(
        root,
        "seqlab-broken",
        "seqlab_broken",
        boom,
        {"seqlab.models": {"brokencell": "seqlab_broken:Cell"}},
        {"model/brokencell.yaml": "name: brokencell\n"},
    )
    gru = "from seqlab.models.recurrent import GRU as Cell\n"
    clash = [
        write_plugin(
            root,
            f"seqlab-clash-{x}",
            f"seqlab_clash_{x}",
            gru,
            {"seqlab.models": {"dupcell": f"seqlab_clash_{x}:Cell"}},
        )
        for x in "ab"
    ]
    shadow = write_plugin(
        root,
        "seqlab-shadow",
        "seqlab_shadow",
        "",
        {},
        {"model/lstm.yaml": "# Usage: python -m seqlab model=lstm\nname: lstm\nhidden_size: 3\n"},
    )
    plan = {"main": [toy, broken], "clash": clash, "shadow": [shadow]}
    out = {name: tmp_path_factory.mktemp(f"site_{name}") for name in plan}
    # offline and fast with the venv's setuptools; a venv without it (Python >= 3.12) lets pip fetch it
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", *offline]
    procs = {
        name: subprocess.Popen(
            [*pip, "--target", str(out[name]), *map(str, paths)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, paths in plan.items()
    }
    for name, proc in procs.items():
        log, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"pip install of the {name} plugins failed:\n{log}"
    return out


@pytest.fixture
def use(sites, monkeypatch):
    """``use("main", ...)`` puts those installed plugin folders on sys.path for this test."""
    monkeypatch.delenv(registry.DISABLE_ENV, raising=False)

    def add(*names: str) -> None:
        for name in names:
            monkeypatch.syspath_prepend(str(sites[name]))
        registry.clear_cache()

    yield add
    registry.clear_cache()


def cli(
    args: list[str], cwd: Path, sites: dict[str, Path], *names: str, module: str = "seqlab", **env: str
) -> subprocess.CompletedProcess:
    path = os.pathsep.join([*(str(sites[n]) for n in names), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    full_env = {k: v for k, v in os.environ.items() if k != registry.DISABLE_ENV}
    full_env.update({"WANDB_MODE": "disabled", "PYTHONPATH": path, **env})
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=full_env
    )


def group_options(group: str) -> list[str]:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="seqlab.conf", version_base="1.3"):
            return GlobalHydra.instance().config_loader().get_group_options(group)
    finally:
        GlobalHydra.instance().clear()


# ---- in process ------------------------------------------------------------------------------------------------
def test_installed_plugin_adds_options_and_a_broken_one_is_skipped(use):
    use("main")
    assert {"toycell", "lstm"} <= set(registry.names("model")) and "toytask" in registry.names("task")
    assert registry.get_model("toycell").__name__ == "ToyCell" and registry.owner("task", "toytask") == "seqlab-toy"
    assert "toycell" in group_options("model") and "toytask" in group_options("task")
    assert "brokencell" not in group_options("model")  # its config package failed to import: left out
    cfg = compose_run_config(["model=toycell", "task=toytask"])
    assert (cfg.model.name, cfg.task.name) == ("toycell", "toytask")
    validate(cfg)
    with pytest.raises(ConfigError, match="seqlab-broken.*RuntimeError: seqlab_broken is broken on purpose"):
        registry.get_model("brokencell")
    assert registry.get_model("lstm").__name__ == "LSTM"
    text = render(registry.plugins())
    assert "seqlab-toy 0.3.1 [enabled]" in text and "options: model/toycell, task/toytask" in text
    assert "seqlab-broken 0.3.1 [enabled, BROKEN]" in text and "broken on purpose" in text


def test_disabled_plugins(use, monkeypatch):
    use("main", "clash", "shadow")
    monkeypatch.setenv(registry.DISABLE_ENV, "all")
    registry.check_plugins()
    assert "toycell" not in registry.names("model") and "toycell" not in group_options("model")
    assert "lstm" in group_options("model")
    monkeypatch.setenv(registry.DISABLE_ENV, "seqlab-clash-b,seqlab_shadow,seqlab-broken")
    registry.check_plugins()
    assert registry.owner("model", "dupcell") == "seqlab-clash-a"
    assert "toycell" in group_options("model") and compose_run_config(["model=lstm"]).model.hidden_size != 3
    infos = {i.dist: i for i in registry.plugins()}
    assert not infos["seqlab-shadow"].enabled and infos["seqlab-broken"].errors == []


def test_two_installed_packages_registering_one_name(use):
    use("clash")
    with pytest.raises(PluginError, match="'dupcell' is registered by two packages: 'seqlab-clash-a' and 'seqlab-cl"):
        registry.check_plugins()


def test_installed_plugin_yaml_cannot_shadow_a_builtin(use):
    use("shadow")
    with pytest.raises(PluginError, match="plugin 'seqlab-shadow' ships config 'model/lstm.yaml'"):
        registry.check_plugins()
    with pytest.raises(PluginError, match="seqlab-shadow"):
        compose_run_config(["model=lstm"])


def test_plugins_listing_blames_the_clashing_plugins_and_exits_1(sites, tmp_path):
    """``python -m seqlab.plugins`` (no torch: fast) with two plugins registering one name, without --strict."""
    proc = cli([], tmp_path, sites, "clash", module="seqlab.plugins")
    assert proc.returncode == 1, proc.stderr
    assert "seqlab: error: model name 'dupcell' is registered by two packages" in proc.stderr
    for dist in ("seqlab-clash-a", "seqlab-clash-b"):
        assert f"{dist} 0.3.1 [enabled, BROKEN]" in proc.stdout
    assert "[built-in]" in proc.stdout and "built-in, BROKEN" not in proc.stdout


# ---- through the command line (each CLI start imports torch and Lightning: slow on a shared 2-core machine) ----
@pytest.mark.slow
def test_plugins_listing_and_help(sites, tmp_path):
    proc = cli(["--json"], tmp_path, sites, "main", module="seqlab.plugins")
    assert proc.returncode == 0, proc.stderr
    infos = {i["dist"]: i for i in json.loads(proc.stdout)}
    toy = infos["seqlab-toy"]
    assert (toy["version"], toy["models"], toy["tasks"], toy["errors"]) == ("0.3.1", ["toycell"], ["toytask"], [])
    assert toy["conf"] == ["seqlab_toy.conf"] and Path(toy["conf_locations"][0]).is_relative_to(sites["main"])
    assert any("broken on purpose" in e for e in infos["seqlab-broken"]["errors"])
    assert "seqlab-broken" in proc.stderr and list(infos)[0] == "seqlab"
    proc = cli(["--help"], tmp_path, sites, "main")
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("== Config groups")[1].split("== Config (")[0]
    groups = {line.split(":")[0]: line for line in section.splitlines() if ":" in line}
    assert "toycell" in groups["model"] and "lstm" in groups["model"] and "toytask" in groups["task"]


@pytest.mark.slow
def test_clash_and_shadow_end_the_cli_with_one_line(sites, tmp_path):
    for site, needle in (("clash", "'seqlab-clash-a' and 'seqlab-clash-b'"), ("shadow", "'seqlab-shadow'")):
        proc = cli(["model=lstm", "task=charlm"], tmp_path, sites, site)
        assert proc.returncode == 2, proc.stderr[-2000:]
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seqlab: error:") and needle in lines[0], proc.stderr
        assert not (tmp_path / "outputs").exists()
        proc = cli(["model=lstm", "task=charlm", "--cfg", "job"], tmp_path, sites, site, SEQLAB_DISABLE_PLUGINS="all")
        assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_sweep_mixes_plugin_and_builtin_models_beside_a_broken_plugin(sites, tmp_path, tiny_corpus):
    """``python -m seqlab -m model=lstm,toycell task=toytask``: both jobs train; the broken plugin is only a warning."""
    proc = cli(
        ["-m", "model=lstm,toycell", "task=toytask", *TINY, f"task.data.path={tiny_corpus}"], tmp_path, sites, "main"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "seqlab-broken" in proc.stderr and "broken on purpose" in proc.stderr
    results = [json.loads((d / "results.json").read_text()) for d in run_dirs(tmp_path)]
    assert sorted(r["model"] for r in results) == ["lstm", "toycell"]
    assert all(r["task"] == "toytask" and r["optimizer_steps"] > 0 for r in results)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("seqlab_indrnn") is None, reason="plugins/seqlab-indrnn not installed")
def test_sweep_with_the_example_indrnn_plugin(tmp_path, tiny_corpus):
    """``python -m seqlab -m model=lstm,indrnn task=charlm`` with the example plugin from plugins/."""
    proc = cli(["-m", "model=lstm,indrnn", "task=charlm", *TINY, f"task.data.path={tiny_corpus}"], tmp_path, {})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads((d / "results.json").read_text()) for d in run_dirs(tmp_path)]
    assert sorted(r["model"] for r in results) == ["indrnn", "lstm"]
