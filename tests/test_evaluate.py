"""Scoring a finished run on a test set (``run.evaluate`` / ``test_metrics`` and ``python -m seqlab.evaluate``):
on its own test split it gives the run's results.json test numbers; on a new file, finite numbers computed with the
run's vocabulary; the scores' JSON lies beside the run folder, never inside it."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, run_cli

import seqlab
from seqlab.errors import ConfigError, DataError
from seqlab.evaluate import main

pytestmark = pytest.mark.usefixtures("one_thread")

QUIET = ["trainer.max_steps=2", "hardware.threads=1", "trainer.enable_progress_bar=false", "logger=none"]
WORDS = "the cat dog sat ran on a mat log in house garden big small red".split()


def trained(tmp_path_factory, name, *overrides):
    return seqlab.train(*overrides, *QUIET, cwd=tmp_path_factory.mktemp(name), quiet=True)


def own_test_numbers(result):
    return {k: v for k, v in result.results.items() if k.startswith("test/") and isinstance(v, (int, float))}


def assert_same_as_results(result, scores):
    expected = own_test_numbers(result)
    assert expected, "the run logged no test metric"
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def assert_finite(scores, *keys):
    assert keys and all(k in scores for k in keys), sorted(scores)
    assert all(math.isfinite(scores[k]) for k in keys), scores


def word_lines(rng, words, n):
    return "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))) for _ in range(n)) + "\n"


# ---- char LM: the fixture shared with the CLI tests -------------------------------------------------------------
@pytest.fixture(scope="module")
def charlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("charlm-data")
    lines = [f"ROMEO: line {i} of a tiny play.\nJULIET: reply {i * 3}.\n" for i in range(90)]
    (folder / "corpus.txt").write_text("".join(lines))
    random.Random(1).shuffle(lines)
    (folder / "new.txt").write_text("".join(lines[:50]))  # the same characters, another text
    (folder / "alien.txt").write_text("Zebras? " * 400)
    result = trained(tmp_path_factory, "charlm", *TINY, f"task.data.path={folder / 'corpus.txt'}", "seed=7")
    return result, folder


def test_charlm_scores_its_own_split_and_a_new_text(charlm):
    result, folder = charlm
    run = seqlab.load(result.run_dir)
    assert "evaluate" in run.offers
    assert_same_as_results(result, run.evaluate())
    new = run.evaluate(path=str(folder / "new.txt"))
    assert_finite(new, "test/loss", "test/ppl", "test/bpc")
    assert new["test/loss"] != own_test_numbers(result)["test/loss"]
    assert new["test/ppl"] == pytest.approx(math.exp(new["test/loss"]), rel=1e-4)
    with pytest.raises(DataError, match="task.data.path: characters the run never saw"):
        run.evaluate(path=str(folder / "alien.txt"))
    with pytest.raises(ConfigError) as exc:
        run.evaluate(nope=1)
    assert exc.value.key == "task.data.nope" and "task.data.path" in str(exc.value)


def test_the_tool_writes_the_scores_beside_the_run_never_inside(charlm, capsys):
    result, folder = charlm
    before = sorted(p.name for p in result.run_dir.rglob("*"))
    main([f"ckpt_path={result.run_dir}", f"task.data.path={folder / 'new.txt'}"])
    out, err = capsys.readouterr()
    written = sorted(result.run_dir.parent.glob(f"{result.run_dir.name}-eval-*.json"))
    assert len(written) == 1 and f"scores: {written[0]}" in err
    report = json.loads(written[0].read_text())
    assert report["data"] == {"task.data.path": str(folder / "new.txt")} and report["task"] == "charlm"
    assert f"test/loss\t{report['metrics']['test/loss']:.6g}" in out.splitlines()
    assert sorted(p.name for p in result.run_dir.rglob("*")) == before  # nothing written into the run
    main([f"ckpt_path={result.run_dir / 'checkpoints' / 'last.ckpt'}", f"out={folder / 'own.json'}"])
    capsys.readouterr()
    assert_same_as_results(result, json.loads((folder / "own.json").read_text())["metrics"])


@pytest.mark.parametrize(
    ("argv", "key", "fragment"),
    [
        (["task.data.nope=1"], "task.data.nope", "not a data key of this run"),
        (["task.data.path=/no/such/file.txt"], "task.data.path", "/no/such/file.txt"),
        (["model.hidden_size=3"], "model.hidden_size", "unknown argument"),
        (["out={run}/scores.json"], "out", "inside the run folder"),
        (["out={run}"], "out", "is a folder"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(charlm, capsys, argv, key, fragment):
    result, _ = charlm
    argv = [a.format(run=result.run_dir) for a in argv]
    before = sorted(result.run_dir.parent.iterdir())
    with pytest.raises(SystemExit) as exc:
        main([f"ckpt_path={result.run_dir}", *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith(f"seqlab.evaluate: error: {key}: ") and fragment in err
    assert err.count("\n") == 1 and sorted(result.run_dir.parent.iterdir()) == before


def test_the_command_line_exits_2_with_one_line(tmp_path):
    cli = run_cli(["ckpt_path=" + str(tmp_path)], cwd=tmp_path, module="seqlab.evaluate")
    assert cli.returncode == 2 and cli.stderr.startswith("seqlab.evaluate: error: ckpt_path: ")
    assert cli.stderr.count("\n") == 1 and "Traceback" not in cli.stderr and not list(tmp_path.iterdir())


# ---- the other families ----------------------------------------------------------------------------------------
def test_wordlm_perplexity_and_its_vectors_stay_reachable(tmp_path_factory):
    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("wordlm-data")
    for name, n in (("train.txt", 200), ("valid.txt", 40), ("test.txt", 40)):
        (folder / name).write_text(word_lines(rng, WORDS, n))
    (folder / "new.txt").write_text(word_lines(rng, [*WORDS[:8], "zebra", "quokka"], 200))
    result = trained(
        tmp_path_factory,
        "wordlm",
        "task=wordlm",
        "model.hidden_size=16",
        "model.num_layers=1",
        "task.embedding_dim=16",
        "task.batch_size=4",
        "task.seq_len=10",
        "task.sample.length=5",
        "task.evaluate_embeddings=false",
        f"task.data.path={folder}",
    )
    run = seqlab.load(result.run_dir)
    assert_same_as_results(result, run.test_metrics())
    assert_finite(run.test_metrics(path=str(folder / "new.txt")), "test/loss", "test/ppl")
    for vectors in (run.evaluate, run.evaluate_vectors):  # evaluate keeps its word-vector meaning
        with pytest.raises(DataError, match="no evaluation files"):
            vectors(str(folder))


def test_sentiment_accuracy_on_its_split_and_on_a_new_file(tmp_path_factory):
    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("sentiment-data")

    def reviews(n, extra=()):
        lines = ["id,review,verdict"]
        for i in range(n):
            verdict = rng.choice(["great", "superb", *extra] if i % 2 else ["awful", "dull"])
            lines.append(f"{i},{' '.join([*rng.sample(['film', 'plot', 'actor', 'scene'], 2), verdict])},{i % 2}")
        return "\n".join(lines) + "\n"

    (folder / "reviews.csv").write_text(reviews(60))
    (folder / "new.csv").write_text(reviews(40, extra=("marvellous",)))
    keys = ["task.data.text_column=review", "task.data.label_column=verdict"]
    result = trained(
        tmp_path_factory,
        "sentiment",
        "task=sentiment",
        "model=bow",
        "task.data.source=csv",
        f"task.data.path={folder / 'reviews.csv'}",
        *keys,
        "task.batch_size=8",
        "task.embedding_dim=8",
        "task.vocab.min_freq=1",
    )
    run = seqlab.load(result.run_dir)
    here = sorted(Path.cwd().iterdir())
    assert_same_as_results(result, run.evaluate())
    new = run.evaluate(path=str(folder / "new.csv"), test_fraction=0.5)
    assert sorted(Path.cwd().iterdir()) == here  # the test step's confusion matrix is not left in the working folder
    assert_finite(new, "test/acc", "test/f1_macro")
    assert 0.0 <= new["test/acc"] <= 1.0


def test_forecast_mae_and_mase_on_another_series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast-data")
    for name, seed, level in (("prices.csv", 0, 50), ("other.csv", 1, 80)):
        rng = np.random.default_rng(seed)
        t = np.arange(120)
        y = level + 0.2 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 120)
        rows = ["date,price"] + [f"{2000 + i // 12}-{i % 12 + 1:02d}-01,{y[i]:.4f}" for i in t]
        (folder / name).write_text("\n".join(rows) + "\n")
    result = trained(
        tmp_path_factory,
        "forecast",
        "task=forecast",
        "model.hidden_size=16",
        "model.num_layers=1",
        "task.batch_size=16",
        "task.input_len=12",
        "task.seasonality=12",
        "task.plot=false",
        f"task.data.path={folder / 'prices.csv'}",
        "task.data.target=price",
    )
    run = seqlab.load(result.run_dir)
    assert_same_as_results(result, run.evaluate())
    new = run.evaluate(path=str(folder / "other.csv"))
    assert_finite(new, "test/mae", "test/mase")
    assert new["test/mae"] != own_test_numbers(result)["test/mae"]


def test_synthetic_task_scores_a_fresh_draw(tmp_path_factory):
    sizes = ["task.data.train_size=32", "task.data.val_size=8", "task.data.test_size=8"]
    result = trained(
        tmp_path_factory,
        "adding",
        "task=adding",
        "task.seq_len=12",
        "model.hidden_size=8",
        "model.num_layers=1",
        *sizes,
    )
    run = seqlab.load(result.run_dir)
    assert_same_as_results(result, run.evaluate())
    fresh = run.evaluate(seed=99, test_size=16)
    assert_finite(fresh, "test/loss")
    assert fresh["test/loss"] != own_test_numbers(result)["test/loss"]


def test_word2vec_test_loss_beside_its_vector_evaluation(tmp_path_factory):
    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("w2v-data")
    (folder / "corpus.txt").write_text(word_lines(rng, WORDS, 300))
    result = trained(
        tmp_path_factory,
        "word2vec",
        "task=word2vec",
        f"task.data.path={folder / 'corpus.txt'}",
        "task.vocab.min_freq=1",
        "task.batch_size=32",
        "task.embedding_dim=8",
        "task.subsample=0",
        "task.evaluate=false",
    )
    run = seqlab.load(result.run_dir)
    assert run.offers == ("embeddings", "evaluate")
    assert_same_as_results(result, run.test_metrics())


def test_translate_bleu_against_a_new_files_references(tmp_path_factory):
    result = trained(
        tmp_path_factory,
        "translate",
        "task=translate_digits",
        "model=gru",
        "model.hidden_size=16",
        "model.num_layers=1",
        "task.decoder.hidden_size=16",
        "task.decoder.embedding_dim=8",
        "task.embedding_dim=8",
        "task.batch_size=16",
        "task.data.synthetic_pairs=120",
        "task.decode.val_sentences=8",
        "trainer.limit_val_batches=1",
    )
    run = seqlab.load(result.run_dir)
    assert_same_as_results(result, run.evaluate())
    pairs = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    rng = random.Random(3)
    rows = []
    for _ in range(60):
        digits = [str(rng.randrange(10)) for _ in range(rng.randint(3, 8))]
        rows.append(f"{' '.join(digits)} x\t{' '.join(digits[::-1])}")  # "x": a word the run never saw
    pairs.write_text("\n".join(rows) + "\n")
    new = run.evaluate(synthetic=None, path=str(pairs), test_fraction=0.5)
    assert_finite(new, "test/bleu", "test/chrf")


@pytest.mark.slow
def test_caption_scores_a_new_draw_of_scenes(tmp_path_factory):
    result = trained(
        tmp_path_factory,
        "caption",
        "task=caption",
        "model=gru",
        "model.hidden_size=16",
        "model.num_layers=1",
        "task.data.scenes.num_train=40",
        "task.data.scenes.num_val=8",
        "task.data.scenes.num_test=8",
        "task.image_encoder.width=8",
        "task.decoder.embedding_dim=8",
        "task.decoder.attention_size=8",
        "task.decode.val_images=4",
        "task.decode.show=1",
        "task.batch_size=8",
        "trainer.limit_val_batches=1",
    )
    run = seqlab.load(result.run_dir)
    assert_same_as_results(result, run.evaluate())
    assert_finite(run.evaluate(**{"scenes.seed": 77}), "test/bleu4", "test/cider")


def test_a_run_is_never_written_into_by_the_api(charlm):
    result, folder = charlm
    before = {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*")}
    seqlab.load(result.run_dir).evaluate(path=str(folder / "new.txt"))
    assert {p: p.stat().st_mtime_ns for p in result.run_dir.rglob("*")} == before
