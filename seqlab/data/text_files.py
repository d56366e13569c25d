"""Reading a user's text files: anything that is not UTF-8 is one line naming the key, the file and the byte."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seqlab.errors import DataError


@contextmanager
def utf8_or_error(path: Path, key: str) -> Iterator[None]:
    """Turn a UnicodeDecodeError raised while reading ``path`` into a DataError for ``key``."""
    try:
        yield
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start : exc.start + 1].hex()
        raise DataError(
            f"{key}: {path} is not UTF-8 text (byte 0x{byte}: {exc.reason}); convert it first, "
            f"e.g. iconv -f latin1 -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}"
        ) from None
