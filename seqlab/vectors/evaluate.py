"""Intrinsic evaluation of word vectors: analogies (questions-words) and word similarity (WordSim353, SimLex-999).

- **Analogies** (Mikolov et al. 2013): for each question ``a b c d`` (``a:b :: c:d``) the answer is
  ``argmax_x cos(x, b/||b|| - a/||a|| + c/||c||)`` over the vocabulary, ``a``, ``b``, ``c`` and their case variants
  excluded (3CosAdd, as gensim's ``evaluate_word_analogies``); it is right when it is ``d`` in any case. Only
  questions whose four words are in the vocabulary are asked: ``coverage`` is their share of all questions,
  ``accuracy`` the share of right answers among them (per section too, ``semantic`` = the 5 sections without the
  ``gram`` prefix, ``syntactic`` = the 9 ``gram*`` ones). gensim restricts the vocabulary to its 300k most frequent
  words; here it is the whole vocabulary.
- **Word pairs**: Spearman's rho between the human scores and ``cos(w1, w2)``. ``oov`` is the share of pairs with a
  word not in the vocabulary. Those pairs are skipped (gensim's default), unless the vectors can ``embed`` unseen
  words (char-aware models): then they are embedded and kept, and ``oov`` still reports how many were unseen.

Words are looked up as :meth:`WordVectors.find` does: the exact form, else case-insensitively.
:func:`evaluate_all` reads the files from ``$SEQLAB_DATA_DIR/word-similarity-analogy/`` (else from an installed
gensim's test data) and returns ``{}`` with a logged reason when they are absent.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from pathlib import Path

import torch
from scipy.stats import pearsonr, spearmanr

from seqlab.data.locate import data_dir as default_data_dir
from seqlab.errors import DataError
from seqlab.vectors.core import WordVectors, unit

log = logging.getLogger(__name__)

FOLDER = "word-similarity-analogy"
FILES = {"analogy": "questions-words.txt", "wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
Question = tuple[str, str, str, str]


def read_analogies(path: str | Path) -> dict[str, list[Question]]:
    """Sections of a questions-words file: ``: name`` lines, then ``a b c d`` lines."""
    sections: dict[str, list[Question]] = {}
    current: list[Question] | None = None
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(":"):
            current = sections.setdefault(line[1:].strip(), [])
            continue
        words = line.split()
        if not words:
            continue
        if len(words) != 4 or current is None:
            raise DataError(f"{path}:{number}: expected a ': section' line or four words, got '{line}'")
        current.append((words[0], words[1], words[2], words[3]))
    return sections


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """``word1<TAB>word2<TAB>score`` lines; ``#`` lines are comments."""
    pairs = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except (IndexError, ValueError):
            raise DataError(f"{path}:{number}: expected 'word1<TAB>word2<TAB>score', got '{line}'") from None
    return pairs


def evaluate_analogies(
    vectors: WordVectors, questions: dict[str, list[Question]] | str | Path, batch_size: int = 256
) -> dict[str, float]:
    """``accuracy``, ``coverage``, ``questions`` (asked), ``total``, ``semantic``, ``syntactic`` and one accuracy per
    section (sections without an asked question are left out)."""
    sections = read_analogies(questions) if isinstance(questions, str | Path) else questions
    asked: dict[str, list[tuple[int, int, int, int]]] = {}
    for name, items in sections.items():
        rows = [tuple(vectors.find(w) for w in q) for q in items]
        asked[name] = [r for r in rows if None not in r]  # type: ignore[misc]
    total = sum(len(items) for items in sections.values())
    right = {name: _answer(vectors, rows, batch_size) for name, rows in asked.items()}
    n_asked = sum(len(rows) for rows in asked.values())
    results: dict[str, float] = {"coverage": n_asked / total if total else 0.0, "questions": n_asked, "total": total}
    groups = {
        "accuracy": list(asked),
        "semantic": [n for n in asked if not n.startswith("gram")],
        "syntactic": [n for n in asked if n.startswith("gram")],
    }
    for key, names in {**groups, **{n: [n] for n in asked}}.items():
        count = sum(len(asked[n]) for n in names)
        if count:
            results[key] = sum(right[n] for n in names) / count
    return results


def _answer(vectors: WordVectors, rows: list[tuple[int, int, int, int]], batch_size: int) -> int:
    """How many questions 3CosAdd answers right (the first candidate outside the query words' case groups)."""
    if not rows:
        return 0
    units, groups = vectors.unit_matrix(), vectors.fold_groups()
    span = int(torch.bincount(groups).max())  # the most case variants of one word
    m = min(len(vectors), 3 * span + 1)  # enough candidates to get past the three excluded groups
    correct = 0
    for start in range(0, len(rows), batch_size):
        a, b, c, d = torch.tensor(rows[start : start + batch_size]).T
        scores = (units[b] - units[a] + units[c]) @ units.T  # ranking = cosine to the target
        top = groups[scores.topk(m, dim=1).indices]  # (n, m) case groups of the best candidates
        query = torch.stack([groups[a], groups[b], groups[c]], 1)
        allowed = (top[:, :, None] != query[:, None, :]).all(-1)
        first = allowed.int().argmax(1)  # the first allowed candidate
        correct += int((top[torch.arange(len(top)), first] == groups[d]).sum())
    return correct


def evaluate_word_pairs(vectors: WordVectors, pairs: list[tuple[str, str, float]] | str | Path) -> dict[str, float]:
    """``spearman`` (and ``pearson``) of cosine vs human scores, ``oov`` (share of pairs with an unseen word),
    ``pairs`` (scored). Unseen pairs are skipped unless ``vectors.embed`` can embed them."""
    items = read_word_pairs(pairs) if isinstance(pairs, str | Path) else pairs
    unseen = [not (vectors.has(w1) and vectors.has(w2)) for w1, w2, _ in items]
    used = [p for p, u in zip(items, unseen) if vectors.embed is not None or not u]
    results: dict[str, float] = {"oov": sum(unseen) / len(items) if items else 0.0, "pairs": len(used)}
    if len(used) < 2:
        return results
    first = unit(vectors.vectors([w1 for w1, _, _ in used]))
    second = unit(vectors.vectors([w2 for _, w2, _ in used]))
    cosine = (first * second).sum(1).tolist()
    human = [score for _, _, score in used]
    for key, test in (("spearman", spearmanr), ("pearson", pearsonr)):
        value = float(test(human, cosine)[0])
        if math.isfinite(value):  # constant cosines have no correlation
            results[key] = value
    return results


def find_eval_files(data_dir: str | Path | None = None) -> dict[str, Path]:
    """The evaluation files found, by name (``analogy``, ``wordsim353``, ``simlex999``): in ``data_dir`` (or its
    ``word-similarity-analogy/``); without ``data_dir``, in ``$SEQLAB_DATA_DIR/word-similarity-analogy/``, else in
    an installed gensim's test data."""
    if data_dir is not None:
        folders = [Path(data_dir).expanduser(), Path(data_dir).expanduser() / FOLDER]
    else:
        folders = [default_data_dir() / FOLDER]
        spec = importlib.util.find_spec("gensim")
        if spec is not None and spec.origin:
            folders.append(Path(spec.origin).parent / "test" / "test_data")
    found = {}
    for name, file in FILES.items():
        for folder in folders:
            if (folder / file).is_file():
                found[name] = folder / file
                break
    return found


def evaluate_all(vectors: WordVectors, data_dir: str | Path | None = None) -> dict[str, float]:
    """Every evaluation whose file is found, flat: ``analogy/accuracy``, ``analogy/coverage``, ``analogy/<section>``,
    ``wordsim353/spearman``, ``wordsim353/oov``, ``simlex999/spearman``, ...; ``{}`` (reason logged) without files."""
    files = find_eval_files(data_dir)
    if not files:
        where = Path(data_dir) if data_dir is not None else default_data_dir() / FOLDER
        log.info("word-vector evaluation skipped: none of %s in %s", ", ".join(FILES.values()), where)
        return {}
    results: dict[str, float] = {}
    for name, path in files.items():
        found = evaluate_analogies(vectors, path) if name == "analogy" else evaluate_word_pairs(vectors, path)
        results.update({f"{name}/{key}": value for key, value in found.items()})
    missing = sorted(set(FILES) - set(files))
    if missing:
        log.info("word-vector evaluation: no %s found", ", ".join(FILES[m] for m in missing))
    return results
