"""Translation data: reading TSV pairs (and its one-line errors), normalisation, filters, the split by source
sentence, tokenizers (their checkpoint-safe states) and vocabularies on train only, and the batches."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA

from seqlab.data.normalize import lower, normalize, tutorial
from seqlab.data.tokenizers import SentencePieceTokenizer, build_tokenizer, tokenizer_from_state
from seqlab.data.vocab import GENERATE, UNK
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.translate.config import TUTORIAL_PREFIXES, SentencePieceConfig, TranslateConfig
from seqlab.tasks.translate.data import (
    TranslationDataModule,
    filter_pairs,
    read_pairs,
    split_by_source,
    subsample,
)

# English<TAB>French[<TAB>attribution]; several French references for some English sentences, and the reverse
LINES = [
    "I am cold.\tJ'ai froid.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1",
    "I'm cold.\tJ'ai froid.",
    "He is tall.\tIl est grand.",
    "He is tall.\tIl est de grande taille.",
    "She is happy.\tElle est heureuse.",
    "She's happy.\tElle est contente.",
    "We are late.\tNous sommes en retard.",
    "You are right.\tVous avez raison.",
    "You are right.\tTu as raison.",
    "They are here.\tIls sont là.",
    "Go.\tVa !",
    "Run!\tCours\u202f!",
    "I see the big red house on the green hill over there.\tJe vois la grande maison rouge sur la colline verte.",
]


def spelled(i: int) -> str:
    """``i`` in letters (the tutorial normalisation drops digits): 12 -> ``"bc"``."""
    return "".join("abcdefghij"[int(d)] for d in str(i))


def write(tmp_path: Path, lines: list[str], name: str = "pairs.tsv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config(path: Path, **data) -> TranslateConfig:
    cfg = TranslateConfig(batch_size=4, bucket_batches=2)
    cfg.data.path = str(path)
    cfg.data.val_fraction = cfg.data.test_fraction = 0.2
    for key, value in data.items():
        setattr(cfg.data, key, value)
    return cfg


# ---- reading -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lines", "line", "words"),
    [
        (["Go.\tVa !", "", "no tab here"], 3, "no tab"),
        (["Go.\tVa !", "Run!\t  "], 2, "empty column 2"),
        (["\tVa !"], 1, "empty column 1"),
    ],
)
def test_bad_lines_name_the_file_and_the_line(tmp_path, lines, line, words):
    path = write(tmp_path, lines)
    with pytest.raises(DataError) as err:
        read_pairs(path, "eng-fra")
    message = str(err.value)
    assert "\n" not in message and str(path) in message and f"line {line} " in message and words in message


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_a_file_without_pairs_is_one_line(tmp_path, content):
    path = tmp_path / "empty.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="no sentence pairs") as err:
        read_pairs(path, "eng-fra")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_the_module_reports_an_empty_or_missing_file_on_its_key(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="task.data.path: file is empty"):
        TranslationDataModule(config(empty)).prepare()
    with pytest.raises(DataError, match="task.data.path: file not found"):
        TranslationDataModule(config(tmp_path / "missing.tsv")).prepare()


def test_non_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("Café.\tCafé.\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8") as err:
        read_pairs(path, "eng-fra")
    assert "\n" not in str(err.value)


def test_direction_flips_and_extra_columns_are_ignored(tmp_path):
    path = write(tmp_path, LINES[:2] + ["", "He is tall.\tIl est grand.\tx\ty"])
    assert read_pairs(path, "eng-fra") == [
        ("I am cold.", "J'ai froid."),
        ("I'm cold.", "J'ai froid."),
        ("He is tall.", "Il est grand."),
    ]
    assert read_pairs(path, "fra-eng")[0] == ("J'ai froid.", "I am cold.")
    with pytest.raises(ConfigError, match="task.data.direction"):
        read_pairs(path, "eng-deu")


# ---- normalisation and filters -------------------------------------------------------------------------------------
def test_tutorial_normalisation_is_the_tutorials():
    assert tutorial("Je suis fatigué.") == "je suis fatigue"
    assert tutorial("I'm OK!") == "i m ok !"
    assert tutorial("  Cours\u202f!  ") == "cours !"
    assert tutorial("Où es-tu ?") == "ou es tu ?"
    assert tutorial("It costs $50.") == "it costs"
    assert lower("Je suis fatigué.") == "je suis fatigué ."
    assert lower("Aujourd'hui, c'est l'été!") == "aujourd'hui , c'est l'été !"
    assert normalize("  As Is.  ", "none") == "As Is."
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalize("x", "upper")


def test_filters_judge_the_tutorial_normalised_text(tmp_path):
    pairs = read_pairs(write(tmp_path, LINES), "eng-fra")
    short = filter_pairs(pairs, "eng-fra", 3, None)
    assert all(len(tutorial(s).split()) <= 3 and len(tutorial(t).split()) <= 3 for s, t in short)
    assert ("I am cold.", "J'ai froid.") in short and ("He is tall.", "Il est de grande taille.") not in short
    prefixed = filter_pairs(pairs, "eng-fra", None, ["i m ", "he is"])
    assert prefixed == [("I'm cold.", "J'ai froid."), *[p for p in pairs if p[0] == "He is tall."]]
    # the English side is the target under fra-eng
    flipped = filter_pairs(read_pairs(write(tmp_path, LINES), "fra-eng"), "fra-eng", None, ["i m ", "he is"])
    assert [(t, s) for s, t in flipped] == prefixed
    assert filter_pairs(pairs, "eng-fra", None, None) == pairs
    with pytest.raises(ConfigError, match="task.data.prefixes"):
        filter_pairs(pairs, "eng-fra", None, ["I am"])
    with pytest.raises(ConfigError, match="task.data.max_len"):
        filter_pairs(pairs, "eng-fra", 0, None)


def test_max_pairs_is_a_seeded_subset_in_file_order():
    pairs = [(str(i), str(i)) for i in range(100)]
    a, b = subsample(pairs, 10, 7), subsample(pairs, 10, 7)
    assert a == b and len(a) == 10 and a == sorted(a, key=lambda p: int(p[0])) and a != subsample(pairs, 10, 8)
    assert subsample(pairs, None, 7) == pairs


@pytest.mark.skipif(not (SHARED_DATA / "eng-fra" / "eng-fra.txt").is_file(), reason="shared/data/eng-fra not present")
def test_the_tutorial_subset_of_eng_fra_has_11445_pairs():
    path = SHARED_DATA / "eng-fra" / "eng-fra.txt"
    pairs = read_pairs(path, "fra-eng")
    assert len(pairs) == 135842
    assert len(filter_pairs(pairs, "fra-eng", 9, list(TUTORIAL_PREFIXES))) == 11445


# ---- the split -----------------------------------------------------------------------------------------------------
def test_split_by_source_keeps_groups_whole_and_is_seeded():
    pairs = [(f"s{i % 40}", f"t{i}") for i in range(120)]  # 40 sources, 3 references each
    train, val, test = split_by_source(pairs, 0.1, 0.2, seed=3)
    assert sorted(train + val + test) == sorted(pairs)
    train_sources = {s for s, _ in train}
    assert not train_sources & {s for s, _ in val + test} and not {s for s, _ in val} & {s for s, _ in test}
    assert len({s for s, _ in val}) == 4 and len({s for s, _ in test}) == 8
    assert all(sum(1 for s, _ in split if s == source) == 3 for split in (val, test) for source, _ in split)
    assert split_by_source(pairs, 0.1, 0.2, seed=3) == (train, val, test)
    assert split_by_source(pairs, 0.1, 0.2, seed=4) != (train, val, test)
    with pytest.raises(ConfigError, match="task.data.val_fraction"):
        split_by_source(pairs, 0.0, 0.2, seed=3)
    with pytest.raises(DataError, match="too few"):
        split_by_source(pairs[:2], 0.1, 0.1, seed=3)


def test_references_hold_every_target_of_a_held_out_source(tmp_path):
    lines = [f"Sentence {spelled(i)}.\tPhrase {spelled(i)} {spelled(k)}." for i in range(30) for k in range(i % 3 + 1)]
    data = TranslationDataModule(config(write(tmp_path, lines), normalize="tutorial"))
    data.prepare()
    train_sources = {data.src_tokenizer.decode(data.src_vocab.decode(s)) for s in data.splits["train"].src}
    for stage in ("val", "test"):
        items = data.references(stage)
        assert items and len({item.source for item in items}) == len(items)
        for item in items:
            assert item.source not in train_sources
            i = next(i for i in range(30) if spelled(i) == item.source.split()[1])
            assert item.references == [f"phrase {spelled(i)} {spelled(k)}" for k in range(i % 3 + 1)]
            assert data.src_vocab.decode(item.ids) == ["sentence", UNK]  # a word of a held-out source only
        assert sum(len(item.references) for item in items) == len(data.splits[stage])
    again = TranslationDataModule(config(write(tmp_path, lines), normalize="tutorial"))
    assert [item.source for item in again.references("val")] == [item.source for item in data.references("val")]


# ---- tokenizers and vocabularies -----------------------------------------------------------------------------------
def test_word_and_char_tokenizers():
    word, char = build_tokenizer("word", []), build_tokenizer("char", [])
    assert word.encode("je suis  là .") == ["je", "suis", "là", "."] and word.decode(["je", "suis"]) == "je suis"
    assert char.encode("a b") == ["a", " ", "b"] and char.decode(["a", " ", "b"]) == "a b"
    with pytest.raises(ConfigError, match="task.tokens"):
        build_tokenizer("bytes", [])


SP_TEXTS = [f"{a} {b} {c}" for a in ("je", "tu", "il") for b in ("suis", "mange", "vois") for c in ("ici", "la", "lui")]


def test_sentencepiece_is_deterministic_and_its_state_survives_a_weights_only_checkpoint():
    sp = SentencePieceConfig(vocab_size=40, model_type="unigram")
    first, second = build_tokenizer("sentencepiece", SP_TEXTS, sp), build_tokenizer("sentencepiece", SP_TEXTS, sp)
    assert isinstance(first, SentencePieceTokenizer) and first.pieces() == second.pieces()
    assert first.model == second.model
    buffer = io.BytesIO()
    torch.save({"tokenizers": {"source": first.state(), "target": build_tokenizer("word", []).state()}}, buffer)
    buffer.seek(0)
    states = torch.load(buffer, weights_only=True)["tokenizers"]
    back = tokenizer_from_state(states["source"])
    assert states["source"]["model"] == first.model and back.pieces() == first.pieces()
    assert back.encode("tu vois lui") == first.encode("tu vois lui")
    assert back.decode(back.encode("tu vois lui")) == "tu vois lui"
    assert tokenizer_from_state(states["target"]).kind == "word"
    bpe = build_tokenizer("sentencepiece", SP_TEXTS, SentencePieceConfig(vocab_size=30, model_type="bpe"))
    assert bpe.decode(bpe.encode("il mange ici")) == "il mange ici"


@pytest.mark.parametrize(
    ("vocab_size", "model_type", "key"),
    [
        (3, "unigram", "task.sentencepiece.vocab_size"),
        (0, "bpe", "task.sentencepiece.vocab_size"),
        (2**40, "unigram", "task.sentencepiece.vocab_size"),
        (40, "word", "task.sentencepiece.model_type"),
    ],
)
def test_a_bad_sentencepiece_config_is_a_config_error(vocab_size, model_type, key):
    with pytest.raises(ConfigError) as err:
        build_tokenizer("sentencepiece", SP_TEXTS, SentencePieceConfig(vocab_size=vocab_size, model_type=model_type))
    assert err.value.key == key and "\n" not in str(err.value)


def test_vocabularies_and_sentencepiece_are_built_on_train_only(tmp_path):
    lines = [f"word{i} common.\tmot{i} commun." for i in range(40)]
    for tokens in ("word", "sentencepiece"):
        cfg = config(write(tmp_path, lines), normalize="lower")
        cfg.tokens, cfg.sentencepiece.vocab_size = tokens, 60
        data = TranslationDataModule(cfg)
        prepared = data.prepare()
        assert data.prepare() is prepared  # idempotent
        assert prepared.src_vocab.itos[:4] == list(GENERATE) and prepared.tgt_vocab.itos[:4] == list(GENERATE)
        held_out = [item.source.split()[0] for stage in ("val", "test") for item in data.references(stage)]
        if tokens == "word":
            assert not any(word in prepared.src_vocab for word in held_out)
            assert "common" in prepared.src_vocab and "commun" in prepared.tgt_vocab
            assert "commun" not in prepared.src_vocab  # separate vocabularies
        else:
            pieces = set(prepared.src_tokenizer.pieces())
            assert not any(f"\u2581{word}" in pieces for word in held_out)
        assert set(prepared.tokenizer_states()) == {"source", "target"}


def test_min_freq_and_max_size_apply(tmp_path):
    lines = [f"common rare{i}.\tcommun rare{i}." for i in range(30)]
    cfg = config(write(tmp_path, lines), normalize="lower")
    cfg.vocab.min_freq = 2
    data = TranslationDataModule(cfg)
    assert data.src_vocab.itos[4:] == [".", "common"]  # the rare words (once each) are <unk>
    ids = data.references("val")[0].ids
    assert ids[1].item() == data.src_vocab.stoi[UNK]


# ---- batches -------------------------------------------------------------------------------------------------------
def test_batches_are_padded_with_bos_and_eos_on_the_target(tmp_path):
    data = TranslationDataModule(config(write(tmp_path, LINES * 3), normalize="tutorial"))
    vocab = data.tgt_vocab
    specials = torch.tensor([vocab.pad_id, vocab.bos_id, vocab.eos_id])  # <unk> may occur outside train
    seen = 0
    for loader in (data.train_dataloader(), data.val_dataloader(), data.test_dataloader()):
        for src, src_lengths, tgt, tgt_lengths in loader:
            assert src.dtype == tgt.dtype == torch.long and src.shape[0] == tgt.shape[0] == len(src_lengths)
            assert src.shape[1] == int(src_lengths.max()) and tgt.shape[1] == int(tgt_lengths.max())
            for row in range(src.shape[0]):
                n, m = int(src_lengths[row]), int(tgt_lengths[row])
                assert (src[row, n:] == 0).all() and not torch.isin(src[row, :n], specials).any()
                assert tgt[row, 0] == vocab.bos_id and tgt[row, m - 1] == vocab.eos_id and (tgt[row, m:] == 0).all()
                assert not torch.isin(tgt[row, 1 : m - 1], specials).any()
            seen += src.shape[0]
    assert seen == sum(len(split) for split in data.splits.values())


def test_pairs_empty_after_normalisation_are_dropped(tmp_path, caplog):
    lines = [f"Sentence {spelled(i)}.\tPhrase {spelled(i)}." for i in range(20)] + ["123\t456", "It is.\t$$$"]
    data = TranslationDataModule(config(write(tmp_path, lines), normalize="tutorial"))
    with caplog.at_level("INFO", logger="seqlab"):
        data.prepare()
    assert data.summary["pairs_empty_dropped"] == 2
    assert sum(len(split) for split in data.splits.values()) == 20
    assert "dropped 2 pair(s)" in caplog.text
