"""``python -m seqlab.plugins`` (in process, fake entry points): who is blamed for a problem, and the exit status."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from seqlab import plugins, registry
from seqlab.models.recurrent import GRU

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
    name: str
    value: str
    dist: FakeDist
    obj: Any = None

    def load(self) -> Any:
        if isinstance(self.obj, Exception):
            raise self.obj
        return self.obj


@pytest.fixture
def add_plugin(monkeypatch):
    """``add_plugin(group, name, dist, obj)`` registers a fake entry point beside the real ones."""
    extra: dict[str, list[FakeEP]] = {}

    def entry_points(group: str) -> list[Any]:
        return [*REAL_ENTRY_POINTS(group=group), *extra.get(group, [])]

    def add(group: str, name: str, dist: str, obj: Any = GRU) -> None:
        extra.setdefault(group, []).append(FakeEP(name, f"{dist}:{name}", FakeDist(dist), obj))
        registry.clear_cache()

    monkeypatch.setattr(registry, "entry_points", entry_points)
    monkeypatch.delenv(registry.DISABLE_ENV, raising=False)
    registry.clear_cache()
    yield add
    registry.clear_cache()


def listing(capsys, *args: str) -> tuple[int, dict[str, dict], str]:
    """Exit status, the JSON listing by distribution, stderr."""
    status = plugins.main(["--json", *args])
    out, err = capsys.readouterr()
    return status, {i["dist"]: i for i in json.loads(out)}, err


def test_a_plugin_reusing_a_builtin_name_is_blamed_and_the_exit_status_is_1(add_plugin, capsys):
    add_plugin("seqlab.models", "lstm", "seqlab-mine")
    status, infos, err = listing(capsys)
    assert status == 1, "a clash stops python -m seqlab: the listing must not exit 0"
    assert infos["seqlab"]["errors"] == [], "the built-in is not at fault"
    assert any("model name 'lstm' is registered by two packages" in e for e in infos["seqlab-mine"]["errors"])
    assert "seqlab: error: model name 'lstm'" in err and "SEQLAB_DISABLE_PLUGINS=seqlab-mine" in err
    text = plugins.render(registry.plugins())
    assert f"seqlab {infos['seqlab']['version']} [built-in]\n" in text and "seqlab-mine 9.9 [enabled, BROKEN]" in text


def test_two_plugins_clashing_are_both_listed(add_plugin, capsys):
    add_plugin("seqlab.decoders", "dupdec", "seqlab-a")
    add_plugin("seqlab.decoders", "dupdec", "seqlab-b")
    status, infos, err = listing(capsys)
    assert status == 1 and "decoder name 'dupdec'" in err
    assert all(any("'dupdec'" in e for e in infos[d]["errors"]) for d in ("seqlab-a", "seqlab-b"))


def test_a_broken_plugin_fails_only_under_strict(add_plugin, capsys):
    add_plugin("seqlab.models", "brokencell", "seqlab-broken", RuntimeError("boom on import"))
    status, infos, err = listing(capsys, "--load")
    assert status == 0 and "plugins with problems: seqlab-broken" in err and "error:" not in err
    assert infos["seqlab-broken"]["errors"] == ["model 'brokencell' failed to import: RuntimeError: boom on import"]
    status, _, _ = listing(capsys, "--strict")
    assert status == 1


def test_a_clean_installation_exits_0(add_plugin, capsys):
    add_plugin("seqlab.models", "fakecell", "seqlab-fake")
    status, infos, err = listing(capsys)
    assert status == 0 and infos["seqlab-fake"]["models"] == ["fakecell"] and infos["seqlab-fake"]["errors"] == []
    assert all(not i["errors"] for i in infos.values()), err


def test_a_plugin_for_another_api_is_listed_as_skipped_and_the_exit_status_is_0(add_plugin, capsys):
    add_plugin("seqlab.models", "futurecell", "seqlab-future")
    add_plugin("seqlab.api", "future_pkg", "seqlab-future", "==2.*")
    status, infos, err = listing(capsys)
    assert status == 0 and "Traceback" not in err
    future = infos["seqlab-future"]
    assert not future["enabled"] and "supports seqlab plugin API ==2.*" in future["skipped"]
    text = plugins.render(registry.plugins())
    assert "seqlab-future 9.9 [skipped: plugin API]\n" in text
    assert f"  skipped: it supports seqlab plugin API ==2.*, this seqlab has API {registry.API_VERSION}" in text
