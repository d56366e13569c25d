"""Task ``wordlm``: corpora, perplexity over the whole stream, tied weights, adaptive softmax, char-aware words,
generation, word vectors, and the one-line refusals."""

from __future__ import annotations

import math
import random

import pytest
import torch
from conftest import SHARED_DATA, compose_config, run_inprocess

from seqlab.checkpoint import load_module
from seqlab.config.validate import validate
from seqlab.data.vocab import Vocab
from seqlab.data.word_corpus import line_tokens, load_word_corpus
from seqlab.errors import ConfigError, DataError
from seqlab.run.job import run
from seqlab.tasks.wordlm.module import WordCodec

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = "the cat dog sat ran on a mat log in house garden big small red".split()
FAST = [
    "task=wordlm",
    "model=lstm",
    "model.hidden_size=16",
    "model.num_layers=1",
    "task.embedding_dim=16",
    "task.batch_size=4",
    "task.seq_len=10",
    "task.sample.length=5",
    "task.evaluate_embeddings=false",
    "trainer.max_steps=6",
    "trainer.val_check_interval=3",
    "trainer.check_val_every_n_epoch=null",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
]


@pytest.fixture
def corpus(tmp_path):
    """A folder with train/valid/test files of short random sentences."""
    rng = random.Random(0)
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, lines in (("train.txt", 300), ("valid.txt", 60), ("test.txt", 60)):
        text = "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(lines))
        (folder / name).write_text(text + "\n", encoding="utf-8")
    return folder


def train(tmp_path, corpus, *extra):
    cfg = compose_config([*FAST, f"task.data.path={corpus}", *extra])
    results = run(cfg, tmp_path / "run")
    return results, load_module(tmp_path / "run")


def test_lines_end_with_eos_and_folders_or_one_file_are_read(corpus, tmp_path):
    assert line_tokens(["a b", "", "c"]) == ["a", "b", "<eos>", "<eos>", "c", "<eos>"]
    words = load_word_corpus("wikitext2", str(corpus))
    assert words.train[-1] == "<eos>" and len(words.valid) < len(words.train)
    one = tmp_path / "one.txt"
    one.write_text("\n".join(f"w{i} x" for i in range(100)) + "\n", encoding="utf-8")
    split = load_word_corpus("wikitext2", str(one), 0.1, 0.1)
    assert (len(split.train), len(split.valid), len(split.test)) == (240, 30, 30)
    assert split.train[:3] == ["w0", "x", "<eos>"] and split.test[:3] == ["w90", "x", "<eos>"]  # in order
    with pytest.raises(DataError, match="no test file"):
        (corpus / "test.txt").rename(corpus / "other.txt")
        load_word_corpus("wikitext2", str(corpus))


def test_word_codec_round_trip():
    codec = WordCodec(Vocab.build([["the", "cat", "<eos>"]]))
    ids = codec.encode("the cat\nthe dog")
    assert codec.vocab.decode(ids) == ["the", "cat", "<eos>", "the", "<unk>"]
    assert codec.decode(codec.encode("the cat\nthe cat")) == "the cat\nthe cat"


def test_perplexity_is_exp_of_the_token_averaged_loss_over_the_whole_stream(corpus, tmp_path):
    results, module = train(tmp_path, corpus)  # validation at step 6 saw the final weights (last.ckpt)
    stream = module.codec.vocab.encode(load_word_corpus("wikitext2", str(corpus)).valid)
    batch, seq_len = 4, 10
    columns = (len(stream) - 1) // batch
    inputs = stream[: columns * batch].view(batch, columns)
    targets = stream[1 : columns * batch + 1].view(batch, columns)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, columns, seq_len):  # the state carried from batch to batch, as in evaluation
            logp, state = module(inputs[:, start : start + seq_len], state)
            gold = targets[:, start : start + seq_len]
            total -= float(logp.gather(2, gold.unsqueeze(2)).sum())
            count += gold.numel()
    assert math.isclose(results["val/loss"], total / count, rel_tol=1e-5)
    assert math.isclose(results["val/ppl"], math.exp(total / count), rel_tol=1e-5)


def test_tied_weights_are_one_tensor_and_stay_one(corpus, tmp_path):
    _, module = train(tmp_path, corpus, "task.tie_weights=true", "task.embedding_dim=12")
    assert module.head.decoder.weight is module.embedding.weight
    assert module.head.project is not None  # 16 hidden -> 12 embedding
    sizes = sum(p.numel() for p in module.parameters())
    assert sizes == sum(p.numel() for p in set(module.parameters()))


def test_the_awd_recipe_trains_and_its_embedding_dropout_drops_whole_words(corpus, tmp_path):
    awd = ["task.tie_weights=true", "task.embedding_dim=16", "task.embedding_dropout=0.5", "task.ar=2.0"]
    results, module = train(tmp_path, corpus, *awd, "task.tar=1.0", "model.weight_drop=0.3")
    assert math.isfinite(results["test/ppl"])
    ids = torch.tensor([[2, 3, 2, 3, 4, 5, 2]])
    module.train()
    torch.manual_seed(0)
    rows = [module.embed(ids)[0] for _ in range(8)]
    zero = [(row.abs().sum(-1) == 0) for row in rows]
    assert any(z.any() for z in zero)  # some words dropped ...
    for z in zero:  # ... and every occurrence of a dropped word with it
        assert bool(z[0]) == bool(z[2]) == bool(z[6]) and bool(z[1]) == bool(z[3])
    module.eval()
    torch.testing.assert_close(module.embed(ids), module.embedding(ids))


def test_init_range_draws_every_weight_uniformly_in_the_range():
    from seqlab.tasks.wordlm.module import WordLMModule

    vocab = ["<pad>", "<unk>", "<eos>", *WORDS]
    cfg = compose_config([*FAST, "task.tie_weights=true", "model.weight_drop=0.2", "task.init_range=0.05"])
    module = WordLMModule(cfg, vocab)
    weights = torch.cat([p.detach().flatten() for p in module.parameters()])
    assert float(weights.abs().max()) <= 0.05  # PyTorch's defaults: N(0, 1) embeddings, U(+-1/4) for 16 units
    assert abs(float(weights.std()) - 0.05 / math.sqrt(3)) < 0.003  # the std of U(-r, r), not only a bound
    default = WordLMModule(compose_config([*FAST, "task.tie_weights=true"]), vocab)
    assert float(default.embedding.weight.detach().abs().max()) > 0.05


def test_adaptive_softmax_log_probabilities_sum_to_one(corpus, tmp_path):
    _, module = train(tmp_path, corpus, "task.softmax=adaptive", "task.cutoffs=[5,10]")
    logp, _ = module(torch.tensor([[2, 3, 4, 5]]))
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(1, 4))


def test_char_aware_words_embed_unseen_words_and_generation_writes_words(corpus, tmp_path):
    results, module = train(tmp_path, corpus, "task.word_input=chars", "task.char_words.output_dim=16")
    vectors = module.word_vectors()
    assert "cat" in vectors.words and vectors.embed is not None
    unseen = vectors.embed(["caterpillar", "cat"])
    assert unseen.shape == (2, 16) and torch.isfinite(unseen).all()
    torch.testing.assert_close(unseen[1], vectors.matrix[vectors.words.index("cat")])
    out = run_inprocess(
        [f"ckpt_path={tmp_path / 'run'}", "prompt=the cat", "length=12", "seed=3"],
        cwd=tmp_path,
        module="seqlab.generate",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("the cat")
    assert set(out.stdout.split()) <= set(WORDS) | {"<unk>"}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        (["task.tie_weights=true", "task.softmax=adaptive"], "task.tie_weights"),
        (["task.tie_weights=true", "task.word_input=chars"], "task.tie_weights"),
        (["model.bidirectional=true"], "model.bidirectional"),
        (["task.softmax=hierarchical"], "task.softmax"),
        (["task.data.corpus=wiki103"], "task.data.corpus"),
        (["task.tbptt_steps=50"], "task.tbptt_steps"),
        (["task.init_range=0"], "task.init_range"),
    ],
)
def test_impossible_settings_are_refused_naming_the_key(override, key):
    with pytest.raises(ConfigError) as caught:
        validate(compose_config([*FAST, *override]))
    assert caught.value.key == key


@pytest.mark.skipif(not (SHARED_DATA / "wikitext-2" / "train.txt").is_file(), reason="no shared WikiText-2")
def test_wikitext2_and_ptb_have_their_published_sizes(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(SHARED_DATA))
    wt2 = load_word_corpus("wikitext2")
    assert (len(wt2.train), len(wt2.valid), len(wt2.test)) == (2088628, 217646, 245569)
    assert len(set(wt2.train)) == 33278
    ptb = load_word_corpus("ptb")
    assert (len(ptb.train), len(set(ptb.train))) == (929589, 10000)
