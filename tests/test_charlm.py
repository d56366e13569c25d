"""The character LM trains, evaluates, writes results, generates and resumes exactly."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import TINY, compose_config

from seqlab.checkpoint import load_module
from seqlab.generate import generate
from seqlab.run.job import run
from seqlab.tasks.charlm.data import CharVocab, split_stream
from seqlab.training.stream import StreamBatches


def train(tmp_path, corpus, *extra, name="run"):
    cfg = compose_config([*TINY, f"task.data.path={corpus}", *extra])
    return run(cfg, tmp_path / name)


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_each_cell_trains_and_writes_results(tmp_path, tiny_corpus, model):
    results = train(
        tmp_path, tiny_corpus, f"model={model}", "model.num_layers=2", "model.dropout=0.1", "trainer.max_steps=8"
    )
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["model"] == model
    for key in (
        "val/loss",
        "val/bpc",
        "test/loss",
        "test/bpc",
        "trainable_parameters",
        "tokens_seen",
        "tokens_per_second",
        "wall_seconds",
        "best_checkpoint",
        "last_checkpoint",
    ):
        assert key in saved, key
    assert math.isclose(saved["val/bpc"], saved["val/loss"] / math.log(2), rel_tol=1e-5)
    vocab = len(set(tiny_corpus.read_text(encoding="utf-8")))
    assert saved["val/loss"] < math.log(vocab) + 0.5  # no worse than about uniform
    assert saved["optimizer_steps"] == 8
    # 8 chunks of 4 x 8 characters each
    assert saved["tokens_seen"] == 8 * 4 * 8
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert results["val/loss"] == saved["val/loss"]


def test_loss_goes_down_with_training(tmp_path, tiny_corpus):
    short = train(tmp_path, tiny_corpus, "trainer.max_steps=2", "trainer.val_check_interval=1", name="short")
    long = train(
        tmp_path,
        tiny_corpus,
        "trainer.max_steps=60",
        "trainer.val_check_interval=30",
        "model.hidden_size=32",
        "optimizer.lr=0.01",
        name="long",
    )
    assert long["val/loss"] < short["val/loss"] - 0.3


def test_a_run_that_stops_before_its_first_validation_still_reports_val(tmp_path, tiny_corpus):
    # 2 optimizer steps = 1 batch of 2 TBPTT chunks, validation every 3 batches: none during training
    results = train(tmp_path, tiny_corpus, "trainer.max_steps=2", "trainer.val_check_interval=3")
    assert results["optimizer_steps"] == 2 and math.isfinite(results["val/loss"])
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["val/loss"] == results["val/loss"] and math.isfinite(saved["test/loss"])


def test_same_seed_same_val_loss(tmp_path, tiny_corpus):
    a = train(tmp_path, tiny_corpus, "seed=3", name="a")
    b = train(tmp_path, tiny_corpus, "seed=3", name="b")
    c = train(tmp_path, tiny_corpus, "seed=4", name="c")
    assert a["val/loss"] == b["val/loss"]
    assert a["val/loss"] != c["val/loss"]


def test_checkpoint_round_trips_through_generation(tmp_path, tiny_corpus):
    train(tmp_path, tiny_corpus)
    ckpt = str(tmp_path / "run" / "checkpoints" / "last.ckpt")
    one = generate(ckpt, prompt="ROMEO:", length=40, temperature=0.8, seed=1)
    assert one.startswith("ROMEO:") and len(one) == len("ROMEO:") + 40
    assert generate(ckpt, prompt="ROMEO:", length=40, temperature=0.8, seed=1) == one
    assert generate(ckpt, prompt="ROMEO:", length=40, temperature=0.8, seed=2) != one
    greedy = generate(ckpt, prompt="ROMEO:", length=20, temperature=0, seed=1)
    assert generate(ckpt, prompt="ROMEO:", length=20, temperature=0, seed=99) == greedy
    # greedy is the argmax path of the restored module
    module = load_module(ckpt)
    ids = module.vocab.encode("ROMEO:").unsqueeze(0)
    logits, _ = module(ids)
    assert greedy[len("ROMEO:")] == module.vocab.chars[int(logits[0, -1].argmax())]


def test_resume_continues_exactly(tmp_path, tiny_corpus):
    # a constant schedule: the first run (max_steps=6) and the whole run (12) then follow the same learning rates
    common = [
        "task.tbptt_steps=16",
        "model.num_layers=2",
        "model.dropout=0.2",
        "trainer.val_check_interval=3",
        "optimizer.schedule=constant",
    ]
    whole = train(tmp_path, tiny_corpus, *common, "trainer.max_steps=12", name="whole")
    train(tmp_path, tiny_corpus, *common, "trainer.max_steps=6", name="first")
    resumed = train(
        tmp_path, tiny_corpus, *common, "trainer.max_steps=12", f"resume={tmp_path / 'first'}", name="second"
    )
    assert resumed["optimizer_steps"] == 12
    assert resumed["resumed_from"].endswith("last.ckpt")
    assert resumed["val/loss"] == pytest.approx(whole["val/loss"], abs=1e-6)


def test_stream_batches_are_contiguous_and_sharded():
    tokens = torch.arange(101)
    rank0 = StreamBatches(tokens, batch_size=2, seq_len=5, rank=0, world_size=2)
    rank1 = StreamBatches(tokens, batch_size=2, seq_len=5, rank=1, world_size=2)
    x0, y0 = next(iter(rank0))
    assert torch.equal(y0, x0 + 1)  # targets are the next token
    first, second = list(rank0)[:2]
    assert torch.equal(second[0][:, 0], first[0][:, -1] + 1)  # batch i+1 continues batch i row by row
    assert set(rank0.inputs.flatten().tolist()).isdisjoint(rank1.inputs.flatten().tolist())
    rank0.skip_batches = 1
    assert torch.equal(next(iter(rank0))[0], second[0])


def test_split_is_in_order_and_vocab_round_trips():
    train_part, val, test = split_stream(1000, 0.1, 0.05)
    assert (train_part.stop, val.start, val.stop, test.start, test.stop) == (850, 850, 950, 950, 1000)
    vocab = CharVocab.from_text("hello wörld")
    assert vocab.decode(vocab.encode("wörld")) == "wörld"
