"""Task ``caption`` end to end on generated scenes: training, metrics, pictures, the search, the CLI, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import compose_config, run_inprocess
from PIL import Image

from seqlab.checkpoint import load_module
from seqlab.config.validate import validate
from seqlab.errors import ConfigError
from seqlab.run.job import run
from seqlab.tasks.caption.scenes import SceneObject
from seqlab.tasks.caption.scoring import (
    attention_in_box,
    attributes_match,
    box_share,
    mass_in_box,
    named_boxes,
    region_boxes,
)

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = [
    "task=caption",
    "model=gru",
    "model.hidden_size=32",
    "model.num_layers=1",
    "task.data.scenes.num_train=200",
    "task.data.scenes.num_val=40",
    "task.data.scenes.num_test=40",
    "task.image_encoder.width=8",
    "task.decoder.embedding_dim=16",
    "task.decoder.attention_size=16",
    "task.decode.val_images=20",
    "task.decode.show=2",
    "task.batch_size=32",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("caption")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQLAB_CACHE_DIR", str(root / "cache"))  # the generated scenes stay in the test's folder
        results = run(compose_config(FAST), root / "run")
    assert any((root / "cache" / "synthetic-scenes").iterdir())
    return root / "run", results


def test_a_run_reports_caption_metrics_per_group_and_draws_attention(trained):
    run_dir, results = trained
    for key in ("test/bleu4", "test/cider", "test/seen_bleu4", "test/heldout_bleu4", "test/attributes"):
        assert key in results and np.isfinite(results[key]), key
    if "test/attention_in_box" in results:  # only when a caption names a drawn shape (a 2-epoch model may not)
        assert 0.0 <= results["test/attention_in_box"] <= 1.0
    assert sorted((run_dir / "captions").glob("val_step_*.png"))
    assert json.loads((run_dir / "results.json").read_text())["test/bleu4"] == pytest.approx(results["test/bleu4"])


def test_attention_over_the_grid_sums_to_one_and_beam_one_is_greedy(trained):
    module = load_module(trained[0])
    images = torch.rand(3, 3, 64, 64)
    captions = torch.tensor([[module.vocab.bos_id, 5, 6, 7]] * 3)
    _, attention = module(images, captions)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 4))
    greedy = module.caption(images, method="greedy")
    beam = module.caption(images, method="beam", beam_size=1, alpha=0.0)
    assert [g["text"] for g in greedy] == [b["text"] for b in beam]


def test_caption_cli_round_trip(trained, tmp_path):
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[8:28, 8:28] = (255, 0, 0)
    Image.fromarray(picture).save(tmp_path / "red.png")
    plot = tmp_path / "att.png"
    args = [f"ckpt_path={trained[0]}", f"image={tmp_path / 'red.png'}", "beam_size=2", f"attention_plot={plot}"]
    result = run_inprocess(args, cwd=tmp_path, module="seqlab.caption")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 and result.stdout.strip()
    assert plot.is_file()
    missing = run_inprocess([f"ckpt_path={trained[0]}", "image=nope.png"], cwd=tmp_path, module="seqlab.caption")
    assert missing.returncode == 2 and "nope.png" in missing.stderr and len(missing.stderr.splitlines()) == 1


def test_attribute_words_and_attention_in_the_named_box():
    vocabulary = {"small", "large", "red", "blue", "circle", "square"}
    refs = ["a small red circle left of a large blue square", "a large blue square right of a small red circle"]
    assert attributes_match("a large blue square and a small red circle", refs, vocabulary)
    assert not attributes_match("a small blue circle", refs, vocabulary)
    regions = region_boxes((2, 2), 64)  # four 32 x 32 quarters, row-major
    boxes = [
        SceneObject("circle", "red", "small", (0, 0, 32, 32)),
        SceneObject("square", "blue", "large", (32, 32, 64, 64)),
    ]
    weights = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1], [0.0, 0.1, 0.1, 0.8]])
    assert attention_in_box(["a", "circle", "square"], weights, boxes, regions) == pytest.approx([0.7, 0.8])
    # the size and colour words before a shape name the same object; "blue" before "circle" is not the circle's
    phrase = ["a", "small", "red", "circle", "blue", "square"]
    named = named_boxes(phrase, boxes, len(phrase))
    assert [(t, obj.shape) for t, obj in named] == [
        (1, "circle"),
        (2, "circle"),
        (3, "circle"),
        (4, "square"),
        (5, "square"),
    ]
    # a box over half of region 0 and a quarter of region 1 gets half and a quarter of their weight
    assert mass_in_box(torch.tensor([0.4, 0.4, 0.2, 0.0]), regions, (16, 0, 40, 32)) == pytest.approx(0.3)
    assert box_share((16, 0, 40, 32), 64) == pytest.approx(24 * 32 / 64**2)  # uniform attention's score
    uniform = torch.full((4,), 0.25)
    assert mass_in_box(uniform, regions, (16, 0, 40, 32)) == pytest.approx(box_share((16, 0, 40, 32), 64))


def test_show_and_tell_state_tells_images_apart_when_their_features_share_a_large_offset():
    from seqlab.tasks.caption.roles import ImageToState

    torch.manual_seed(0)
    to_state = ImageToState(image_size=64, hidden_size=32, num_layers=2, lstm=True)
    pooled = 16.0 + 0.2 * torch.randn(8, 64)  # what a from-scratch CNN without BatchNorm drifted to
    h, c = to_state(pooled)
    assert h.shape == c.shape == (2, 8, 32)
    assert float(h.abs().max()) < 0.999  # not saturated ...
    assert float(h.std(dim=1).mean()) > 0.1  # ... so every image gets its own state
    pooled.requires_grad_(True)
    to_state(pooled)[0].sum().backward()
    assert float(pooled.grad.abs().mean()) > 1e-3  # and the encoder is told how to change


@pytest.mark.parametrize("init", ["mean", "zero"])
def test_soft_decoder_init_zero_leaves_the_image_to_attention_alone(init):
    from seqlab.tasks.caption.module import CaptionModule

    cfg = compose_config([*FAST, f"task.decoder.init={init}"])
    module = CaptionModule(cfg, ["<pad>", "<unk>", "<bos>", "<eos>", "a", "red", "circle"], ["red", "circle"])
    decoder = module.decoder
    memory = decoder.memory_size
    grid = torch.randn(3, 16, memory)
    state = decoder.init_state(grid)
    assert bool((state["rnn"] == 0).all()) == (init == "zero")
    _, _, alpha = decoder.step(torch.tensor([1, 1, 1]), state, grid)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        (["model=transformer"], "model"),
        (["model=gru", "model.bidirectional=true"], "model.bidirectional"),
        (["task.tbptt_steps=5"], "task.tbptt_steps"),
        (["task.decoder.attention=hard"], "task.decoder.attention"),
        (["task.image_encoder.name=resnet"], "task.image_encoder.name"),
        (["task.decode.method=nucleus"], "task.decode.method"),
        (["task.decoder.init=pooled"], "task.decoder.init"),
    ],
)
def test_impossible_settings_are_refused_naming_the_key(override, key):
    with pytest.raises(ConfigError) as caught:
        validate(compose_config([*FAST, *override]))
    assert caught.value.key == key
