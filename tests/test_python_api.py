"""The Python API: ``seqlab.train`` runs a job in this process as ``python -m seqlab`` does, and ``seqlab.load``
returns a trained run with its task's inference methods (the tools are thin wrappers over them)."""

from __future__ import annotations

import json
import logging
import os
import random

import numpy as np
import pytest
import torch
from conftest import TINY, run_cli
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

import seqlab
from seqlab.errors import ConfigError, SeqlabError
from seqlab.tasks.inference import MethodUnavailable

pytestmark = pytest.mark.usefixtures("one_thread")

CHARLM = [*TINY, "trainer.max_steps=4", "hardware.threads=1", "seed=7"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("".join(f"ROMEO: line {i} of a tiny play.\nJULIET: reply {i * 3}.\n" for i in range(90)))
    return path


@pytest.fixture(scope="module")
def charlm(tmp_path_factory, corpus):
    """One tiny char LM trained through seqlab.train (shared by the tests of this module)."""
    root = tmp_path_factory.mktemp("charlm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "disabled")
        return seqlab.train(*CHARLM, f"task.data.path={corpus}", cwd=root, quiet=True)


# ---- train ----------------------------------------------------------------------------------------------------
def test_train_writes_what_the_cli_writes_for_the_same_overrides(charlm, corpus, tmp_path):
    cli = run_cli([*CHARLM, f"task.data.path={corpus}"], cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    (cli_results,) = [json.loads(p.read_text()) for p in (tmp_path / "outputs").glob("*/*/results.json")]
    (cli_log,) = [p.name for p in (tmp_path / "outputs").glob("*/*/*.log")]
    assert cli_log == "cli.log" and (charlm.run_dir / "cli.log").is_file()  # the job log keeps its documented name
    assert charlm.run_dir.parent.parent.name == "outputs"  # outputs/<date>/<time>_charlm_lstm under cwd
    assert charlm.run_dir.name.endswith("_charlm_lstm")
    written = json.loads((charlm.run_dir / "results.json").read_text())
    assert set(written) == set(cli_results) == set(charlm.results)
    assert charlm.results["val/loss"] == pytest.approx(cli_results["val/loss"], rel=1e-5)
    assert charlm.metrics["val/loss"] == written["val/loss"]
    assert not any(k in charlm.metrics for k in ("task", "run_dir"))
    assert (charlm.run_dir / ".hydra" / "config.yaml").is_file()
    assert (charlm.run_dir / "checkpoints" / "last.ckpt").is_file()
    assert charlm.config.task.name == "charlm" and charlm.checkpoint.is_file()
    assert any("val/loss" in row for row in charlm.history())


def test_an_error_raises_the_clis_line_with_its_key_and_writes_nothing(tmp_path):
    with pytest.raises(ConfigError) as exc:
        seqlab.train("model=nope", cwd=tmp_path)
    assert exc.value.key == "model" and "unknown option 'nope'" in str(exc.value)
    cli = run_cli(["model=nope"], cwd=tmp_path)
    assert cli.returncode == 2 and cli.stderr == f"seqlab: error: {exc.value}\n"
    with pytest.raises(SeqlabError) as exc:
        seqlab.train("task.data.path=/no/such/corpus.txt", "trainer.max_steps=2", cwd=tmp_path, quiet=True)
    assert exc.value.key == "task.data.path"
    with pytest.raises(ConfigError, match="flag"):
        seqlab.train("--cfg", "job", cwd=tmp_path)
    assert not (tmp_path / "outputs").exists()


def test_an_error_inside_the_job_removes_its_run_folder_and_log_file(corpus, tmp_path, monkeypatch):
    from seqlab.errors import DataError
    from seqlab.tasks.charlm.task import CharLMTask

    def broken(cls, cfg):
        assert (tmp_path / "outputs").is_dir()  # the run folder was claimed, Hydra wrote .hydra/ and its log
        raise DataError("task.data.path: unreadable in the middle of the job")

    monkeypatch.setattr(CharLMTask, "build", classmethod(broken))
    handlers = list(logging.getLogger().handlers)
    with pytest.raises(DataError) as exc:
        seqlab.train(*CHARLM, f"task.data.path={corpus}", cwd=tmp_path, quiet=True)
    assert exc.value.key == "task.data.path" and str(exc.value).endswith("in the middle of the job")
    assert not (tmp_path / "outputs").exists()
    assert logging.getLogger().handlers == handlers


def test_train_twice_in_one_process_leaves_the_process_as_it_was(charlm, corpus, tmp_path):
    root = logging.getLogger()
    before = (list(root.handlers), root.level, torch.get_num_threads(), os.getcwd(), dict(os.environ))
    first = seqlab.train(*CHARLM, f"task.data.path={corpus}", cwd=tmp_path, quiet=True)
    second = seqlab.train(*CHARLM, f"task.data.path={corpus}", "seed=8", cwd=tmp_path, quiet=True)
    assert first.run_dir != second.run_dir and first.run_dir.is_dir() and second.run_dir.is_dir()
    assert first.results["val/loss"] == pytest.approx(charlm.results["val/loss"], rel=1e-5)  # same seed, same run
    assert second.results["val/loss"] != first.results["val/loss"]
    assert (list(root.handlers), root.level, torch.get_num_threads(), os.getcwd(), dict(os.environ)) == before
    assert not GlobalHydra.instance().is_initialized()
    explicit = tmp_path / "mine"
    third = seqlab.train(*CHARLM, f"task.data.path={corpus}", run_dir=explicit, quiet=True)
    assert third.run_dir == explicit and (explicit / "results.json").is_file()
    with pytest.raises(ConfigError) as exc:  # never overwrites a run
        seqlab.train(*CHARLM, f"task.data.path={corpus}", run_dir=explicit, quiet=True)
    assert exc.value.key == "hydra.run.dir"


def test_the_api_names_and_a_config_error_import_no_torch(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, seqlab\n"
        "from seqlab import train, load, Result\n"
        "try:\n    train('model=nope')\nexcept seqlab.errors.ConfigError as exc:\n    assert exc.key == 'model'\n"
        "assert 'torch' not in sys.modules, 'a config error imported torch'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_train_finds_a_plugins_config_options(corpus, tmp_path):
    pytest.importorskip("seqlab_indrnn")  # plugins/seqlab-indrnn: its conf/model/indrnn.yaml joins the search path
    result = seqlab.train(*CHARLM, "model=indrnn", f"task.data.path={corpus}", cwd=tmp_path, quiet=True)
    assert result.results["model"] == "indrnn" and result.config.model.name == "indrnn"


# ---- load -----------------------------------------------------------------------------------------------------
def test_load_generates_like_the_generate_tool(charlm):
    from seqlab.generate import generate

    run = seqlab.load(charlm.run_dir)
    assert run.task == "charlm" and run.run_dir == charlm.run_dir and "generate" in run.offers
    text = run.generate("ROMEO:", length=30, temperature=0.8, seed=3)
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 30
    assert run.generate("ROMEO:", length=30, temperature=0.8, seed=3) == text
    assert generate(str(charlm.run_dir), "ROMEO:", 30, 0.8, seed=3) == text
    assert charlm.load().generate("ROMEO:", length=30, temperature=0.8, seed=3) == text  # the best checkpoint
    with pytest.raises(ConfigError) as exc:
        run.generate(length=-1)
    assert exc.value.key == "length"


def test_a_method_the_task_lacks_is_one_clear_error(charlm):
    run = seqlab.load(charlm.checkpoint)
    with pytest.raises(MethodUnavailable) as exc:
        run.translate(["bonjour"])
    assert str(exc.value) == "translate: task 'charlm' has no translate() (it offers: generate, evaluate)"
    assert exc.value.key == "translate"
    assert not hasattr(run, "caption") and hasattr(run, "generate")


def test_load_refuses_what_is_not_a_checkpoint(tmp_path):
    with pytest.raises(SeqlabError) as exc:
        seqlab.load(tmp_path)
    assert exc.value.key == "ckpt_path" and "no checkpoint" in str(exc.value)


TRANSLATE = [
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
    "trainer.max_steps=3",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "hardware.threads=1",
]


def test_load_translates_alone_and_as_an_ensemble_like_the_tool(tmp_path_factory):
    from seqlab.translate import translate

    result = seqlab.train(*TRANSLATE, cwd=tmp_path_factory.mktemp("translate"), quiet=True)
    run = result.load("last")
    assert run.offers == ("translate", "evaluate")
    out = run.translate(["1 2 3", "4 5"], method="greedy")
    assert len(out) == 2 and all(isinstance(t.text, str) for t in out)
    ensemble = run.translate(["1 2 3", "4 5"], method="greedy", ensemble=[run])
    assert [t.text for t in ensemble] == [t.text for t in out]  # an ensemble of one model twice decodes as it
    tool = translate(str(result.run_dir), text="1 2 3", method="greedy")
    assert [t.text for t in tool] == [out[0].text]
    with pytest.raises(ConfigError) as exc:
        run.translate("1 2", beam_size=0)
    assert exc.value.key == "beam_size"
    with pytest.raises(MethodUnavailable, match="offers: translate"):
        run.generate("1")


CAPTION = [
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
    "trainer.max_steps=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "hardware.threads=1",
]


def test_load_captions_a_file_and_a_tensor_like_the_tool(tmp_path):
    from seqlab.caption import caption

    result = seqlab.train(*CAPTION, cwd=tmp_path, quiet=True)
    run = seqlab.load(result.run_dir)
    picture = np.zeros((64, 64, 3), np.uint8)
    picture[8:28, 8:28] = (255, 0, 0)
    Image.fromarray(picture).save(tmp_path / "red.png")
    (from_file,) = run.caption(tmp_path / "red.png", method="greedy")
    assert isinstance(from_file["text"], str)
    batch = run.caption(torch.rand(2, 3, 64, 64), method="greedy")
    assert len(batch) == 2
    assert [c["text"] for c in caption(str(result.run_dir), str(tmp_path / "red.png"), method="greedy")] == [
        from_file["text"]
    ]
    with pytest.raises(SeqlabError, match="nope.png"):
        run.caption(tmp_path / "nope.png")


def test_load_predicts_like_the_predict_tool(tmp_path):
    from seqlab.predict import predict

    rng = random.Random(0)
    lines = ["id,review,verdict"]
    for i in range(40):
        verdict = rng.choice(["great", "superb"] if i % 2 else ["awful", "dull"])
        words = [*rng.sample(["film", "plot", "actor", "scene"], 2), verdict]
        lines.append(f"{i},{' '.join(words)},{'up' if i % 2 else 'down'}")
    (tmp_path / "reviews.csv").write_text("\n".join(lines) + "\n")
    result = seqlab.train(
        "task=sentiment",
        "model=bow",
        "task.data.source=csv",
        f"task.data.path={tmp_path / 'reviews.csv'}",
        "task.data.text_column=review",
        "task.data.label_column=verdict",
        "task.batch_size=8",
        "task.embedding_dim=8",
        "task.vocab.min_freq=1",
        "trainer.max_steps=3",
        "trainer.enable_progress_bar=false",
        "hardware.threads=1",
        cwd=tmp_path,
        quiet=True,
    )
    run = seqlab.load(result.run_dir)
    ((label, probability),) = run.predict("a superb film")
    assert label in ("up", "down") and 0.5 <= probability <= 1.0
    assert predict(str(result.run_dir), ["a superb film"]) == [(label, probability)]
    with pytest.raises(MethodUnavailable, match="task 'sentiment' has no embeddings"):
        run.embeddings()


def test_load_offers_word_vectors_and_their_evaluation(tmp_path):
    from seqlab.errors import DataError

    words = ["cat", "dog", "owl", "fox", "saw", "axe", "nail", "drill"]
    rng = random.Random(0)
    corpus = "\n".join(" ".join(rng.choice(words[:4] if i % 2 else words[4:]) for _ in range(8)) for i in range(200))
    (tmp_path / "corpus.txt").write_text(corpus + "\n")
    result = seqlab.train(
        "task=word2vec",
        f"task.data.path={tmp_path / 'corpus.txt'}",
        "task.vocab.min_freq=1",
        "task.batch_size=32",
        "task.embedding_dim=8",
        "task.subsample=0",
        "task.evaluate=false",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "hardware.threads=1",
        cwd=tmp_path,
        quiet=True,
    )
    run = seqlab.load(result.run_dir)
    assert run.offers == ("embeddings", "evaluate")
    vectors = run.embeddings()
    assert sorted(vectors.words) == sorted(words) and vectors.dim == 8
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as exc:
        run.evaluate(data_dir=str(tmp_path / "empty"))
    assert exc.value.key == "evaluate"
    with pytest.raises(MethodUnavailable, match="it offers: embeddings, evaluate"):
        run.generate("cat")
