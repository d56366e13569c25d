"""The public API for plugins: everything a model, decoder, image encoder or task plugin may import from seqlab.

A plugin imports ``seqlab.api`` (and ``seqlab.testing`` in its tests) and nothing else of seqlab; the rest is internal
and may move between releases. ``VERSION`` is this API's version: its major number changes only when a plugin
written for the previous one could break. A plugin declares the versions it supports (docs/plugins.md, "Versions"):

    # pyproject.toml                                    # src/my_plugin/__init__.py
    [project.entry-points."seqlab.api"]                 SEQLAB_API = ">=1,<2"
    my_plugin = "my_plugin:SEQLAB_API"

and an installed plugin whose range leaves ``VERSION`` out is skipped, in one line, and listed as such by
``python -m seqlab.plugins``.

Contents, by role (docs/plugins.md walks through each):

- errors: ``ConfigError(key, message, allowed=...)``, ``DataError(message)``;
- models (sequence encoders): ``SequenceModel``, ``ModelConfig``, ``State`` and the state helpers, ``Capabilities``,
  ``Needs``, ``build_model``;
- decoders: ``Decoder``, ``DecoderOutput``, ``build_decoder`` / ``decoder_config`` / ``decoder_node`` (a task's
  ``decoder`` node: a decoder picked by name), ``Bridge`` (an encoder's final state -> a decoder's first state);
- image encoders: ``ImageEncoder``, ``ImageEncoderConfig``, ``flatten_grid``, ``check_images``;
- tasks: ``Task``, ``JobConfig`` (what ``check``/``build`` receive), ``task_config``, ``check_model_serves``,
  ``check_tbptt_applies``, ``check_positive``, ``check_tbptt``; the module base ``TBPTTModule``, ``StepResult``,
  ``split_time``; the metric sums ``Sums``;
- search: ``greedy``, ``sample``, ``beam_search``, ``score_tokens``, ``EnsembleDecoder``, ``Hypotheses``, ...;
- text and data: ``Vocab`` and its specials, ``tokenize``, ``build_tokenizer``, ``normalize``, ``pad_sequences``,
  ``BucketBatchSampler``, ``locate``/``data_dir``, ``utf8_or_error``, ``split_sizes``, ``TensorDataModule``, ...;
- the registry's lookups by name: ``get_model``, ``get_decoder``, ``get_image_encoder``, ``registered``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from seqlab.config.job import JobConfig
from seqlab.data.batching import BucketBatchSampler, collate_labelled, pad_sequences, reverse_padded
from seqlab.data.locate import Remote, data_dir, locate
from seqlab.data.normalize import NORMALIZATIONS, normalize
from seqlab.data.splits import split_sizes
from seqlab.data.synthetic import Splits, seeded_splits
from seqlab.data.text_files import utf8_or_error
from seqlab.data.tokenize import tokenize
from seqlab.data.tokenizers import TOKENIZERS, Tokenizer, build_tokenizer, tokenizer_from_state
from seqlab.data.vocab import BOS, CLASSIFY, EOS, GENERATE, PAD, UNK, Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.generation import (
    EnsembleDecoder,
    Hypotheses,
    average_log_probs,
    beam_search,
    derive_seed,
    greedy,
    length_penalty,
    sample,
    sample_next,
    score_tokens,
)
from seqlab.models.base import (
    ModelConfig,
    SequenceModel,
    State,
    detach_state,
    length_mask,
    map_state,
    select_state,
    state_tensors,
)
from seqlab.models.bridge import BRIDGES, Bridge, align_layers, merge_directions
from seqlab.models.capabilities import Capabilities, Needs
from seqlab.models.decoder import Decoder, DecoderOutput
from seqlab.models.image_encoder import ImageEncoder, ImageEncoderConfig, check_images, flatten_grid
from seqlab.registry import API_VERSION as VERSION
from seqlab.registry import get_decoder, get_image_encoder, get_model
from seqlab.registry import names as registered
from seqlab.tasks.base import Task, build_model, check_model_serves, check_tbptt_applies, task_config
from seqlab.tasks.decoder_role import build_decoder, decoder_config, decoder_node
from seqlab.training.tbptt_check import check_positive, check_tbptt

if TYPE_CHECKING:
    from seqlab.data.tensor_datamodule import TensorDataModule
    from seqlab.training.metric_sums import Sums
    from seqlab.training.tbptt import StepResult, TBPTTModule, split_time

# names whose modules import Lightning (seconds): imported when first read, so a plugin's task or model module that
# imports seqlab.api keeps pre-flight (a config check) free of Lightning
LAZY = {
    "TensorDataModule": "seqlab.data.tensor_datamodule",
    "Sums": "seqlab.training.metric_sums",
    "StepResult": "seqlab.training.tbptt",
    "TBPTTModule": "seqlab.training.tbptt",
    "split_time": "seqlab.training.tbptt",
}


def __getattr__(name: str) -> Any:
    if name in LAZY:
        value = getattr(importlib.import_module(LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BOS",
    "BRIDGES",
    "CLASSIFY",
    "EOS",
    "GENERATE",
    "NORMALIZATIONS",
    "PAD",
    "TOKENIZERS",
    "UNK",
    "VERSION",
    "Bridge",
    "BucketBatchSampler",
    "Capabilities",
    "ConfigError",
    "DataError",
    "Decoder",
    "DecoderOutput",
    "EnsembleDecoder",
    "Hypotheses",
    "ImageEncoder",
    "ImageEncoderConfig",
    "ModelConfig",
    "Needs",
    "Remote",
    "SequenceModel",
    "Splits",
    "State",
    "StepResult",
    "Sums",
    "TBPTTModule",
    "Task",
    "TensorDataModule",
    "Tokenizer",
    "Vocab",
    "align_layers",
    "average_log_probs",
    "beam_search",
    "build_decoder",
    "build_model",
    "build_tokenizer",
    "check_images",
    "check_model_serves",
    "check_positive",
    "check_tbptt",
    "check_tbptt_applies",
    "collate_labelled",
    "data_dir",
    "decoder_config",
    "decoder_node",
    "derive_seed",
    "detach_state",
    "flatten_grid",
    "get_decoder",
    "get_image_encoder",
    "get_model",
    "greedy",
    "length_mask",
    "length_penalty",
    "locate",
    "map_state",
    "merge_directions",
    "normalize",
    "pad_sequences",
    "registered",
    "reverse_padded",
    "sample",
    "sample_next",
    "score_tokens",
    "seeded_splits",
    "select_state",
    "split_sizes",
    "split_time",
    "state_tensors",
    "task_config",
    "JobConfig",
    "tokenize",
    "tokenizer_from_state",
    "utf8_or_error",
]
