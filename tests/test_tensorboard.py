"""logger=tensorboard writes event files in the run folder with the metrics the CSV file gets (same steps, same
values), text samples and images (through seqlab.training.loggers.log_image); several loggers at once."""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import TINY, compose_config

from seqlab.config.preflight import preflight
from seqlab.errors import ConfigError
from seqlab.run.job import run
from seqlab.training.loggers import build_logger, log_image, log_table, markdown_table

needs_tensorboard = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None, reason="needs the extra: pip install -e '.[tensorboard]'"
)

# 12 optimizer steps = 6 batches of 2 TBPTT chunks; validation every 3 batches; train/loss logged every batch
RUN = [*TINY, "trainer.max_steps=12", "trainer.log_every_n_steps=1", "task.sample.every_n_val=1"]


def events(run_dir: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert files, f"no event files in {run_dir / 'tensorboard'}"
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc: Any) -> dict[str, list[tuple[int, float]]]:
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"] if tag != "epoch"}


def csv_metrics(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key not in ("epoch", "step") and value != "":
                    out.setdefault(key, []).append((int(row["step"]), float(value)))
    return out


@needs_tensorboard
def test_tensorboard_run_writes_scalars_samples_and_grad_flow(tmp_path, tiny_corpus, one_thread):
    cfg = compose_config(
        [*RUN, "logger=tensorboard", f"task.data.path={tiny_corpus}", "callbacks=grad_flow"]
        + ["callbacks.grad_flow.every_n_steps=6"]
    )
    run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "csv").exists()
    acc = events(tmp_path / "run")
    found = scalars(acc)
    assert [step for step, _ in found["train/loss"]] == list(range(6))  # Lightning's step: training batches
    assert [step for step, _ in found["val/loss"]] == [2, 5]  # after batches 3 and 6
    assert all(math.isfinite(v) for _, v in found["train/loss"] + found["val/loss"])
    assert {"val/bpc", "test/loss"} <= set(found)
    tensors = acc.Tags()["tensors"]
    assert "samples/text_summary" in tensors and "config/text_summary" in tensors
    samples = [e.step for e in acc.Tensors("samples/text_summary")]
    assert samples == [6, 12]  # one text per sample, at the optimizer step it was drawn (as W&B gets it)
    drawn = sorted(int(p.stem.split("_")[1]) for p in (tmp_path / "run" / "grad_flow").glob("step_*.png"))
    assert drawn and [e.step for e in acc.Images("grad_flow")] == drawn  # every plot the callback drew
    assert acc.Images("grad_flow")[0].width > 100


@needs_tensorboard
def test_several_loggers_write_the_same_metrics(tmp_path, tiny_corpus, one_thread):
    cfg = compose_config([*RUN, "logger=[csv,tensorboard]", f"task.data.path={tiny_corpus}"])
    assert [type(lg).__name__ for lg in build_logger(cfg, tmp_path / "probe")] == ["CSVLogger", "TensorBoardLogger"]
    run(cfg, tmp_path / "run")
    from_csv, from_tb = csv_metrics(tmp_path / "run"), scalars(events(tmp_path / "run"))
    assert set(from_csv) == set(from_tb) and {"train/loss", "val/loss", "test/loss"} <= set(from_tb)
    for key, points in from_csv.items():
        assert [s for s, _ in from_tb[key]] == [s for s, _ in points], key
        assert [v for _, v in from_tb[key]] == pytest.approx([v for _, v in points], rel=1e-6), key


@needs_tensorboard
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["logger=csv"], ["CSVLogger"]),
        (["logger=tensorboard"], ["TensorBoardLogger"]),
        (["logger=[wandb,csv,tensorboard]"], ["CSVLogger", "TensorBoardLogger", "WandbLogger"]),
        (["logger=[csv,wandb]", "logger.project=p", "logger.group=g"], ["CSVLogger", "WandbLogger"]),
        (["logger=none"], []),
        (["logger=[]"], []),
    ],
)
def test_logger_lists_compose(tmp_path, overrides, expected):
    cfg = compose_config(overrides)
    loggers = build_logger(cfg, tmp_path)
    assert [type(lg).__name__ for lg in loggers] == expected
    if "logger.group=g" in overrides:
        assert cfg.logger.project == "p" and cfg.logger.group == "g"


@needs_tensorboard
def test_image_and_table_go_through_the_helper_to_tensorboard_and_wandb(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1], [1, 0])
    png = tmp_path / "plot.png"
    fig.savefig(png)
    plt.close(fig)
    calls: list[tuple[str, dict]] = []
    wandb_logger = WandbLogger.__new__(WandbLogger)  # records the calls; no W&B run
    wandb_logger.log_image = lambda **kw: calls.append(("image", kw))
    wandb_logger.log_table = lambda **kw: calls.append(("table", kw))
    tb = TensorBoardLogger(save_dir=str(tmp_path), name="tensorboard", version="", default_hp_metric=False)
    trainer = SimpleNamespace(loggers=[tb, wandb_logger])
    log_image(trainer, "attention", png, 7)
    log_table(trainer, "translations", ["source", "output"], [["a b", "x | y"]], 7)
    tb.finalize("success")
    assert calls[0] == ("image", {"key": "attention", "images": [str(png)], "step": 7})
    assert calls[1][1]["data"] == [["a b", "x | y"]]
    acc = events(tmp_path)
    (image,) = acc.Images("attention")
    assert (image.step, image.width, image.height) == (7, 100, 75)
    (text,) = acc.Tensors("translations/text_summary")
    assert text.step == 7 and "x \\| y" in text.tensor_proto.string_val[0].decode()


def test_markdown_of_multiline_rows_keeps_the_text():
    table = markdown_table(["step", "text"], [[5, "line one\nline two"]])
    assert table.startswith("**step** 5") and "    line one\n    line two" in table


def test_unknown_logger_in_a_list_is_one_line():
    with pytest.raises(ConfigError) as info:
        preflight(["logger=[csv,tensorboardx]"])
    assert str(info.value).startswith("logger: unknown option 'tensorboardx'") and "tensorboard" in str(info.value)


def test_missing_tensorboard_package_is_one_line_naming_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("tensorboard", "tensorboardX") else real(name, *a),
    )
    with pytest.raises(ConfigError) as info:
        preflight(["logger=[csv,tensorboard]"])
    message = str(info.value)
    assert message == "logger: tensorboard needs the tensorboard package: pip install 'seqlab[tensorboard]'"
