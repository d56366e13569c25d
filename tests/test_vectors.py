"""seqlab.vectors: lookup, nearest neighbours, 3CosAdd analogies, the analogy and word-similarity evaluations (checked
against gensim when it is installed) and the word2vec text format, on hand-built vectors with known answers."""

from __future__ import annotations

import importlib.util
import logging

import pytest
import torch
from conftest import SHARED_DATA
from test_layering import PACKAGE, imports, module_name

from seqlab.vectors import (
    ExpressionError,
    UnknownWordError,
    WordVectors,
    analogy,
    evaluate_all,
    evaluate_analogies,
    evaluate_word_pairs,
    export_word2vec_text,
    load_word2vec_text,
    nearest,
    parse_expression,
    read_analogies,
)

HAS_GENSIM = importlib.util.find_spec("gensim") is not None


def royals() -> WordVectors:
    """Axes royal, male, female, person, fruit; every vector has unit length, and with a = 0.8, b = 0.6
    king - man + woman = (a r + b m) - (a p + b m) + (a p + b f) = a r + b f = queen exactly."""
    r, m, f, p, x = torch.eye(5)
    rows = {
        "king": 0.8 * r + 0.6 * m,
        "queen": 0.8 * r + 0.6 * f,
        "man": 0.8 * p + 0.6 * m,
        "woman": 0.8 * p + 0.6 * f,
        "apple": x,
        "pear": 0.8 * x + 0.6 * r,
        "King": 0.8 * r + 0.6 * m + 0.1 * x,  # a case variant of king, almost its direction
    }
    return WordVectors(list(rows), torch.stack(list(rows.values())))


def test_lookup_is_exact_then_case_insensitive():
    v = royals()
    assert v.find("King") == 6 and v.find("king") == 0  # the exact form wins
    assert v.find("QUEEN") == 1 and v.has("Woman") and not v.has("prince")
    assert torch.equal(v.vector("APPLE"), v.matrix[4])
    with pytest.raises(UnknownWordError, match=r"^'prince' is not in the vocabulary \(7 words"):
        v.vector("prince")


def test_unseen_words_are_embedded_when_the_vectors_can():
    v = royals()
    v.embed = lambda words: torch.ones(len(words), 5) * torch.tensor([len(w) for w in words])[:, None]
    got = v.vectors(["king", "prince", "ox"])
    assert torch.equal(got[0], v.matrix[0]) and torch.equal(got[1], torch.full((5,), 6.0))
    assert torch.equal(got[2], torch.full((5,), 2.0)) and not v.has("prince")


def test_nearest_ranks_by_cosine_and_leaves_out_the_query_in_every_case():
    v = royals()
    got = nearest(v, "king", k=3)
    assert [w for w, _ in got] == ["queen", "pear", "man"]  # King (cosine 0.995) is king in another case
    assert [c for _, c in got] == pytest.approx([0.64, 0.48, 0.36])
    assert [w for w, _ in nearest(v, "king", k=2, exclude=[])] == ["king", "King"]
    assert nearest(v, torch.tensor([0.0, 0, 0, 0, 1]), k=1) == [("apple", pytest.approx(1.0))]
    assert len(nearest(v, "apple", k=50)) == 6


def test_analogy_king_man_woman_is_queen_exactly():
    v = royals()
    (best, cosine), *_ = analogy(v, "king - man + woman", k=3)
    assert best == "queen" and cosine == pytest.approx(1.0, abs=1e-6)
    assert analogy(v, "queen - woman + man", k=1)[0][0] == "king"
    assert analogy(v, "Queen - WOMAN + Man", k=1)[0][0] == "king"  # case-insensitive lookup
    with pytest.raises(UnknownWordError, match="'prince'"):
        analogy(v, "prince - man + woman")


@pytest.mark.parametrize(
    ("text", "positive", "negative"),
    [
        ("king - man + woman", ["king", "woman"], ["man"]),
        ("  paris  ", ["paris"], []),
        ("- a + well-known - c", ["well-known"], ["a", "c"]),
    ],
)
def test_expressions_parse(text, positive, negative):
    assert parse_expression(text) == (positive, negative)


@pytest.mark.parametrize("text", ["", "king man", "king - - man", "king -", "+"])
def test_bad_expressions_are_one_line(text):
    with pytest.raises(ExpressionError) as error:
        parse_expression(text)
    assert "\n" not in str(error.value) and "king - man + woman" in str(error.value)


def test_analogy_accuracy_coverage_and_sections():
    v = royals()
    sections = {
        "family": [
            ("man", "king", "woman", "queen"),  # right
            ("king", "queen", "man", "woman"),  # right: man + (queen - king) = woman
            ("man", "woman", "prince", "princess"),  # not asked: unseen words
        ],
        "gram1-fruit": [("king", "apple", "queen", "pear"), ("KING", "Apple", "queen", "PEAR")],
    }
    got = evaluate_analogies(v, sections)
    assert got["total"] == 5 and got["questions"] == 4 and got["coverage"] == pytest.approx(0.8)
    assert got["family"] == 1.0 and got["semantic"] == 1.0
    assert got["gram1-fruit"] == got["syntactic"] == 1.0  # apple - king + queen = x - b m + b f: pear
    assert got["accuracy"] == 1.0
    sections["family"].append(("king", "man", "queen", "apple"))  # wrong: the answer is woman
    got = evaluate_analogies(v, sections)
    assert got["family"] == pytest.approx(2 / 3) and got["accuracy"] == pytest.approx(4 / 5)
    assert got["semantic"] == pytest.approx(2 / 3) and got["coverage"] == pytest.approx(5 / 6)


def test_word_pairs_spearman_and_oov():
    v = royals()
    pairs = [("king", "King", 10.0), ("king", "queen", 6.0), ("king", "pear", 3.0), ("king", "apple", 1.0)]
    got = evaluate_word_pairs(v, [*pairs, ("king", "prince", 9.0)])
    assert got["spearman"] == pytest.approx(1.0) and got["oov"] == pytest.approx(0.2) and got["pairs"] == 4
    reversed_scores = [(a, b, -s) for a, b, s in pairs]
    assert evaluate_word_pairs(v, reversed_scores)["spearman"] == pytest.approx(-1.0)


def test_word_pairs_embed_unseen_words_and_still_report_them():
    v = royals()
    v.embed = lambda words: torch.stack([torch.eye(5)[0] for _ in words])  # "prince": the royal axis
    pairs = [("king", "King", 10.0), ("king", "prince", 8.0), ("king", "queen", 6.0), ("king", "apple", 1.0)]
    got = evaluate_word_pairs(v, pairs)
    assert got["pairs"] == 4 and got["oov"] == pytest.approx(0.25)
    assert got["spearman"] == pytest.approx(1.0)  # cosines 0.995, 0.8, 0.64, 0


def test_export_round_trips(tmp_path):
    v = royals()
    v.matrix[3, 2] = 1.2345678e-7
    path = export_word2vec_text(v, tmp_path / "sub" / "vectors.txt")
    assert path.read_text().splitlines()[0] == "7 5"
    back = load_word2vec_text(path)
    assert back.words == v.words and torch.equal(back.matrix, v.matrix)
    if HAS_GENSIM:
        from gensim.models import KeyedVectors

        kv = KeyedVectors.load_word2vec_format(str(path), binary=False)
        assert list(kv.index_to_key) == v.words
        assert torch.equal(torch.from_numpy(kv.vectors), v.matrix)


def random_lowercase_vectors(n_words: int = 60, dim: int = 8) -> WordVectors:
    torch.manual_seed(0)
    return WordVectors([f"w{i}" for i in range(n_words)], torch.randn(n_words, dim))


@pytest.mark.skipif(not HAS_GENSIM, reason="gensim is not installed (pip install gensim)")
def test_the_evaluations_agree_with_gensim(tmp_path):
    from gensim.models import KeyedVectors

    v = random_lowercase_vectors()
    gen = torch.Generator().manual_seed(1)
    lines = []
    for section in ("capital-world", "gram3-comparative"):
        lines.append(f": {section}")
        for _ in range(150):
            a, b, c, d = torch.randint(0, 70, (4,), generator=gen).tolist()  # words >= 60 are unseen
            lines.append(f"w{a} w{b} w{c} w{d}")
    questions = tmp_path / "questions.txt"
    questions.write_text("\n".join(lines) + "\n")
    pairs = tmp_path / "pairs.tsv"
    rows = [f"w{a}\tw{b}\t{s:.2f}" for a, b, s in zip(*torch.randint(0, 70, (2, 80), generator=gen), torch.rand(80))]
    pairs.write_text("# a comment\n" + "\n".join(rows) + "\n")

    kv = KeyedVectors(8)
    kv.add_vectors(v.words, v.matrix.numpy())
    score, sections = kv.evaluate_word_analogies(str(questions))
    ours = evaluate_analogies(v, questions)
    assert ours["accuracy"] == pytest.approx(score)
    for section in sections[:-1]:
        asked = len(section["correct"]) + len(section["incorrect"])
        assert ours[section["section"]] == pytest.approx(len(section["correct"]) / asked)
    pearson, spearman, oov_percent = kv.evaluate_word_pairs(str(pairs))
    mine = evaluate_word_pairs(v, pairs)
    assert mine["spearman"] == pytest.approx(spearman.statistic, abs=1e-6)
    assert mine["pearson"] == pytest.approx(pearson.statistic, abs=1e-6)
    assert mine["oov"] * 100 == pytest.approx(oov_percent)


def test_evaluate_all_without_files_is_empty_and_says_why(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="seqlab.vectors.evaluate"):
        assert evaluate_all(royals(), tmp_path) == {}
    assert "questions-words.txt" in caplog.text and str(tmp_path) in caplog.text


REAL = SHARED_DATA / "word-similarity-analogy"


@pytest.mark.skipif(not (REAL / "questions-words.txt").is_file(), reason=f"no evaluation files in {REAL}")
def test_evaluate_all_on_the_real_files():
    sections = read_analogies(REAL / "questions-words.txt")
    assert len(sections) == 14 and sum(map(len, sections.values())) == 19544
    family = sorted({w for q in sections["family"] for w in q})  # lower-case words: boy, girl, king, ...
    torch.manual_seed(0)
    v = WordVectors([w.upper() for w in family] + ["tiger", "cat"], torch.randn(len(family) + 2, 16))
    got = evaluate_all(v, SHARED_DATA)
    assert got["analogy/coverage"] == pytest.approx(len(sections["family"]) / 19544)  # found case-insensitively
    assert 0 <= got["analogy/family"] <= 1 and got["analogy/accuracy"] == got["analogy/family"]
    assert "analogy/capital-world" not in got  # no question of it was asked
    for name in ("wordsim353", "simlex999"):
        assert 0 < got[f"{name}/oov"] < 1 and -1 <= got[f"{name}/spearman"] <= 1
    assert got["wordsim353/pairs"] >= 2  # tiger-cat, king-queen, ...


def test_the_vectors_package_imports_no_task_model_or_training_code():
    banned = ("seqlab.tasks", "seqlab.models", "seqlab.training", "seqlab.run", "seqlab.cli")
    found = [
        f"{module_name(path)}:{line} imports {mod}"
        for path in sorted((PACKAGE / "vectors").rglob("*.py"))
        for line, mod in imports(path)
        if any(mod == b or mod.startswith(b + ".") for b in banned)
    ]
    assert found == []
