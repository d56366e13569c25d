"""The public plugin API: ``seqlab.api`` exports what a plugin needs, the 0.1 import paths still work but warn code
outside seqlab (naming the new import), and ``build_decoder`` builds a decoder from a name or a task's node."""

from __future__ import annotations

import importlib
import sys
import warnings
from importlib.machinery import ModuleSpec

import pytest

import seqlab.api as api
from seqlab import registry, testing
from seqlab.models.rnn_decoder import RNNDecoder, RNNDecoderConfig

# every import docs/plugins.md (and docs/architecture.md) showed plugin authors in seqlab 0.1: module, name, new home
OLD_PATHS = [
    ("seqlab.errors", "ConfigError", "seqlab.api"),
    ("seqlab.errors", "DataError", "seqlab.api"),
    ("seqlab.models.base", "ModelConfig", "seqlab.api"),
    ("seqlab.models.base", "SequenceModel", "seqlab.api"),
    ("seqlab.models.base", "State", "seqlab.api"),
    ("seqlab.models.base", "detach_state", "seqlab.api"),
    ("seqlab.models.decoder", "Decoder", "seqlab.api"),
    ("seqlab.models.decoder", "DecoderOutput", "seqlab.api"),
    ("seqlab.models.capabilities", "Needs", "seqlab.api"),
    ("seqlab.models.capabilities", "Capabilities", "seqlab.api"),
    ("seqlab.models.image_encoder", "ImageEncoder", "seqlab.api"),
    ("seqlab.tasks.base", "Task", "seqlab.api"),
    ("seqlab.tasks.base", "check_model_serves", "seqlab.api"),
    ("seqlab.tasks.base", "check_tbptt_applies", "seqlab.api"),
    ("seqlab.tasks.base", "task_config", "seqlab.api"),
    ("seqlab.tasks.base", "build_model", "seqlab.api"),
    ("seqlab.training.tbptt_check", "check_positive", "seqlab.api"),
    ("seqlab.training.tbptt_check", "check_tbptt", "seqlab.api"),
    ("seqlab.training.metric_sums", "Sums", "seqlab.api"),
    ("seqlab.training.tbptt", "StepResult", "seqlab.api"),
    ("seqlab.training.tbptt", "TBPTTModule", "seqlab.api"),
    ("seqlab.training.tbptt", "split_time", "seqlab.api"),
    ("seqlab.generation", "beam_search", "seqlab.api"),
    ("seqlab.generation", "greedy", "seqlab.api"),
    ("seqlab.generation", "sample", "seqlab.api"),
    ("seqlab.registry", "get_decoder", "seqlab.api"),
    ("seqlab.config.validate", "validate", "seqlab.testing"),
]


def third_party_import(tmp_path, monkeypatch, source: str) -> object:
    """Import ``source`` as a module of another package (not seqlab), as a plugin's code would be."""
    name = f"thirdparty_{abs(hash(source))}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.mark.parametrize(("module", "name", "home"), OLD_PATHS, ids=[f"{m}.{n}" for m, n, _ in OLD_PATHS])
def test_an_old_path_works_and_warns_naming_the_new_import(tmp_path, monkeypatch, module, name, home):
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{name} .* `from {home} import {name}`") as record:
        plugin = third_party_import(tmp_path, monkeypatch, f"from {module} import {name}\n")
    assert getattr(plugin, name) is getattr(sys.modules[home], name)  # the same object: isinstance checks agree
    assert record[0].filename.endswith(".py") and "thirdparty_" in record[0].filename  # blamed on the caller


def test_a_script_run_as_main_is_outside_seqlab():
    with pytest.warns(DeprecationWarning, match="seqlab.errors.ConfigError"):
        exec("from seqlab.errors import ConfigError", {"__name__": "__main__"})


def test_attribute_access_from_outside_warns_too(tmp_path, monkeypatch):
    with pytest.warns(DeprecationWarning, match="seqlab.registry.get_decoder"):
        third_party_import(tmp_path, monkeypatch, "from seqlab import registry\nrnn = registry.get_decoder('rnn')\n")


def test_seqlab_itself_and_the_new_paths_never_warn(tmp_path, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec("from seqlab.models.base import State\nfrom seqlab.tasks.base import Task", {"__name__": "seqlab.x"})
        exec("from seqlab.registry import get_model", {"__name__": "hydra_plugins.seqlab_searchpath.plugin"})
        as_main = {"__name__": "__main__", "__spec__": ModuleSpec("seqlab.translate", None)}  # python -m seqlab.x
        exec("from seqlab.errors import ConfigError", as_main)
        third_party_import(tmp_path, monkeypatch, "from seqlab.api import State, Task, build_decoder\n")
        third_party_import(tmp_path, monkeypatch, "from seqlab.testing import validate, TaskContract\n")
        from seqlab.models.base import State  # noqa: F401  (seqlab's own tests and benchmarks test the internals)

        # names of an old module that the docs never showed are internal, but not deprecated
        third_party_import(tmp_path, monkeypatch, "from seqlab.models.base import select_state\n")


def test_the_api_exports_what_it_lists_and_is_versioned():
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert missing == []
    assert api.VERSION == registry.API_VERSION and int(api.VERSION.split(".")[0]) >= 1
    assert {"Decoder", "SequenceModel", "ImageEncoder", "Task", "TBPTTModule", "Bridge", "Sums"} <= set(api.__all__)
    assert {"ConfigError", "DataError", "build_decoder", "beam_search", "Vocab", "tokenize"} <= set(api.__all__)
    assert testing.validate.__module__ == "seqlab.config.validate"


# ---- build_decoder: a decoder by name, or from a task's decoder node --------------------------------------------
def test_build_decoder_by_name_uses_the_decoders_defaults():
    decoder = api.build_decoder("rnn", vocab_size=11, memory_size=6)
    assert isinstance(decoder, RNNDecoder) and decoder.vocab_size == 11
    assert decoder.config == RNNDecoderConfig()


def test_build_decoder_from_a_node_types_its_keys():
    node = {**api.decoder_node(), "cell": "lstm", "hidden_size": 12, "attention": "none"}
    decoder = api.build_decoder(node, 9, None)
    assert decoder.config.cell == "lstm" and decoder.config.hidden_size == 12 and not decoder.uses_memory


@pytest.mark.parametrize(
    ("node", "memory", "key"),
    [
        ({"name": "nope"}, 6, "task.decoder.name"),
        ({"name": "rnn", "cell": "tree"}, 6, "task.decoder.cell"),
        ({"name": "rnn", "hidden_size": "big"}, 6, "task.decoder.hidden_size"),
        ({"name": "rnn", "beam": 3}, 6, "task.decoder.beam"),
        ({"name": "rnn", "attention": "luong_dot", "hidden_size": 8}, 6, "task.decoder.attention"),
        ({"name": "rnn", "attention": "bahdanau"}, None, "task.decoder.attention"),
    ],
)
def test_build_decoder_errors_name_the_tasks_key(node, memory, key):
    with pytest.raises(api.ConfigError) as err:
        api.build_decoder(node, 9, memory)
    assert err.value.key == key


def test_build_decoder_under_another_key():
    with pytest.raises(api.ConfigError, match=r"^task\.speller\.cell: "):
        api.build_decoder({"name": "rnn", "cell": "tree"}, 9, 6, key="task.speller")


def test_the_built_in_decoder_names_its_own_keys():
    """What docs/plugins.md states: RNNDecoder raises ConfigError("decoder.<key>", ...) for a bad value, the
    luong_dot size mismatch included (it used to come from the attention module as the bare key)."""
    with pytest.raises(api.ConfigError) as err:
        RNNDecoder(9, 6, RNNDecoderConfig(attention="luong_dot", hidden_size=8))
    assert err.value.key == "decoder.attention"


def test_a_plugin_decoder_ignores_the_built_in_defaults_it_cannot_take(monkeypatch):
    """A task's node lists the rnn decoder's keys at their defaults; a decoder whose ``attention`` is a bool gets its
    own default for it, not a type error (``task.decoder.name=indrnn`` with translate's YAML); a value set by the
    user still has to fit."""
    from dataclasses import dataclass

    @dataclass
    class BoolAttentionConfig:
        hidden_size: int = 4
        attention: bool = False

    class BoolAttention(RNNDecoder):
        Config = BoolAttentionConfig

        def __init__(self, vocab_size, memory_size, config):
            api.Decoder.__init__(self, vocab_size)
            self.config = config

    real_names, real_get = registry.names, registry.get_decoder
    monkeypatch.setattr(registry, "names", lambda kind: [*real_names(kind), "boolatt"])
    monkeypatch.setattr(registry, "get_decoder", lambda n: BoolAttention if n == "boolatt" else real_get(n))
    decoder = api.build_decoder({**api.decoder_node("boolatt"), "hidden_size": 6}, 9, 5)
    assert decoder.config == BoolAttentionConfig(hidden_size=6, attention=False)
    with pytest.raises(api.ConfigError, match=r"^task\.decoder\.attention: "):
        api.build_decoder({**api.decoder_node("boolatt"), "attention": "luong_dot"}, 9, 5)
