"""Each default is stated once in effect: a key that a group option's YAML file sets holds the same value as its
dataclass default (the YAML documents the defaults; the dataclass checks types), and each name agrees across the
entry point, the class and the YAML file. A change to one side without the other fails here."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from seqlab import registry
from seqlab.config.schema import flat_keys as flat
from seqlab.testing import compose_run_config


def options(kind: str) -> list[str]:
    return registry.names(kind)


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k in ("model", "task") for n in options(k)])
def test_the_yaml_defaults_are_the_dataclass_defaults(kind, name):
    cls = registry.get(kind, name)
    schema = flat(OmegaConf.to_container(OmegaConf.structured(cls.Config), resolve=True))
    extra = ["task=sentiment"] if kind == "model" and getattr(cls, "pooled", False) else []
    cfg = compose_run_config([f"{kind}={name}", "budget=long", *extra])  # budget=long: no per-task budget keys
    yaml = flat(OmegaConf.to_container(cfg[kind], resolve=True))
    assert yaml["name"] == name, "the YAML name is the entry-point name"
    differ = {k: (v, schema.get(k, "<no field>")) for k, v in yaml.items() if k != "name" and schema.get(k, v) != v}
    assert not differ, f"{kind}={name}: YAML value vs dataclass default: {differ}"
    assert set(yaml) <= set(schema), f"keys without a field: {set(yaml) - set(schema)}"
    if kind == "task":
        assert cls.name == name, "Task.name is the entry-point name"
