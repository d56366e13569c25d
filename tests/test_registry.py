"""The registry's plugin rules, in-process and fast: fake entry points, real config packages in a temp folder.

(tests/test_plugins.py does the same through real ``pip install``s and the CLI.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from seqlab import registry
from seqlab.errors import ConfigError, PluginError
from seqlab.models.recurrent import GRU
from seqlab.testing import compose_run_config

REAL_ENTRY_POINTS = registry.entry_points


@dataclass
class FakeDist:
    name: str
    version: str = "9.9"

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name}


@dataclass
class FakeEP:
    """What the registry reads from an entry point: name, value, dist, load()."""

    name: str
    value: str
    dist: FakeDist
    obj: Any = None

    def load(self) -> Any:
        if isinstance(self.obj, Exception):
            raise self.obj
        return self.obj


@pytest.fixture
def fake_plugins(monkeypatch):
    """``add(group, name, value, dist, obj)`` registers a fake entry point beside the real ones."""
    extra: dict[str, list[FakeEP]] = {}

    def entry_points(group: str) -> list[Any]:
        return [*REAL_ENTRY_POINTS(group=group), *extra.get(group, [])]

    def add(group: str, name: str, value: str, dist: str, obj: Any = None) -> None:
        extra.setdefault(group, []).append(FakeEP(name, value, FakeDist(dist), obj))
        registry.clear_cache()

    monkeypatch.setattr(registry, "entry_points", entry_points)
    monkeypatch.delenv(registry.DISABLE_ENV, raising=False)
    registry.clear_cache()
    yield add
    registry.clear_cache()


def conf_package(root: Path, package: str, files: dict[str, str], init: str = "") -> str:
    """A config package ``package`` under ``root`` (put on sys.path by the caller) holding ``files``."""
    pkg = root / package
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(init)
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    return package


MODEL_YAML = "# Usage: python -m seqlab model={name}\nname: {model}\nhidden_size: 8\nnum_layers: 1\n"


def test_disable_variable_parsing(monkeypatch):
    monkeypatch.setenv(registry.DISABLE_ENV, "")
    assert registry.disabled_plugins() == set()
    monkeypatch.setenv(registry.DISABLE_ENV, "all")
    assert registry.disabled_plugins() is None and not registry.enabled("seqlab-indrnn")
    assert registry.enabled("seqlab"), "built-ins can never be disabled"
    monkeypatch.setenv(registry.DISABLE_ENV, " Seqlab_IndRNN, other ")
    assert registry.disabled_plugins() == {"seqlab-indrnn", "other"}
    assert not registry.enabled("seqlab-indrnn") and registry.enabled("seqlab-parity")


def test_builtins_and_unknown_names(fake_plugins):
    assert {"lstm", "gru", "rnn"} <= set(registry.names("model"))
    assert "charlm" in registry.names("task")
    assert registry.owner("model", "lstm") == "seqlab"
    with pytest.raises(ConfigError, match=r"model.name: unknown model 'nope' \(allowed: .*lstm"):
        registry.get_model("nope")


def test_plugin_model_is_registered_and_can_be_disabled(fake_plugins, monkeypatch):
    fake_plugins("seqlab.models", "fakecell", "fake_pkg:Cell", "seqlab-fake", GRU)
    assert registry.get_model("fakecell") is GRU and registry.owner("model", "fakecell") == "seqlab-fake"
    for value in ("all", "seqlab_fake", "other,seqlab-fake"):
        monkeypatch.setenv(registry.DISABLE_ENV, value)
        assert "fakecell" not in registry.names("model")
        assert "lstm" in registry.names("model")
    monkeypatch.setenv(registry.DISABLE_ENV, "other")
    assert "fakecell" in registry.names("model")


def test_two_packages_registering_one_name(fake_plugins, monkeypatch):
    fake_plugins("seqlab.models", "dupcell", "a:Cell", "seqlab-a", GRU)
    fake_plugins("seqlab.models", "dupcell", "b:Cell", "seqlab-b", GRU)
    with pytest.raises(PluginError, match="'dupcell' is registered by two packages: 'seqlab-a' and 'seqlab-b'"):
        registry.names("model")
    with pytest.raises(PluginError):
        registry.check_plugins()
    infos = {i.dist: i for i in registry.plugins()}  # the listing reports it instead of raising
    assert any("dupcell" in e for e in infos["seqlab-a"].errors)
    assert any("dupcell" in e for e in infos["seqlab-b"].errors)
    monkeypatch.setenv(registry.DISABLE_ENV, "seqlab-b")
    assert registry.get_model("dupcell") is GRU


def test_plugin_reusing_a_builtin_name(fake_plugins):
    fake_plugins("seqlab.tasks", "charlm", "mine:Task", "seqlab-mine", object)
    with pytest.raises(PluginError, match="task name 'charlm'.*'seqlab' and 'seqlab-mine'.*=seqlab-mine"):
        registry.get_task("charlm")


def test_broken_plugin_is_reported_and_skipped(fake_plugins, caplog):
    fake_plugins("seqlab.models", "brokencell", "broken:Cell", "seqlab-broken", RuntimeError("boom on import"))
    fake_plugins("seqlab.models", "goodcell", "good:Cell", "seqlab-good", GRU)
    with caplog.at_level(logging.WARNING, logger="seqlab.registry"):
        with pytest.raises(ConfigError, match="'brokencell' from plugin 'seqlab-broken' failed.*boom on import"):
            registry.get_model("brokencell")
    assert "seqlab-broken" in caplog.text and "boom on import" in caplog.text
    assert registry.get_model("goodcell") is GRU and registry.get_model("lstm").__name__ == "LSTM"
    infos = {i.dist: i for i in registry.plugins()}
    assert infos["seqlab-broken"].errors == ["model 'brokencell' failed to import: RuntimeError: boom on import"]
    assert infos["seqlab-good"].errors == [] and infos["seqlab-good"].models == ["goodcell"]


def test_plugin_config_package_joins_the_search_path(fake_plugins, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    conf_package(tmp_path, "fake_conf", {"model/fakecell.yaml": MODEL_YAML.format(name="fakecell", model="gru")})
    fake_plugins("seqlab.conf", "fake", "fake_conf", "seqlab-fake")
    assert ("seqlab-fake", "fake_conf") in registry.config_packages()
    registry.check_plugins()
    cfg = compose_run_config(["model=fakecell"])
    assert cfg.model.name == "gru" and cfg.model.hidden_size == 8
    info = {i.dist: i for i in registry.plugins()}["seqlab-fake"]
    assert info.options == ["model/fakecell"] and info.conf_locations == [str(tmp_path / "fake_conf")]
    monkeypatch.setenv(registry.DISABLE_ENV, "seqlab-fake")
    assert ("seqlab-fake", "fake_conf") not in registry.config_packages()
    with pytest.raises(Exception, match="fakecell"):
        compose_run_config(["model=fakecell"])


def test_plugin_yaml_never_shadows_a_builtin(fake_plugins, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    conf_package(tmp_path, "shadow_conf", {"model/lstm.yaml": MODEL_YAML.format(name="lstm", model="gru")})
    fake_plugins("seqlab.conf", "shadow", "shadow_conf", "seqlab-shadow")
    with pytest.raises(PluginError, match=r"plugin 'seqlab-shadow' ships config 'model/lstm.yaml'.*built-in option"):
        registry.check_plugins()
    with pytest.raises(PluginError, match="seqlab-shadow"):  # Hydra's search path refuses it too
        compose_run_config(["model=lstm"])
    assert any("model/lstm" in e for e in {i.dist: i for i in registry.plugins()}["seqlab-shadow"].errors)
    monkeypatch.setenv(registry.DISABLE_ENV, "seqlab-shadow")
    registry.check_plugins()
    assert compose_run_config(["model=lstm"]).model.name == "lstm"


def test_two_plugins_shipping_one_option(fake_plugins, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yaml = MODEL_YAML.format(name="twin", model="gru")
    conf_package(tmp_path, "twin_a_conf", {"model/twin.yaml": yaml})
    conf_package(tmp_path, "twin_b_conf", {"model/twin.yaml": yaml})
    fake_plugins("seqlab.conf", "a", "twin_a_conf", "seqlab-twin-a")
    fake_plugins("seqlab.conf", "b", "twin_b_conf", "seqlab-twin-b")
    with pytest.raises(PluginError, match="'seqlab-twin-b' ships config 'model/twin.yaml'.*plugin 'seqlab-twin-a'"):
        registry.check_plugins()


def test_broken_config_package_is_skipped(fake_plugins, tmp_path, monkeypatch, caplog):
    monkeypatch.syspath_prepend(str(tmp_path))
    conf_package(tmp_path, "bad_conf", {"model/badcell.yaml": "name: gru\n"}, init="raise ImportError('no torch_xyz')")
    conf_package(tmp_path, "ok_conf", {"model/okcell.yaml": MODEL_YAML.format(name="okcell", model="gru")})
    fake_plugins("seqlab.conf", "bad", "bad_conf", "seqlab-bad")
    fake_plugins("seqlab.conf", "ok", "ok_conf", "seqlab-ok")
    with caplog.at_level(logging.WARNING, logger="seqlab.registry"):
        packages = registry.config_packages()
    assert ("seqlab-ok", "ok_conf") in packages and not any(d == "seqlab-bad" for d, _ in packages)
    assert "seqlab-bad" in caplog.text and "no torch_xyz" in caplog.text
    registry.check_plugins()
    assert compose_run_config(["model=okcell"]).model.name == "gru"
    errors = {i.dist: i for i in registry.plugins()}["seqlab-bad"].errors
    assert errors == ["config package 'bad_conf' failed to import: ImportError: no torch_xyz"]


def test_plugin_yaml_never_shadows_hydra_or_the_config_store(fake_plugins, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    conf_package(
        tmp_path, "sneaky_conf", {"hydra/help/default.yaml": "app_name: x\n", "trainer_defaults.yaml": "max_steps: 1\n"}
    )
    fake_plugins("seqlab.conf", "sneaky", "sneaky_conf", "seqlab-sneaky")
    with pytest.raises(PluginError, match="'hydra/help/default.yaml'.*an option of Hydra itself"):
        registry.check_plugins()


def test_unknown_name_of_a_disabled_plugin_says_so(fake_plugins, monkeypatch):
    fake_plugins("seqlab.models", "offcell", "off:Cell", "seqlab-off", GRU)
    monkeypatch.setenv(registry.DISABLE_ENV, "seqlab-off")
    with pytest.raises(ConfigError, match="unknown model 'offcell' .plugin 'seqlab-off' is turned off by SEQLAB_DIS"):
        registry.get_model("offcell")


def test_a_plugin_adds_a_decoder_for_the_decoder_role(fake_plugins):
    """Decoders are a role of their own (entry point group ``seqlab.decoders``), registered like models."""
    from seqlab.models.decoder import Decoder

    class ToyDecoder(Decoder):
        pass

    fake_plugins("seqlab.decoders", "toydec", "toy_pkg:ToyDecoder", "seqlab-toy", ToyDecoder)
    assert "toydec" in registry.names("decoder") and registry.get_decoder("toydec") is ToyDecoder
    assert registry.owner("decoder", "toydec") == "seqlab-toy"
    listed = {info.dist: info for info in registry.plugins()}
    assert listed["seqlab-toy"].decoders == ["toydec"]
    fake_plugins("seqlab.decoders", "toydec", "other_pkg:ToyDecoder", "seqlab-other", ToyDecoder)
    with pytest.raises(PluginError, match="decoder name 'toydec' is registered by two packages"):
        registry.check_plugins()


def test_a_misspelled_name_in_the_disable_variable_is_warned_about(fake_plugins, monkeypatch, capsys):
    monkeypatch.setattr(registry, "_warned", set())
    monkeypatch.setenv(registry.DISABLE_ENV, "seqlab-indrnnn")
    registry.check_plugins()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "names no installed plugin: seqlab-indrnnn" in err
    registry.check_plugins()
    assert capsys.readouterr().err == "", "once per setting"
    monkeypatch.setenv(registry.DISABLE_ENV, "all")
    registry.check_plugins()
    assert capsys.readouterr().err == ""


def test_an_option_of_a_disabled_plugin_says_so(fake_plugins, monkeypatch):
    fake_plugins("seqlab.models", "fakecell", "fake_pkg:Cell", "seqlab-fake", GRU)
    monkeypatch.setenv(registry.DISABLE_ENV, "seqlab-fake")
    assert (
        registry.disabled_hint("model", "fakecell") == " (plugin 'seqlab-fake' is turned off by SEQLAB_DISABLE_PLUGINS)"
    )
    assert registry.disabled_hint("model", "lstm") == ""
    with pytest.raises(ConfigError, match="turned off"):
        registry.get_model("fakecell")


# ---- the plugin API range a plugin declares (group seqlab.api) --------------------------------------------------
def test_a_plugin_made_for_another_api_is_skipped_in_one_line(fake_plugins, capsys):
    fake_plugins("seqlab.models", "futurecell", "future_pkg.model:Cell", "seqlab-future", GRU)
    fake_plugins("seqlab.api", "future_pkg", "future_pkg:SEQLAB_API", "seqlab-future", ">=2,<3")
    fake_plugins("seqlab.models", "nowcell", "now_pkg.model:Cell", "seqlab-now", GRU)
    fake_plugins("seqlab.api", "now_pkg", "now_pkg:SEQLAB_API", "seqlab-now", ">=1,<2")
    fake_plugins("seqlab.models", "oldcell", "old_pkg.model:Cell", "seqlab-undeclared", GRU)  # 0.1-era: no range
    assert "nowcell" in registry.names("model") and "oldcell" in registry.names("model")
    assert "futurecell" not in registry.names("model")
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("seqlab: warning: plugin 'seqlab-future' skipped: it supports seqlab plugin API >=2,<3")
    assert f"this seqlab has API {registry.API_VERSION}" in err and "Traceback" not in err
    registry.check_plugins()  # no error: a skipped plugin does not stop a run
    with pytest.raises(ConfigError, match="unknown model 'futurecell' .plugin 'seqlab-future' is skipped: it supports"):
        registry.get_model("futurecell")
    listed = {info.dist: info for info in registry.plugins()}
    assert not listed["seqlab-future"].enabled and "API >=2,<3" in listed["seqlab-future"].skipped
    assert listed["seqlab-now"].enabled and listed["seqlab-now"].skipped is None
    assert listed["seqlab-undeclared"].enabled


def test_an_unreadable_api_range_skips_the_plugin(fake_plugins, capsys):
    fake_plugins("seqlab.models", "badcell", "bad_pkg.model:Cell", "seqlab-badrange", GRU)
    fake_plugins("seqlab.api", "bad_pkg", "bad_pkg:SEQLAB_API", "seqlab-badrange", "version one")
    fake_plugins("seqlab.models", "gonecell", "gone_pkg.model:Cell", "seqlab-gone", GRU)
    fake_plugins("seqlab.api", "gone_pkg", "gone_pkg:SEQLAB_API", "seqlab-gone", ImportError("no gone_pkg"))
    assert {"badcell", "gonecell"}.isdisjoint(registry.names("model"))
    err = capsys.readouterr().err
    assert "plugin 'seqlab-badrange' skipped: its seqlab API range (bad_pkg:SEQLAB_API) cannot be read" in err
    assert "plugin 'seqlab-gone' skipped: its seqlab API range (gone_pkg:SEQLAB_API) cannot be read: ImportError" in err


@pytest.mark.parametrize("package", ["seqlab_indrnn", "seqlab_parity"])
def test_the_example_plugins_declare_the_current_api(package):
    root = Path(__file__).resolve().parents[1] / "plugins" / package.replace("_", "-")
    assert f'{package} = "{package}:SEQLAB_API"' in (root / "pyproject.toml").read_text()
    init = (root / "src" / package / "__init__.py").read_text()
    (line,) = [line for line in init.splitlines() if line.startswith("SEQLAB_API")]
    declared = line.split("=", 1)[1].split("#")[0].strip(" '\"")
    assert registry.SpecifierSet(declared).contains(registry.API_VERSION)
    listed = {info.dist: info for info in registry.plugins()}
    dist = package.replace("_", "-")
    if dist in listed:  # installed (make install): used, not skipped
        assert listed[dist].enabled and listed[dist].skipped is None
