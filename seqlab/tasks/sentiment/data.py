"""Sentiment data: read (text, label) rows, map labels to ids, split, encode, and batch by length.

Sources (``task.data.source``):
- ``imdb``: ``$SEQLAB_DATA_DIR/imdb/{train,test}.csv.gz`` (columns text,label; 0, 1 become negative, positive).
- ``uci``: the UCI sentiment-labelled sentences (``sentence<TAB>0/1``, no header); all three files, or the one
  ``task.data.path`` names. There is no test file, so ``test_fraction`` of the rows is held out.
- ``csv``: a user's CSV/TSV (``path``, optional ``test_path``), columns ``text_column`` / ``label_column``.

Validation rows are carved from train with ``split_seed``; the vocabulary is built on what is left (train only).
Batches are padded per batch; training batches come from length buckets (similar lengths together, less padding),
evaluation batches are sorted by length. The model packs them, so padding never reaches the recurrent state.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
import sys
from pathlib import Path

import torch

from seqlab.data.batching import LabelledSequences
from seqlab.data.locate import locate
from seqlab.data.text_files import utf8_or_error
from seqlab.data.tokenize import tokenize
from seqlab.data.vocab import Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.sentiment.sources import SOURCES
from seqlab.training.ddp import BucketedSplits

UCI_FILES = ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt")
POLARITY = {"0": "negative", "1": "positive"}  # imdb and uci label names
Rows = list[tuple[str, str]]


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_table(path: Path, text_column: str, label_column: str, delimiter: str | None, header: bool) -> Rows:
    """(text, label) pairs of a CSV/TSV file; with ``header=false`` the columns are 0-based indices."""
    if delimiter is None:
        name = path.name.removesuffix(".gz")
        delimiter = "\t" if name.endswith((".tsv", ".txt")) else ","
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    rows: Rows = []
    with _open_text(path) as fh, utf8_or_error(path, "task.data.path"):
        reader = csv.reader(fh, delimiter=delimiter, quoting=quoting)
        if header:
            names = next(reader, None) or []
            for key, column in (("task.data.text_column", text_column), ("task.data.label_column", label_column)):
                if column not in names:
                    raise ConfigError(key, f"no column '{column}' in {path}", allowed=names)
            ti, li = names.index(text_column), names.index(label_column)
        else:
            try:
                ti, li = int(text_column), int(label_column)
            except ValueError:
                raise ConfigError(
                    "task.data.text_column",
                    f"without a header, columns are 0-based numbers (got '{text_column}', '{label_column}')",
                ) from None
        for number, row in enumerate(reader, start=2 if header else 1):
            if not row:
                continue
            if len(row) <= max(ti, li):
                raise DataError(
                    f"{path}: line {number} has {len(row)} fields, expected more than {max(ti, li)} "
                    f"(delimiter {delimiter!r})"
                )
            label = row[li].strip()
            if not label:
                raise DataError(f"task.data.path: {path}: line {number} has an empty label (column {label_column!r})")
            rows.append((row[ti], label))
    if not rows:
        raise DataError(f"task.data.path: no rows in {path}")
    return rows


def read_uci(path: Path) -> Rows:
    """``sentence<TAB>label`` lines (the sentence itself may hold quotes, so no CSV parsing)."""
    rows: Rows = []
    with open(path, encoding="utf-8", errors="replace", newline="\n") as fh:
        for number, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            text, sep, label = line.rpartition("\t")
            if not sep:
                raise DataError(f"{path}: line {number} has no tab (expected 'sentence<TAB>label')")
            rows.append((text.strip(), label.strip()))
    return rows


def read_source(data) -> tuple[Rows, Rows | None]:
    """Train rows and test rows (``None`` when the source has no test file)."""
    if data.source == "imdb":
        train = locate("imdb/train.csv.gz", explicit=data.path, key="task.data.path")
        test = locate("imdb/test.csv.gz", explicit=data.test_path, key="task.data.test_path")
        return (
            _polarity(read_table(train, "text", "label", ",", True)),
            _polarity(read_table(test, "text", "label", ",", True)),
        )
    if data.source == "uci":
        if data.path:
            files = [locate("", explicit=data.path, key="task.data.path")]
        else:
            files = [locate(f"sentiment-labelled-sentences/{name}", key="task.data.path") for name in UCI_FILES]
        return _polarity([row for f in files for row in read_uci(f)]), None
    if data.source == "csv":
        if not data.path:
            raise ConfigError("task.data.path", "source=csv needs the path of a CSV/TSV file")
        args = (data.text_column, data.label_column, data.delimiter, data.header)
        train = read_table(locate("", explicit=data.path, key="task.data.path"), *args)
        test = (
            read_table(locate("", explicit=data.test_path, key="task.data.test_path"), *args)
            if data.test_path
            else None
        )
        return train, test
    raise ConfigError("task.data.source", f"unknown source '{data.source}'", allowed=SOURCES)


def _polarity(rows: Rows) -> Rows:
    return [(text, POLARITY.get(label, label)) for text, label in rows]


def label_classes(labels: list[str]) -> list[str]:
    """Sorted distinct labels (numerically when every label is an integer): class id = position."""
    distinct = set(labels)
    if all(_is_int(v) for v in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def _is_int(value: str) -> bool:
    try:
        int(value)
        return True
    except ValueError:
        return False


def split_rows(rows: Rows, fraction: float, seed: int, key: str) -> tuple[Rows, Rows]:
    """(rest, held-out): a seeded random ``fraction`` of ``rows`` is held out."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(key, f"must be in (0, 1), got {fraction}")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_out = max(1, int(len(rows) * fraction))
    held = set(order[:n_out])
    if len(held) >= len(rows):
        raise DataError(f"{key}: {len(rows)} rows are too few to hold out {fraction}")
    return [r for i, r in enumerate(rows) if i not in held], [rows[i] for i in sorted(held)]


def subsample(rows: Rows, limit: int | None, seed: int) -> Rows:
    """At most ``limit`` rows, chosen at random (IMDB files are sorted by label)."""
    if limit is None or limit >= len(rows):
        return rows
    index = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in index]


def encode_ids(tokens: list[str], vocab: Vocab, max_len: int, truncate: str) -> torch.Tensor:
    """Ids of at most ``max_len`` tokens (the first ones for ``head``, the last ones for ``tail``); never empty."""
    tokens = tokens[:max_len] if truncate == "head" else tokens[-max_len:]
    return vocab.encode(tokens) if tokens else torch.tensor([vocab.unk_id])


class SentimentDataModule(BucketedSplits):
    """Reads, splits and encodes once (:meth:`prepare`, before the model is built), then serves loaders.

    Its batch sampler shards by rank itself (``shards_itself``), so the run turns off Lightning's
    ``use_distributed_sampler``, which cannot wrap a custom batch sampler."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab: Vocab | None = None
        self.classes: list[str] = []
        self.splits: dict[str, LabelledSequences] = {}

    def prepare(self) -> tuple[Vocab, list[str]]:
        """The vocabulary (train split only) and the class labels."""
        if self.vocab is not None:
            return self.vocab, self.classes
        data, seed = self.cfg.data, self.cfg.data.split_seed
        train, test = read_source(data)
        train = subsample(train, data.max_examples, seed)
        if test is None:
            train, test = split_rows(train, data.test_fraction, seed + 1, "task.data.test_fraction")
        else:
            test = subsample(test, data.max_examples, seed)
        train, val = split_rows(train, data.val_fraction, seed, "task.data.val_fraction")
        self.classes = label_classes([label for _, label in train])
        if len(self.classes) < 2:
            raise DataError(
                f"task.data.label_column: training rows have {len(self.classes)} distinct label(s); "
                "a classifier needs at least 2"
            )
        index = {c: i for i, c in enumerate(self.classes)}
        for name, rows in (("validation", val), ("test", test)):
            unseen = sorted({label for _, label in rows} - set(index))
            if unseen:
                raise DataError(f"task.data: {name} rows have labels never seen in train: {unseen[:5]}")
        lower = self.cfg.lowercase
        tokens = {
            name: [tokenize(text, lower) for text, _ in rows]
            for name, rows in (("train", train), ("val", val), ("test", test))
        }
        self.vocab = Vocab.build(tokens["train"], self.cfg.vocab.max_size, self.cfg.vocab.min_freq)
        for name, rows in (("train", train), ("val", val), ("test", test)):
            ids = [encode_ids(t, self.vocab, self.cfg.max_len, self.cfg.truncate) for t in tokens[name]]
            self.splits[name] = LabelledSequences(ids, torch.tensor([index[label] for _, label in rows]))
        return self.vocab, self.classes
