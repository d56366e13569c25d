"""Task word2vec (skip-gram with negative sampling): the task contract, its pairs, negatives and loss, that it learns
co-occurrence on a synthetic corpus, and ``python -m seqlab.embeddings`` on a tiny trained checkpoint."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from conftest import compose_config

from seqlab.config.validate import validate
from seqlab.data.vocab import Vocab
from seqlab.embeddings import main as embeddings_main
from seqlab.errors import ConfigError
from seqlab.tasks.word2vec.data import (
    TrainPairs,
    draw_negatives,
    encode,
    keep_probabilities,
    noise_cdf,
    sentences,
    skipgram_pairs,
)
from seqlab.tasks.word2vec.module import Word2VecModule
from seqlab.testing import TaskContract
from seqlab.vectors import find_eval_files, load_word2vec_text

ANIMALS = ["cat", "dog", "horse", "cow", "sheep", "goat", "pig", "hen"]
TOOLS = ["hammer", "saw", "drill", "wrench", "chisel", "file", "vise", "plane"]


def topic_corpus(lines: int = 300, seed: int = 0) -> str:
    """Each line draws 8 words of one topic: words of a topic co-occur, words of two topics never do."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(lines):
        topic = ANIMALS if i % 2 else TOOLS
        out.append(" ".join(topic[j] for j in torch.randint(0, 8, (8,), generator=gen).tolist()))
    return "\n".join(out) + "\n"


TINY = ["task.vocab.min_freq=1", "task.batch_size=32", "task.embedding_dim=8", "task.subsample=0"]


class TestWord2VecContract(TaskContract):
    task_name = "word2vec"
    overrides = (*TINY, "task.evaluate=false")

    def data_overrides(self, tmp_path):
        path = tmp_path / "corpus.txt"
        path.write_text(topic_corpus(60), encoding="utf-8")
        return [f"task.data.path={path}"]


def test_any_model_option_is_accepted_and_unused(tmp_path):
    for model in (["model=gru", "model.bidirectional=true"], ["model=cnn"], ["model=bow"]):
        validate(compose_config(["task=word2vec", *model]))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("task.window=0", "task.window"),
        ("task.subsample=1.5", "task.subsample"),
        ("task.data.corpus=wiki", "task.data.corpus"),
        ("task.vocab.max_size=0", "task.vocab.max_size"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=rf"^{key}: "):
        validate(compose_config(["task=word2vec", override]))


# ---- pairs, subsampling, negatives ------------------------------------------------------------------------------
VOCAB = Vocab(["<pad>", "<unk>", "a", "b", "c"])


def test_sentences_and_encoding_drop_eos_and_unknown_words():
    tokens = ["a", "b", "<eos>", "<eos>", "c", "zzz", "a", "<unk>", "<eos>"]
    assert sentences(tokens) == [["a", "b"], ["c", "zzz", "a", "<unk>"]]
    ids, sentence = encode(tokens, VOCAB)
    assert ids.tolist() == [2, 3, 4, 2] and sentence.tolist() == [0, 0, 2, 2]


def test_pairs_stay_in_the_window_and_the_sentence():
    ids, sentence = torch.tensor([2, 3, 4, 2, 3, 4]), torch.tensor([0, 0, 0, 1, 1, 1])
    gen = torch.Generator().manual_seed(0)
    centres, contexts = skipgram_pairs(ids, sentence, torch.ones(5), 1, gen)
    assert sorted(zip(centres.tolist(), contexts.tolist())) == sorted(
        [(2, 3), (3, 2), (3, 4), (4, 3)] * 2
    )  # window 1: neighbours, never across the sentence border (4 | 2)
    positions = torch.arange(40)
    seen = set()
    for _ in range(20):
        c, o = skipgram_pairs(positions + 2, positions // 10, torch.ones(42), 3, gen)
        assert ((c - o).abs() <= 3).all() and ((c - 2) // 10 == (o - 2) // 10).all()
        seen |= set((o - c).tolist())
    assert seen == {-3, -2, -1, 1, 2, 3}  # the drawn window reaches every distance up to 3


def test_subsampling_and_noise_follow_word2vec():
    counts = torch.tensor([0, 0, 9000, 900, 100])
    keep = keep_probabilities(counts, 1e-2)
    f = 9000 / 10000
    assert keep[2] == pytest.approx(((f / 1e-2) ** 0.5 + 1) * 1e-2 / f) and keep[4] == 1.0
    assert torch.equal(keep_probabilities(counts, 0.0), torch.ones(5))
    cdf = noise_cdf(counts, 0.75)
    probs = torch.diff(cdf, prepend=torch.zeros(1))
    assert probs[:2].tolist() == [0, 0] and probs[2] / probs[3] == pytest.approx(10**0.75, rel=1e-5)
    drawn = draw_negatives(cdf, (20000,), torch.Generator().manual_seed(0))
    assert drawn.min() >= 2 and (drawn == 2).float().mean() == pytest.approx(float(probs[2]), abs=0.02)


def test_training_pairs_are_reproducible_per_epoch_and_resume_exactly():
    ids = torch.randint(2, 5, (400,), generator=torch.Generator().manual_seed(0))
    cfg = SimpleNamespace(window=2, batch_size=16, negatives=3)
    epoch = [0]

    def pairs_of(rank: int, world: int) -> TrainPairs:
        cdf = noise_cdf(torch.tensor([0, 0, 5, 3, 2]), 0.75)
        return TrainPairs(ids, torch.arange(400) // 20, torch.ones(5), cdf, cfg, 1, rank, world, lambda: epoch[0])

    pairs = pairs_of(0, 1)
    first, again = list(pairs), list(pairs)
    assert len(first) == len(pairs) and all(torch.equal(x[0], y[0]) for x, y in zip(first, again))
    epoch[0] = 1
    assert not torch.equal(list(pairs)[0][0], first[0][0])  # a new draw each epoch
    epoch[0], pairs.skip_batches = 0, 3
    assert all(all(map(torch.equal, x, y)) for x, y in zip(list(pairs), first[3:]))  # ExactResume skips exactly
    (a, *_), (b, *_) = pairs_of(0, 2), pairs_of(1, 2)  # two DDP ranks: their own pairs and negatives
    assert len(pairs_of(0, 2)) == len(pairs) // 2 and not torch.equal(a[2], b[2])


# ---- the loss and what it learns --------------------------------------------------------------------------------
def module_for(vocab: list[str], dim: int = 8) -> Word2VecModule:
    cfg = compose_config(["task=word2vec", f"task.embedding_dim={dim}"])
    return Word2VecModule(cfg, vocab)


def test_loss_is_the_sgns_objective():
    module = module_for(["<pad>", "<unk>", "a", "b", "c"], dim=3)
    torch.manual_seed(0)
    with torch.no_grad():
        module.in_embed.weight.normal_()
        module.out_embed.weight.normal_()
    v, u = module.in_embed.weight, module.out_embed.weight
    centres, contexts, negatives = torch.tensor([2, 3]), torch.tensor([3, 4]), torch.tensor([[4, 3], [4, 2]])
    logsig = torch.nn.functional.logsigmoid
    first = logsig(u[3] @ v[2]) + logsig(-u[4] @ v[2])  # negatives equal to the context are skipped
    second = logsig(u[4] @ v[3]) + logsig(-u[2] @ v[3])
    expected = -(first + second) / 2
    assert module(centres, contexts, negatives).item() == pytest.approx(expected.item(), rel=1e-6)


def test_words_that_co_occur_end_up_nearer_than_the_others():
    tokens = topic_corpus(300).replace("\n", " <eos> ").split()
    vocab = Vocab.build(sentences(tokens))
    module = module_for(vocab.itos, dim=16)
    ids, sentence = encode(tokens, vocab)
    counts = torch.bincount(ids, minlength=len(vocab))
    cdf, gen = noise_cdf(counts, 0.75), torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(4):
        centres, contexts = skipgram_pairs(ids, sentence, torch.ones(len(vocab)), 3, gen)
        for batch in torch.randperm(len(centres), generator=gen).split(512):
            loss = module(centres[batch], contexts[batch], draw_negatives(cdf, (len(batch), 5), gen))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    vectors = module.word_vectors()
    unit = vectors.unit_matrix()
    animals, tools = [vectors.find(w) for w in ANIMALS], [vectors.find(w) for w in TOOLS]
    within = (unit[animals] @ unit[animals].T).fill_diagonal_(0).sum() / (8 * 7)
    across = (unit[animals] @ unit[tools].T).mean()
    assert within > across + 0.5, (float(within), float(across))
    assert "<unk>" not in vectors.words and len(vectors) == 16


# ---- a trained checkpoint and python -m seqlab.embeddings -------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from seqlab.run.job import run

    root = tmp_path_factory.mktemp("word2vec")
    corpus = root / "corpus.txt"
    corpus.write_text(topic_corpus(200).replace("cat", "King"), encoding="utf-8")
    cfg = compose_config(
        ["task=word2vec", *TINY, f"task.data.path={corpus}", "trainer.max_epochs=2", "logger=none",
         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "hardware.threads=1"]
    )  # fmt: skip
    results = run(cfg, root / "run")
    return root / "run", results


def embeddings(capsys, *args: str) -> tuple[int, str, str]:
    try:
        embeddings_main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_run_reports_the_evaluation_when_the_files_are_there(trained):
    run_dir, results = trained
    assert json.loads((run_dir / "results.json").read_text())["model_parameters"] is None
    if find_eval_files():
        assert results["analogy/total"] == 19544 and "wordsim353/oov" in results
    else:
        assert not any(k.startswith("analogy/") for k in results)


def test_cli_nearest_analogy_and_export(trained, capsys, tmp_path):
    run_dir, _ = trained
    code, out, err = embeddings(capsys, f"ckpt_path={run_dir}", "nearest=dog,king", "k=3",
                                "analogy=dog - cow + saw", f"export={tmp_path / 'v.txt'}")  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("dog: ") and len(lines[0].split(", ")) == 3
    assert lines[1].startswith("king: ")  # found case-insensitively: the corpus has King
    assert lines[2].startswith("dog - cow + saw: ")
    assert lines[3].startswith("wrote 16 vectors of 8 dimensions to ")
    assert len(load_word2vec_text(tmp_path / "v.txt")) == 16
    code, out, _ = embeddings(capsys, f"ckpt_path={run_dir}")
    assert code == 0 and out.startswith("16 words, 8 dimensions (task word2vec)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nearest=zebra"], "nearest: 'zebra' is not in the vocabulary (16 words"),
        (["analogy=dog cow"], "analogy: cannot read 'dog cow': write words joined by"),
        (["k=0"], "k: must be >= 1, got 0"),
        (["colour=red"], "colour: unknown argument"),
        (["evaluate=true", "data_dir=NOWHERE"], "evaluate: no evaluation files (questions-words.txt"),
    ],
)
def test_cli_errors_are_one_line(trained, capsys, tmp_path, args, message):
    run_dir, _ = trained
    args = [a.replace("NOWHERE", str(tmp_path)) for a in args]
    code, out, err = embeddings(capsys, f"ckpt_path={run_dir}", *args)
    assert code == 2 and out == ""
    assert err.startswith(f"seqlab.embeddings: error: {message}") and err.count("\n") == 1, err


def test_cli_refuses_a_task_without_word_vectors(monkeypatch, capsys):
    fake = SimpleNamespace(cfg=SimpleNamespace(task=SimpleNamespace(name="charlm")))
    monkeypatch.setattr("seqlab.checkpoint.load_module", lambda *a, **k: fake)
    code, _, err = embeddings(capsys, "ckpt_path=whatever", "nearest=king")
    assert code == 2 and err == "seqlab.embeddings: error: ckpt_path: task 'charlm' has no word vectors\n"


def test_cli_evaluates_when_the_files_are_there(trained, capsys):
    if not find_eval_files():
        pytest.skip("no word-similarity-analogy files ($SEQLAB_DATA_DIR or gensim)")
    run_dir, _ = trained
    code, out, err = embeddings(capsys, f"ckpt_path={run_dir}", "evaluate=true")
    assert code == 0, err
    assert "analogy/coverage: 0.0000" in out and "wordsim353/oov: " in out


def test_results_score_the_final_vectors_not_the_reloaded_best_checkpoint(monkeypatch):
    module = module_for(VOCAB.itos)
    seen = []
    monkeypatch.setattr("seqlab.tasks.word2vec.module.evaluate_all", lambda v: seen.append(v.matrix.clone()) or {})
    module.on_train_end()
    final = module.in_embed.weight[2:].detach().clone()
    with torch.no_grad():
        module.in_embed.weight.add_(1.0)  # trainer.test reloads the best checkpoint's weights
    assert module.extra_results() == {} and torch.equal(seen[0], final)
