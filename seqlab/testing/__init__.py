"""Contract test suites a plugin author subclasses in their own tests (like Hydra's plugin test suites), and the
helpers they use (docs/plugins.md, "Testing a plugin").

    from seqlab.testing import DecoderContract, ModelContract, TaskContract

    class TestMyCell(ModelContract):
        model_name = "mycell"

    class TestMyTask(TaskContract):
        task_name = "mytask"
        overrides = ["task.batch_size=4", "task.seq_len=12"]

    class TestMyDecoder(DecoderContract):  # a decoder (seqlab.models.decoder.Decoder) for seq2seq or captioning
        def make_decoder(self): ...

Run them with pytest after ``pip install`` of the plugin: they compose the plugin's YAML through seqlab's config
search path, so they also check that the entry points and config package are wired up. Helpers:
``compose_run_config(overrides)`` (the run config ``python -m seqlab OVERRIDES`` composes), ``option_file(group,
option)`` (the YAML file behind an option) and ``usage_line(path, group, option)`` (its usage comment).
"""

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
]
