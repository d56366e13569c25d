"""Sentiment pieces on small fixtures: tokenizer, vocabulary (train only), labels, packing, metrics, embeddings."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import SHARED_DATA, compose_config

from seqlab.data.batching import BucketBatchSampler, LabelledSequences, collate_labelled, pad_sequences
from seqlab.data.tokenize import tokenize
from seqlab.data.vocab import GENERATE, Vocab
from seqlab.models.baselines import BagOfWords, BagOfWordsConfig, ConvConfig, ConvEncoder
from seqlab.tasks.sentiment.data import (
    SentimentDataModule,
    label_classes,
    read_uci,
)
from seqlab.tasks.sentiment.metrics import accuracy, confusion_matrix, macro_f1, plot_confusion
from seqlab.tasks.sentiment.module import SentimentModule
from seqlab.tasks.sentiment.task import SentimentTask, task_config
from seqlab.training.ddp import RankAwareData

WORDS = ["good", "bad", "film", "plot", "actor", "great", "awful", "the", "a", "!"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _csv(tmp_path, rows, name="reviews.csv", header="review,stars"):
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(f'"{t}",{y}' for t, y in rows) + "\n", encoding="utf-8")
    return path


SIZES = {"cnn": ["model.channels=4", "model.kernel_sizes=[2,3]"], "bow": []}


def _config(*extra, model="lstm"):
    size = SIZES.get(model, ["model.hidden_size=8", "model.num_layers=1"])
    return compose_config(["task=sentiment", f"model={model}", *size, "task.embedding_dim=6", *extra])


def test_tokenize_drops_html_breaks_and_lowercases():
    assert tokenize("Great film!<br /><br />Loved it, didn't I?") == [
        "great",
        "film",
        "!",
        "loved",
        "it",
        ",",
        "didn't",
        "i",
        "?",
    ]
    assert tokenize("Great<br/>Film", lowercase=False) == ["Great", "Film"]


def test_vocab_max_size_min_freq_and_unknowns():
    vocab = Vocab.build([["a", "b", "a", "c"], ["a", "b", "d"]], max_size=2, min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"]
    assert vocab.encode(["b", "zzz", "a"]).tolist() == [3, 1, 2]


def test_vocabulary_is_built_on_the_training_split_only(tmp_path):
    train = [(f"common word{i}", "pos" if i % 2 else "neg") for i in range(40)]
    test = [(f"common testonly{i}", "neg") for i in range(6)]
    cfg = _config(
        "task.data.source=csv",
        f"task.data.path={_csv(tmp_path, train)}",
        f"task.data.test_path={_csv(tmp_path, test, 'test.csv')}",
        "task.data.text_column=review",
        "task.data.label_column=stars",
        "task.vocab.min_freq=1",
        "task.data.val_fraction=0.25",
    )
    data = SentimentDataModule(task_config(cfg))
    vocab, classes = data.prepare()
    assert classes == ["neg", "pos"]
    val_ids = {int(i) for x in data.splits["val"].ids for i in x}
    train_words = {f"word{i}" for i in range(40)} & set(vocab.itos)
    assert len(data.splits["train"]) == 30 and len(data.splits["val"]) == 10
    assert len(train_words) == 30  # exactly the training rows' words ...
    assert not any(w.startswith("testonly") for w in vocab.itos)  # ... never a test word
    assert val_ids <= {vocab.stoi["common"], Vocab.unk_id}  # validation words are unknown to the vocabulary


def test_string_labels_map_to_sorted_class_ids(tmp_path):
    assert label_classes(["pos", "neg", "neutral", "pos"]) == ["neg", "neutral", "pos"]
    assert label_classes(["10", "2", "1"]) == ["1", "2", "10"]  # integers sort numerically
    names = ["meh", "love it", "hate it"]
    rows = [(f"{names[i % 3].replace(' ', '')} text {i}", names[i % 3]) for i in range(30)]
    path = tmp_path / "r.tsv"
    path.write_text("".join(f"{y}\t{t}\n" for t, y in rows), encoding="utf-8")
    cfg = _config(
        "task.data.source=csv",
        f"task.data.path={path}",
        "task.data.header=false",
        "task.data.text_column=1",
        "task.data.label_column=0",
        "task.vocab.min_freq=1",
    )
    data = SentimentDataModule(task_config(cfg))
    _, classes = data.prepare()
    assert classes == ["hate it", "love it", "meh"]
    for split in data.splits.values():  # every row's class id points at the label its text was written with
        for ids, label in zip(split.ids, split.labels):
            assert data.vocab.itos[int(ids[0])] == classes[int(label)].replace(" ", "")


def _module(model, pooling, *extra):
    vocab = ["<pad>", "<unk>", *WORDS]
    cfg = _config(f"task.pooling={pooling}", *extra, model=model)
    return SentimentModule(cfg, vocab, ["neg", "pos", "mixed"]).eval()


@pytest.mark.parametrize(
    "model,pooling,extra",
    [
        ("lstm", "last", ["model.bidirectional=true", "model.num_layers=2"]),
        ("lstm", "max", []),
        ("gru", "mean", ["model.bidirectional=true"]),
        ("gru", "attention", []),
        ("rnn", "last", []),
        ("cnn", "last", []),
        ("bow", "last", ["model.weighting=count"]),
    ],
)
def test_packing_excludes_padding(model, pooling, extra):
    torch.manual_seed(0)
    module = _module(model, pooling, *extra)
    seqs = [torch.tensor([2, 5, 7, 3]), torch.tensor([4, 2]), torch.tensor([6, 3, 8, 9, 2, 5, 4])]
    ids, lengths, _ = collate_labelled([(s, 0) for s in seqs])
    padded = torch.cat([ids, torch.full((3, 5), 0)], dim=1)  # five more padding steps
    garbage = padded.clone()
    garbage[:, ids.size(1) :] = 7  # padding positions holding real words must not matter either
    with torch.no_grad():
        ref = module(ids, lengths)
        alone = torch.cat([module(s.unsqueeze(0), torch.tensor([len(s)])) for s in seqs])
        assert torch.allclose(module(padded, lengths), ref, atol=1e-5)
        assert torch.allclose(module(garbage, lengths), ref, atol=1e-5)
        assert torch.allclose(alone, ref, atol=1e-5)


def test_last_pooling_reads_both_directions_final_states():
    module = _module("lstm", "last", "model.bidirectional=true")
    ids, lengths = torch.tensor([[2, 3, 4, 0, 0]]), torch.tensor([3])
    with torch.no_grad():
        x = module.embedding(ids)
        out, _ = module.encoder(x, lengths=lengths)
        pooled = module.pool(*module.encoder(x, lengths=lengths), lengths)
    h = 8
    assert torch.allclose(pooled[0, :h], out[0, 2, :h])  # forward direction ends at the last valid step
    assert torch.allclose(pooled[0, h:], out[0, 0, h:])  # backward direction ends at the first step


def test_bag_of_words_is_a_term_vector():
    bow = BagOfWords(6, BagOfWordsConfig(weighting="count", normalize=False))
    out, state = bow(torch.tensor([[2, 3, 2, 5, 5], [4, 4, 1, 0, 0]]), lengths=torch.tensor([5, 3]))
    assert state is None and out.shape == (2, 1, 6)
    assert out[:, 0].tolist() == [[0, 0, 2, 1, 0, 2], [0, 1, 0, 0, 2, 0]]
    binary, _ = BagOfWords(6, BagOfWordsConfig())(torch.tensor([[2, 2, 3, 0]]), lengths=torch.tensor([3]))
    expected = torch.tensor([0, 0, 1, 1, 0, 0.0]) / 2**0.5
    assert torch.allclose(binary[0, 0], expected)
    assert sum(p.numel() for p in bow.parameters()) == 0  # the task's linear head is the whole classifier


def test_cnn_max_over_windows_inside_the_sequence():
    torch.manual_seed(0)
    cnn = ConvEncoder(3, ConvConfig(channels=2, kernel_sizes=[2]))
    x = torch.randn(1, 4, 3)
    out, _ = cnn(torch.cat([x, torch.full((1, 3, 3), 9.0)], dim=1), lengths=torch.tensor([4]))
    windows = torch.relu(cnn.convs[0](x.transpose(1, 2)))  # 3 windows of width 2 inside 4 steps
    assert torch.allclose(out[0, 0], windows.max(dim=2).values[0])


def test_metrics_against_hand_computed_values(tmp_path):
    target = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    predicted = torch.tensor([0, 1, 1, 1, 2, 0, 2])
    cm = confusion_matrix(target, predicted, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert accuracy(cm) == pytest.approx(5 / 7)
    # F1: class 0 P=1/2 R=1/2 -> 0.5; class 1 P=2/3 R=1 -> 0.8; class 2 P=1 R=2/3 -> 0.8
    assert macro_f1(cm) == pytest.approx((0.5 + 0.8 + 0.8) / 3)
    # a class never predicted nor present counts as F1 0 in the macro mean
    assert macro_f1(confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1]), 3)) == pytest.approx(2 / 3)
    png = plot_confusion(cm, ["a", "b", "c"], tmp_path / "cm.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_pretrained_word2vec_embeddings_frozen(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("3 6\ngood 1 2 3 4 5 6\nbad -1 -2 -3 -4 -5 -6\nunseen 9 9 9 9 9 9\n", encoding="utf-8")
    module = _module("lstm", "max", f"task.embeddings.path={path}", "task.embeddings.freeze=true")
    weight = module.embedding.weight
    assert weight[2].tolist() == [1, 2, 3, 4, 5, 6] and weight[3].tolist() == [-1, -2, -3, -4, -5, -6]
    assert not weight.requires_grad and weight[0].abs().sum() == 0
    tuned = _module("lstm", "max", f"task.embeddings.path={path}")
    assert tuned.embedding.weight.requires_grad and tuned.embedding.weight[2].tolist() == [1, 2, 3, 4, 5, 6]


def test_bucket_sampler_groups_similar_lengths_and_covers_everything():
    lengths = [(i * 37) % 100 + 1 for i in range(200)]
    sampler = BucketBatchSampler(lengths, batch_size=10, bucket=5, shuffle=True, seed=3)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(200)) and len(batches) == len(sampler)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 30  # random batches of 10 would spread over ~80
    assert list(sampler) != batches  # a new order every epoch
    evaluation = list(BucketBatchSampler(lengths, 10, shuffle=False))
    assert evaluation == list(BucketBatchSampler(lengths, 10, shuffle=False)), "the same order every pass"
    assert sorted(lengths[i] for b in evaluation for i in b) == sorted(lengths)
    assert all(
        max(lengths[i] for i in b) <= min(lengths[i] for i in nxt)
        or max(lengths[i] for i in nxt) <= min(lengths[i] for i in b)
        for b, nxt in zip(evaluation, evaluation[1:])
    ), "batches of one length band"
    first = [lengths[i] for b in evaluation[:5] for i in b]
    assert max(first) - min(first) > 50, "a prefix of the evaluation batches samples every length"


@pytest.mark.parametrize("n", [95, 100, 107])
def test_bucket_sampler_shards_by_rank(n):
    lengths = [random.Random(i).randint(1, 50) for i in range(n)]
    train = [BucketBatchSampler(lengths, 10, shuffle=True, seed=3, rank=r, world=3) for r in range(3)]
    shards = [list(s) for s in train]
    assert len({len(b) for b in shards}) == 1 and [len(b) for b in shards] == [len(s) for s in train]
    seen = [i for shard in shards for b in shard for i in b]
    assert len(seen) == len(set(seen)) >= n - 2 * 10  # disjoint, at most world - 1 batches dropped
    evaluation = [list(BucketBatchSampler(lengths, 10, shuffle=False, rank=r, world=3)) for r in range(3)]
    assert sorted(i for shard in evaluation for b in shard for i in b) == list(range(n))  # each example once


@pytest.mark.parametrize(
    "override,key",
    [
        ("task.pooling=sum", "task.pooling"),
        ("task.tbptt_steps=20", "task.tbptt_steps"),
        ("task.data.source=xml", "task.data.source"),
        ("task.truncate=middle", "task.truncate"),
    ],
)
def test_bad_config_names_the_key(override, key):
    from seqlab.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        SentimentTask.check(_config(override))


@pytest.mark.skipif(not (SHARED_DATA / "sentiment-labelled-sentences").is_dir(), reason="shared UCI data absent")
def test_uci_files_read_as_polarity_labels():
    rows = read_uci(SHARED_DATA / "sentiment-labelled-sentences" / "yelp_labelled.txt")
    assert len(rows) == 1000 and {y for _, y in rows} == {"0", "1"}
    assert all("\t" not in t and t for t, _ in rows)


def test_a_generating_vocabulary_has_bos_and_eos_after_pad_and_unk():
    vocab = Vocab.build([["le", "chat", "le"], ["chat", "dort"]], specials=GENERATE)
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] and (vocab.bos_id, vocab.eos_id) == (2, 3)
    assert vocab.decode(vocab.encode(["le", "chien"])) == ["le", "<unk>"]
    with pytest.raises(KeyError, match="no <bos>"):
        _ = Vocab.build([["a"]]).bos_id


def test_pad_sequences_pads_to_the_longest_and_keeps_lengths():
    ids, lengths = pad_sequences([torch.tensor([5, 6, 7]), torch.tensor([8])], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]


def test_labelled_sequences_gather_the_batches_collate_would_make():
    rng = random.Random(0)
    seqs = [torch.randint(2, 50, (rng.randint(1, 12),)) for _ in range(40)]
    seqs[-1] = torch.randint(2, 50, (30,))  # the longest last: its row's gather reads past the other sequences
    labels = torch.tensor([rng.randint(0, 2) for _ in seqs])
    split = LabelledSequences(seqs, labels)
    assert len(split) == 40 and split.lengths == [len(s) for s in seqs]
    assert torch.equal(split[7][0], seqs[7]) and split[7][1] == int(labels[7])
    for indices in ([39], [3], [0, 39, 5], rng.sample(range(40), 16), list(range(40))):
        got = split.batch(indices)
        want = collate_labelled([(seqs[i], int(labels[i])) for i in indices])
        assert all(torch.equal(g, w) for g, w in zip(got, want)), indices


def test_a_loader_of_labelled_sequences_serves_the_samplers_batches_in_its_order():
    rng = random.Random(1)
    seqs = [torch.randint(2, 50, (rng.randint(1, 20),)) for _ in range(50)]
    labels = torch.tensor([i % 3 for i in range(50)])
    split = LabelledSequences(seqs, labels)
    loader = RankAwareData().bucket_loader(split, split.lengths, 8, 2, shuffle=True, seed=4, collate=None)
    order = list(BucketBatchSampler(split.lengths, 8, 2, shuffle=True, seed=4))
    batches = list(loader)
    assert len(batches) == len(loader) == len(order) == 7
    for batch, indices in zip(batches, order):
        want = collate_labelled([(seqs[i], int(labels[i])) for i in indices])
        assert all(torch.equal(g, w) for g, w in zip(batch, want))
