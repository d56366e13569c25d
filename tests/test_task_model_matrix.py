"""Every (task, model) pair of the built-ins and the example plugins either trains a few steps or is refused at
pre-flight with one line naming the key and the models that would serve (no traceback mid-run)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
from conftest import compose_config

from seqlab.config.validate import validate
from seqlab.errors import ConfigError

TRAINER = [
    "trainer.max_steps=2",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.val_check_interval=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=none",
    "checkpoint.save_top_k=0",
    "checkpoint.save_last=false",
    "model.hidden_size=8",
    "model.num_layers=1",
]


def write_fixtures(root: Path) -> dict[str, Path]:
    corpus = root / "corpus.txt"
    corpus.write_text("".join(f"line {i}: the quick brown fox, {i % 5}\n" for i in range(200)), encoding="utf-8")
    reviews = root / "reviews.csv"
    words = ["good", "great", "fine", "bad", "awful", "dull"]
    rows = [f'"{words[i % 6]} film {words[(i * 5) % 6]} plot",{"pos" if i % 6 < 3 else "neg"}' for i in range(120)]
    reviews.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    series = root / "series.csv"
    series.write_text("t,value\n" + "".join(f"{i},{math.sin(i / 3):.4f}\n" for i in range(200)))
    return {"corpus": corpus, "reviews": reviews, "series": series}


TASKS: dict[str, list[str]] = {
    "charlm": [
        "task.batch_size=2",
        "task.seq_len=12",
        "task.embedding_dim=8",
        "task.sample.every_n_val=0",
        "task.data.path=CORPUS",
    ],
    "copy": [
        "task.batch_size=4",
        "task.length=3",
        "task.delay=4",
        "task.data.train_size=16",
        "task.data.val_size=8",
        "task.data.test_size=8",
    ],
    "adding": [
        "task.batch_size=4",
        "task.seq_len=10",
        "task.data.train_size=16",
        "task.data.val_size=8",
        "task.data.test_size=8",
    ],
    "seqdigits": ["task.batch_size=8"],
    "sentiment": [
        "task.data.source=csv",
        "task.data.path=REVIEWS",
        "task.batch_size=8",
        "task.embedding_dim=8",
        "task.vocab.min_freq=1",
    ],
    "forecast": [
        "task.data.path=SERIES",
        "task.data.target=value",
        "task.input_len=8",
        "task.batch_size=8",
        "task.plot=false",
    ],
    "caption": [
        "task.data.scenes.num_train=40",
        "task.data.scenes.num_val=8",
        "task.data.scenes.num_test=8",
        "task.data.image_size=32",
        "task.image_encoder.width=4",
        "task.image_encoder.depth=2",
        "task.decoder.embedding_dim=8",
        "task.decoder.attention_size=8",
        "task.decode.val_images=4",
        "task.decode.beam_size=2",
        "task.decode.show=1",
        "task.batch_size=8",
    ],
    "translate": [
        "task.data.synthetic=reverse",
        "task.data.synthetic_pairs=40",
        "task.batch_size=8",
        "task.embedding_dim=8",
        "task.decoder.hidden_size=8",
        "task.decoder.embedding_dim=8",
        "task.decode.val_sentences=4",
        "task.decode.beam_size=2",
        "task.decode.show=1",
    ],
    "word2vec": ["task.data.path=CORPUS", "task.vocab.min_freq=1", "task.batch_size=16", "task.embedding_dim=8"],
}
if importlib.util.find_spec("seqlab_parity") is not None:
    TASKS["parity"] = [
        "task.seq_len=8",
        "task.batch_size=4",
        "task.train_size=16",
        "task.val_size=8",
        "task.test_size=8",
    ]
MODELS = ["rnn", "lstm", "gru", "bow", "cnn", "transformer"] + (
    ["indrnn"] if importlib.util.find_spec("seqlab_indrnn") else []
)

# what the tasks declare (Needs) against what the models offer: per-step outputs, ids or embeddings
REFUSED = {
    ("charlm", "bow"),
    ("charlm", "cnn"),
    ("copy", "bow"),
    ("copy", "cnn"),
    ("adding", "bow"),
    ("seqdigits", "bow"),
    ("forecast", "bow"),
    ("parity", "bow"),
    ("parity", "cnn"),
    ("translate", "bow"),
    ("translate", "cnn"),
    ("caption", "bow"),  # the caption decoder is built from the model's recurrent cell
    ("caption", "cnn"),
    ("caption", "transformer"),
    ("caption", "indrnn"),
    ("translate", "transformer"),  # task.bridge=project needs a final state; the transformer returns none
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[str, Path]:
    return write_fixtures(tmp_path_factory.mktemp("matrix"))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_pair_trains_or_is_refused_at_preflight(task, model, fixtures, tmp_path, one_thread):
    overrides = [
        a.replace("CORPUS", str(fixtures["corpus"]))
        .replace("REVIEWS", str(fixtures["reviews"]))
        .replace("SERIES", str(fixtures["series"]))
        for a in TASKS[task]
    ]
    if model in ("bow", "cnn"):
        overrides = [o for o in TRAINER if not o.startswith("model.")] + overrides
    else:
        overrides = TRAINER + overrides
    cfg = compose_config([f"task={task}", f"model={model}", *overrides])
    if (task, model) in REFUSED:
        with pytest.raises(ConfigError) as refused:
            validate(cfg)
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith(f"model: '{model}' cannot serve task '{task}' (needs "), message
        assert "allowed: " in message and "lstm" in message.split("allowed: ")[1]
        return
    validate(cfg)
    from seqlab.run.job import run

    results = run(cfg, tmp_path / "run")
    assert results["optimizer_steps"] > 0
    assert math.isfinite(json.loads((tmp_path / "run" / "results.json").read_text())["val/loss"])


@pytest.mark.parametrize("task", ["copy", "adding"])
def test_truncated_bptt_is_refused_for_bidirectional_and_pooled_models(task):
    base = [f"task={task}", *TASKS[task], "task.tbptt_steps=2"]
    for extra in (["model=gru", "model.bidirectional=true"], ["model=cnn"]):
        if task == "copy" and extra == ["model=cnn"]:
            continue  # copy refuses cnn for its per-step outputs first
        with pytest.raises(ConfigError, match=r"^task\.tbptt_steps: .*(bidirectional|carries no state)"):
            validate(compose_config([*base, *extra]))
    validate(compose_config([*base, "model=gru"]))
