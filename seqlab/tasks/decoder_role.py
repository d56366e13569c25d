"""The ``decoder`` role, shared by every task that generates: a task's ``decoder`` node names a registered decoder
(entry-point group ``seqlab.decoders``) in ``name``; its other keys are that decoder's ``Config`` fields.

A decoder class is built as ``Decoder(vocab_size, memory_size, config)``. A task's YAML usually lists the built-in
``rnn`` decoder's keys (:func:`decoder_node`); a plugin decoder takes the keys its ``Config`` declares, and an ``rnn``
key left at its default is not an error for it (so ``task.decoder.name=mine`` works without deleting keys), while one
set to another value is; a built-in default that the decoder's own key of that name cannot take (``attention:
bahdanau`` for a decoder whose ``attention`` is a bool) leaves that key at the decoder's own default. Public as
``seqlab.api.build_decoder`` (docs/plugins.md, "A task that picks its decoder by name").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from seqlab import registry
from seqlab.config.role_node import under_node
from seqlab.config.schema import to_dataclass
from seqlab.errors import ConfigError
from seqlab.models.rnn_decoder import RNNDecoderConfig

DEFAULT_DECODER = "rnn"


def decoder_node(name: str = DEFAULT_DECODER) -> dict[str, Any]:
    """The default ``decoder`` node of a task: ``name`` and the built-in ``rnn`` decoder's keys at their defaults
    (a plain dict, for ``field(default_factory=decoder_node)`` in a task's ``Config``)."""
    return {"name": name, **dataclasses.asdict(RNNDecoderConfig())}


def _as_node(name_or_node: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(name_or_node, str):
        return {"name": name_or_node}
    return dict(name_or_node.items())


def decoder_config(name_or_node: str | Mapping[str, Any], key: str = "task.decoder") -> Any:
    """The typed config of the decoder ``node["name"]`` names, from the other keys of the node (a bare name: that
    decoder's defaults). Errors name ``<key>.<field>``."""
    node = _as_node(name_or_node)
    name = node.get("name", DEFAULT_DECODER)
    if name not in registry.names("decoder"):
        hint = registry.disabled_hint("decoder", name)
        raise ConfigError(f"{key}.name", f"unknown decoder '{name}'{hint}", allowed=registry.names("decoder"))
    decoder_cls = registry.get_decoder(name)
    schema = getattr(decoder_cls, "Config", None)
    if schema is None:
        raise ConfigError(f"{key}.name", f"decoder '{name}' declares no Config dataclass")
    declared = {f.name for f in dataclasses.fields(schema)}
    rnn_defaults = dataclasses.asdict(RNNDecoderConfig()) if name != DEFAULT_DECODER else {}
    keys: dict[str, Any] = {}
    for field, value in node.items():
        if field == "name":
            continue
        if field in declared:
            keys[field] = value
        elif rnn_defaults.get(field, object()) != value:
            raise ConfigError(f"{key}.{field}", f"decoder '{name}' has no such key", allowed=sorted(declared))
    while True:
        try:
            return to_dataclass(schema, keys, key)
        except ConfigError as exc:  # a built-in default the decoder's own key cannot take: its own default applies
            field = exc.key.removeprefix(f"{key}.")
            if field not in keys or rnn_defaults.get(field, object()) != keys[field]:
                raise
            del keys[field]


def build_decoder(
    name_or_node: str | Mapping[str, Any], vocab_size: int, memory_size: int | None, key: str = "task.decoder"
) -> Any:
    """The decoder a name or a ``decoder`` node describes, built as ``Decoder(vocab_size, memory_size, config)``.

    ``memory_size`` is the size of the memory the decoder attends over (an encoder's ``output_size``), or None
    without one. A decoder's own ConfigErrors (``decoder.<field>``) are re-raised as ``<key>.<field>``."""
    node = _as_node(name_or_node)
    config = decoder_config(node, key)
    decoder_cls = registry.get_decoder(node.get("name", DEFAULT_DECODER))
    try:
        return decoder_cls(vocab_size, memory_size, config)
    except ConfigError as exc:
        raise under_node(exc, key) from None
