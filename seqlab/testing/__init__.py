"""Contract test suites a plugin author subclasses in their own tests (like Hydra's plugin test suites), and the
helpers they use (docs/plugins.md, "Testing a plugin").

    from seqlab.testing import DecoderContract, ModelContract, TaskContract

    class TestMyCell(ModelContract):
        model_name = "mycell"

    class TestMyTask(TaskContract):
        task_name = "mytask"
        overrides = ["task.batch_size=4", "task.seq_len=12"]

    class TestMyDecoder(DecoderContract):  # a decoder (seqlab.api.Decoder) for seq2seq or captioning
        def make_decoder(self): ...

Run them with pytest after ``pip install`` of the plugin: they compose the plugin's YAML through seqlab's config
search path, so they also check that the entry points and config package are wired up. Helpers:
``compose_run_config(overrides)`` (the run config ``python -m seqlab OVERRIDES`` composes), ``option_file(group,
option)`` (the YAML file behind an option), ``usage_line(path, group, option)`` (its usage comment) and
``validate(cfg)`` (seqlab's pre-flight checks of a composed run config: what ``python -m seqlab`` runs first).

The suites use seqlab's public API (``seqlab.api``) for everything a plugin sees; a plugin's tests import only
``seqlab.api``, ``seqlab.testing`` and the plugin itself.
"""

from seqlab.config.validate import validate
from seqlab.testing.compose import compose_run_config, option_file, usage_line
from seqlab.testing.decoder_contract import DecoderContract
from seqlab.testing.image_encoder_contract import ImageEncoderContract
from seqlab.testing.model_contract import ModelContract
from seqlab.testing.task_contract import TaskContract

__all__ = [
    "DecoderContract",
    "ImageEncoderContract",
    "ModelContract",
    "TaskContract",
    "compose_run_config",
    "option_file",
    "usage_line",
    "validate",
]
