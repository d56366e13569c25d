"""Word-level corpora for language models and word vectors: WikiText-2, Penn Treebank, or a user's text.

A file is read as pytorch/examples' word_language_model does: every line (blank ones included) is its
whitespace-separated words followed by ``<eos>``; ``<unk>`` stays the token the corpus wrote. Sources:

- ``corpus=wikitext2``: ``$SEQLAB_DATA_DIR/wikitext-2/{train,valid,test}.txt``;
- ``corpus=ptb``: ``$SEQLAB_DATA_DIR/ptb/ptb.{train,valid,test}.txt`` (Mikolov's preprocessed PTB);
- ``path=FOLDER``: a folder holding a train, a valid and a test file (``train.txt``, ``ptb.train.txt``,
  ``wiki.train.tokens``, ... : the first file whose name contains ``train``, ``valid``/``val``, ``test``);
- ``path=FILE``: one text file split in order by lines into train | valid | test (``val_fraction``,
  ``test_fraction``).

Missing public files are downloaded (checked with sha256) when the network allows; otherwise one line names the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqlab.data.locate import Remote, locate
from seqlab.data.splits import split_sizes
from seqlab.data.text_files import utf8_or_error
from seqlab.errors import ConfigError, DataError

EOS = "<eos>"
SPLITS = ("train", "valid", "test")
_EXAMPLES = "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2"
CORPORA: dict[str, dict[str, tuple[str, Remote | None]]] = {
    "wikitext2": {
        "train": (
            "wikitext-2/train.txt",
            Remote(f"{_EXAMPLES}/train.txt", "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f"),
        ),
        "valid": (
            "wikitext-2/valid.txt",
            Remote(f"{_EXAMPLES}/valid.txt", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"),
        ),
        "test": (
            "wikitext-2/test.txt",
            Remote(f"{_EXAMPLES}/test.txt", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"),
        ),
    },
    "ptb": {
        "train": ("ptb/ptb.train.txt", None),
        "valid": ("ptb/ptb.valid.txt", None),
        "test": ("ptb/ptb.test.txt", None),
    },
}
_NAMES = {"train": ("train",), "valid": ("valid", "val"), "test": ("test",)}


@dataclass
class WordCorpus:
    """Token lists of the three splits (``<eos>`` after every line) and where they came from."""

    train: list[str]
    valid: list[str]
    test: list[str]
    sources: dict[str, str]

    def split(self, name: str) -> list[str]:
        return {"train": self.train, "valid": self.valid, "val": self.valid, "test": self.test}[name]


def line_tokens(lines: list[str]) -> list[str]:
    """``words + ["<eos>"]`` for every line."""
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def read_lines(path: Path, key: str) -> list[str]:
    with utf8_or_error(path, key):
        return path.read_text(encoding="utf-8").splitlines()


def _find(folder: Path, split: str) -> Path:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    for word in _NAMES[split]:
        for file in files:
            if word in file.name.lower():
                return file
    raise DataError(
        f"task.data.path: {folder} has no {split} file (a file whose name contains "
        f"{' or '.join(repr(w) for w in _NAMES[split])}; found: {', '.join(f.name for f in files) or 'nothing'})"
    )


def load_word_corpus(
    corpus: str, path: str | None = None, val_fraction: float = 0.05, test_fraction: float = 0.05
) -> WordCorpus:
    """The corpus ``path`` names (a folder or a file), else the named public ``corpus``."""
    if path:
        given = Path(path).expanduser()
        if given.is_dir():
            files = {split: _find(given, split) for split in SPLITS}
        elif given.is_file():
            file = locate("", explicit=given, key="task.data.path")
            lines = read_lines(file, "task.data.path")
            n_train, n_val, _ = split_sizes(len(lines), val_fraction, test_fraction)
            if min(n_train, n_val, len(lines) - n_train - n_val) < 1:
                raise DataError(f"task.data.path: {file} has {len(lines)} lines, too few to split in three")
            parts = (lines[:n_train], lines[n_train : n_train + n_val], lines[n_train + n_val :])
            return WordCorpus(*(line_tokens(p) for p in parts), sources={s: str(file) for s in SPLITS})
        else:
            raise DataError(f"task.data.path: no such file or folder: {given}")
    else:
        if corpus not in CORPORA:
            raise ConfigError("task.data.corpus", f"unknown corpus '{corpus}'", allowed=sorted(CORPORA))
        files = {
            split: locate(relative, remote=remote, key="task.data.path")
            for split, (relative, remote) in CORPORA[corpus].items()
        }
    tokens = {split: line_tokens(read_lines(file, "task.data.path")) for split, file in files.items()}
    for split, toks in tokens.items():
        if all(t == EOS for t in toks):
            raise DataError(f"task.data.path: {files[split]} holds no words")
    return WordCorpus(tokens["train"], tokens["valid"], tokens["test"], {s: str(f) for s, f in files.items()})
