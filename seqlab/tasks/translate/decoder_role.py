"""The ``decoder`` role of task translate: ``task.decoder.name`` picks a registered decoder (entry-point group
``seqlab.decoders``), the other keys of ``task.decoder`` are that decoder's ``Config`` fields.

A decoder class is built as ``Decoder(vocab_size, memory_size, config)``. The YAML lists the built-in ``rnn``
decoder's keys; a plugin decoder takes the keys its ``Config`` declares, and an ``rnn`` key left at its default is
not an error for it (so ``task.decoder.name=mine`` works without deleting keys), while one set to another value is
(the rule of every role node: seqlab/config/role_node.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from seqlab import registry
from seqlab.config.role_node import component_config, under_node
from seqlab.errors import ConfigError
from seqlab.models.rnn_decoder import RNNDecoderConfig


def decoder_config(node: dict[str, Any]) -> Any:
    """The typed config of the decoder ``node["name"]`` names, from the other keys of ``node``."""
    name = node.get("name", "rnn")
    if name not in registry.names("decoder"):
        hint = registry.disabled_hint("decoder", name)
        raise ConfigError("task.decoder.name", f"unknown decoder '{name}'{hint}", allowed=registry.names("decoder"))
    decoder_cls = registry.get_decoder(name)
    schema = getattr(decoder_cls, "Config", None)
    if schema is None:
        raise ConfigError("task.decoder.name", f"decoder '{name}' declares no Config dataclass")
    listed = dataclasses.asdict(RNNDecoderConfig())  # the YAML lists the rnn decoder's keys
    return component_config(node, schema, "task.decoder", listed, f"decoder '{name}'")


def build_decoder(node: dict[str, Any], vocab_size: int, memory_size: int | None) -> Any:
    """The decoder ``node`` describes; its own ConfigErrors (``decoder.<key>``) are named ``task.decoder.<key>``."""
    config = decoder_config(node)
    decoder_cls = registry.get_decoder(node.get("name", "rnn"))
    try:
        return decoder_cls(vocab_size, memory_size, config)
    except ConfigError as exc:
        raise under_node(exc, "task.decoder") from None
