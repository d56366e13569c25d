"""Synthetic long-range data (copy, adding), sequential digits, their configs and a short run of each task."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import compose_config

from seqlab import registry
from seqlab.config.validate import validate
from seqlab.data.synthetic import ADDING_BASELINE_MSE, adding_data, copy_data
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.seqdigits.data import load_image_folder

SMALL = [
    "model.hidden_size=8",
    "model.num_layers=1",
    "task.batch_size=8",
    "trainer.max_steps=3",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=none",
]
SIZES = ["task.data.train_size=32", "task.data.val_size=8", "task.data.test_size=8"]


def test_copy_layout_and_seeding():
    x, y, mask = copy_data(5, length=3, delay=4, vocab=6, seed=0)
    assert x.shape == y.shape == mask.shape == (5, 10)
    assert torch.equal(y[:, 7:], x[:, :3]) and (y[:, :7] == 0).all()
    assert (x[:, :3] >= 1).all() and (x[:, :3] <= 6).all()
    assert (x[:, 6] == 7).all() and (x[:, 3:6] == 0).all() and (x[:, 7:] == 0).all()
    assert mask.sum() == 15 and mask[:, 7:].all()
    assert torch.equal(copy_data(5, 3, 4, 6, seed=0)[0], x)
    assert not torch.equal(copy_data(5, 3, 4, 6, seed=1)[0], x)


def test_adding_markers_target_and_baseline():
    x, y = adding_data(20000, 30, seed=0)
    markers = x[..., 1]
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :15].sum(1) == 1).all() and (markers[:, 15:].sum(1) == 1).all()
    torch.testing.assert_close((x[..., 0] * markers).sum(1), y)
    assert ((y - 1.0) ** 2).mean().item() == pytest.approx(ADDING_BASELINE_MSE, abs=0.01)
    assert torch.equal(adding_data(4, 30, seed=7)[0], adding_data(4, 30, seed=7)[0])


def test_val_set_identical_across_builds_and_differs_from_train():
    cfg = compose_config(["task=adding", "task.seq_len=12", *SIZES, *SMALL])
    _, first = registry.get_task("adding").build(cfg)
    _, second = registry.get_task("adding").build(cfg)
    assert torch.equal(first.splits.val[0], second.splits.val[0])
    assert not torch.equal(first.splits.val[0], first.splits.train[0][:8])


@pytest.mark.parametrize("mode, shape", [("rows", (8, 8)), ("pixels", (64, 1))])
def test_seqdigits_shapes(mode, shape):
    cfg = compose_config(["task=seqdigits", f"task.mode={mode}", *SMALL])
    module, data = registry.get_task("seqdigits").build(cfg)
    x, y = data.splits.train
    assert tuple(x.shape[1:]) == shape and module.head.out_features == 10
    assert len(y) + len(data.splits.val[1]) + len(data.splits.test[1]) == 1797
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_image_folder(tmp_path):
    from PIL import Image

    for label, value in (("cat", 0), ("dog", 255)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("L", (10, 6), color=value).save(tmp_path / label / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    images, labels, classes = load_image_folder(str(tmp_path), image_size=4)
    assert classes == ["cat", "dog"] and images.shape == (6, 4, 4)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1] and images[3:].min() == 1.0 and images[:3].max() == 0.0
    with pytest.raises(DataError, match="task.data.path"):
        load_image_folder(str(tmp_path / "cat"), image_size=4)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["task=adding", "task.tbptt_steps=101"], "task.tbptt_steps"),
        (["task=copy", "task.delay=0"], "task.delay"),
        (["task=seqdigits", "task.mode=columns"], "task.mode"),
        (["task=seqdigits", "task.tbptt_steps=9"], "task.tbptt_steps"),
        (["task=adding", "task.data.val_size=0"], "task.data.val_size"),
        (["task=copy", "task.data.train_size=0"], "task.data.train_size"),
        (["task=seqdigits", "task.data.image_size=0"], "task.data.image_size"),
    ],
)
def test_bad_config_names_the_key(overrides, key):
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}: "):
        validate(compose_config(overrides))


@pytest.mark.parametrize("task, metric", [("copy", "val/acc"), ("adding", "val/mse"), ("seqdigits", "val/acc")])
def test_short_run_reports_task_metric(tmp_path, task, metric):
    from seqlab.run.job import run

    extra = {
        "copy": ["task.delay=4", "task.length=2", *SIZES],
        "adding": ["task.seq_len=10", *SIZES],
        "seqdigits": ["trainer.limit_val_batches=2", "trainer.limit_test_batches=2"],
    }[task]
    cfg = compose_config(
        [
            f"task={task}",
            "model=gru",
            "task.tbptt_steps=3",
            "trainer.val_check_interval=3",
            "trainer.limit_train_batches=3",
            *extra,
            *SMALL,
            "trainer.max_steps=-1",
            "trainer.max_epochs=1",
        ]
    )
    results = run(cfg, tmp_path)
    assert 0.0 <= results[metric] and results["optimizer_steps"] == (9 if task == "copy" else 3)
    assert metric.replace("val/", "test/") in results
