"""The components of a captioning run: the image encoder (``task.image_encoder``, the ``image_encoder`` role), the
decoder (its cell, size and depth from the ``model`` group: ``model=lstm`` captions with an LSTM), and the hand-over
from the image to the decoder's first state.

- ``task.decoder.attention=none`` (Show and Tell, Vinyals et al. 2015): the built-in ``rnn`` decoder without
  attention; the pooled image vector v initialises every layer's state, ``h_0 = tanh(W_h LN(v))`` (and
  ``c_0 = tanh(W_c LN(v))`` for an LSTM; LN a LayerNorm).
- ``soft`` (Show, Attend and Tell, Xu et al. 2015): the ``show_attend_tell`` decoder attends over the feature grid at
  every step (gating scalar optional) and initialises its state from the mean of the grid itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import torch
from torch import nn

from seqlab import registry
from seqlab.config.role_node import component_config, under_node
from seqlab.config.schema import to_dataclass
from seqlab.errors import ConfigError
from seqlab.tasks.caption.config import default_image_encoder

CELLS = ("rnn", "lstm", "gru")
ATTENTIONS = ("none", "soft")


def recurrent_cell(model_name: str) -> str | None:
    """The recurrent cell of a model option (``rnn``, ``lstm``, ``gru``), or None for a non-recurrent model."""
    cell = getattr(registry.get_model(model_name), "cell", None)
    return cell if cell in CELLS else None


def image_encoder_config(node: Mapping[str, Any]) -> Any:
    """The typed ``Config`` of the image encoder ``node["name"]`` names, from the keys of ``node`` it declares
    (error keys ``task.image_encoder.*``)."""
    name = node.get("name", "small_cnn")
    if name not in registry.names("image_encoder"):
        hint = registry.disabled_hint("image_encoder", name)
        raise ConfigError(
            "task.image_encoder.name", f"unknown image encoder '{name}'{hint}", allowed=registry.names("image_encoder")
        )
    schema = registry.get_image_encoder(name).Config
    listed = default_image_encoder()
    return component_config(node, schema, "task.image_encoder", listed, f"image encoder '{name}'")


def build_image_encoder(node: Mapping[str, Any]) -> Any:
    """The image encoder ``node["name"]`` names, built from :func:`image_encoder_config`."""
    config = image_encoder_config(node)
    try:
        return registry.get_image_encoder(node.get("name", "small_cnn"))(config)
    except ConfigError as exc:  # its own keys (image_encoder.model) named under the node
        raise under_node(exc, "task.image_encoder") from None


def build_decoder(model_cfg: Any, decoder: Any, vocab_size: int, memory_size: int) -> Any:
    """The caption decoder: the model group's cell, hidden size, depth and dropout, with or without soft attention."""
    cell = recurrent_cell(model_cfg.name)
    common = {
        "cell": cell,
        "hidden_size": int(model_cfg.hidden_size),
        "num_layers": int(model_cfg.num_layers),
        "dropout": float(model_cfg.get("dropout", 0.0)),
        "embedding_dim": int(decoder.embedding_dim),
    }
    if decoder.attention == "soft":
        cls = registry.get_decoder("show_attend_tell")
        extra = {"attention_size": decoder.attention_size, "gating": decoder.gating, "init": decoder.init}
        return cls(vocab_size, memory_size, _typed(cls, {**common, **extra}))
    cls = registry.get_decoder("rnn")
    return cls(vocab_size, None, _typed(cls, {**common, "attention": "none"}))


def _typed(cls: type, values: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls.Config)}
    return to_dataclass(cls.Config, {k: v for k, v in values.items() if k in names}, "task.decoder")


class ImageToState(nn.Module):
    """``h_0 = tanh(W_h LN(v))`` per layer (and ``c_0 = tanh(W_c LN(v))`` for an LSTM) from the pooled image vector
    v. The LayerNorm keeps the tanh out of saturation: a CNN trained from scratch without BatchNorm drifted to pooled
    features near 16 that differed across images by about 0.2, which saturated every tanh, gave every image the
    same state and left the model reciting the language prior (BLEU-4 0.11; docs/benchmarks.md, Captioning)."""

    def __init__(self, image_size: int, hidden_size: int, num_layers: int, lstm: bool) -> None:
        super().__init__()
        self.layers, self.hidden = num_layers, hidden_size
        self.norm = nn.LayerNorm(image_size)
        self.to_h = nn.Linear(image_size, num_layers * hidden_size)
        self.to_c = nn.Linear(image_size, num_layers * hidden_size) if lstm else None

    def forward(self, pooled: torch.Tensor) -> Any:
        batch = pooled.size(0)
        pooled = self.norm(pooled)

        def layered(x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(x).view(batch, self.layers, self.hidden).transpose(0, 1).contiguous()

        h = layered(self.to_h(pooled))
        return (h, layered(self.to_c(pooled))) if self.to_c is not None else h
