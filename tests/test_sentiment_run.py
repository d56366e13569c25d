"""Task ``sentiment`` end to end on a tiny CSV: training, metrics, confusion PNG, predict from the checkpoint."""

from __future__ import annotations

import json
import random

import pytest
from conftest import compose_config, run_cli, run_dirs, run_inprocess

from seqlab.predict import predict
from seqlab.run.job import run

POSITIVE = ["great", "wonderful", "superb", "loved", "brilliant"]
NEGATIVE = ["awful", "boring", "terrible", "hated", "dull"]
FILLER = ["the", "film", "plot", "was", "actor", "a", "story", "and"]
FAST = [
    "task=sentiment",
    "task.data.source=csv",
    "task.data.text_column=review",
    "task.data.label_column=verdict",
    "task.batch_size=8",
    "task.embedding_dim=8",
    "task.vocab.min_freq=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
    "optimizer.lr=0.05",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def reviews_csv(tmp_path):
    """120 reviews with string labels: each holds two words of its class among filler words (and HTML breaks)."""
    rng = random.Random(0)
    lines = ["id,review,verdict"]
    for i in range(120):
        label = "thumbs up" if i % 2 else "thumbs down"
        words = rng.sample(FILLER, 4) + rng.sample(POSITIVE if i % 2 else NEGATIVE, 2)
        rng.shuffle(words)
        lines.append(f'{i},"{" ".join(words[:3])}<br /><br />{" ".join(words[3:])}",{label}')
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _train(tmp_path, csv_path, *extra):
    cfg = compose_config([*FAST, f"task.data.path={csv_path}", *extra])
    return run(cfg, tmp_path / "run")


@pytest.mark.parametrize(
    "extra",
    [
        ["model=bow", "trainer.max_epochs=8"],
        [
            "model=gru",
            "model.hidden_size=8",
            "model.num_layers=1",
            "model.bidirectional=true",
            "task.pooling=max",
            "trainer.max_epochs=8",
        ],
    ],
)
def test_training_learns_and_predict_reads_the_checkpoint_alone(tmp_path, reviews_csv, extra):
    results = _train(tmp_path, reviews_csv, *extra)
    assert results["test/acc"] >= 0.85 and 0.0 <= results["test/f1_macro"] <= 1.0
    assert (tmp_path / "run" / "confusion_matrix_test.png").read_bytes()[:4] == b"\x89PNG"
    reviews_csv.unlink()  # the checkpoint holds the vocabulary and the label names
    out = predict(str(tmp_path / "run"), ["a wonderful brilliant film", "boring and awful plot"])
    assert [label for label, _ in out] == ["thumbs up", "thumbs down"]
    assert all(0.5 < p <= 1.0 for _, p in out)
    if "model=bow" in extra:  # the command line prints LABEL<TAB>PROBABILITY
        done = run_inprocess(
            [f"ckpt_path={tmp_path / 'run'}", "superb, I loved it"], cwd=tmp_path, module="seqlab.predict"
        )
        assert done.returncode == 0, done.stderr
        label, prob = done.stdout.strip().split("\t")
        assert label == "thumbs up" and 0.5 < float(prob) <= 1.0


def test_pretrained_embeddings_and_reload_without_the_vector_file(tmp_path, reviews_csv):
    vectors = tmp_path / "vec.txt"
    vectors.write_text("2 8\ngreat " + " ".join(["0.5"] * 8) + "\nawful " + " ".join(["-0.5"] * 8) + "\n")
    _train(
        tmp_path,
        reviews_csv,
        "model=cnn",
        "model.channels=4",
        f"task.embeddings.path={vectors}",
        "task.embeddings.freeze=true",
        "trainer.max_steps=3",
    )
    vectors.unlink()
    from seqlab.checkpoint import load_module

    module = load_module(tmp_path / "run")
    assert module.embedding.weight[module.vocab.stoi["great"]].tolist() == [0.5] * 8  # frozen: unchanged
    assert len(module.predict_texts(["great"])) == 1


def test_cli_error_is_one_line_without_a_run_folder(tmp_path, reviews_csv):
    done = run_inprocess([*FAST, f"task.data.path={reviews_csv}", "task.data.label_column=stars"], cwd=tmp_path)
    assert done.returncode == 2
    assert "task.data.label_column" in done.stderr and "verdict" in done.stderr
    assert run_dirs(tmp_path) == []


@pytest.mark.slow
def test_ddp_on_cpu_shards_reviews_and_sums_the_confusion_matrix(tmp_path, reviews_csv):
    """hardware=ddp_cpu: Lightning's distributed sampler is off (the bucket sampler shards by rank itself)."""
    proc = run_cli(
        [
            *FAST,
            f"task.data.path={reviews_csv}",
            "model=gru",
            "model.hidden_size=8",
            "model.num_layers=1",
            "task.pooling=max",
            "trainer.max_epochs=8",
            "hardware=ddp_cpu",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["world_size"] == 2 and results["test/acc"] >= 0.85
    test_rows = 24  # 20% of 120
    assert abs(results["test/acc"] * test_rows - round(results["test/acc"] * test_rows)) < 1e-6
