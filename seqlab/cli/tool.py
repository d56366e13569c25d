"""What the small tools on a trained run share (``python -m seqlab.generate``, ``predict``, ``embeddings``,
``translate``, ``caption``, ``evaluate``): one ``seqlab.<tool>: error: ...`` line and exit 2 for a SeqlabError, the
checkpoint refused in one line when its task does not offer the tool's method, and the decoding keys a decoding
tool takes. Nothing heavy is imported until a checkpoint is loaded."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from seqlab.errors import ConfigError, SeqlabError

# the keys of ``task.decode`` a decoding tool (translate, caption) replaces; checked by
# seqlab.tasks.inference.decode_overrides
DECODE_KEYS: dict[str, tuple[type, Any]] = {
    "method": (str, None),
    "beam_size": (int, None),
    "alpha": (float, None),
    "temperature": (float, None),
}


@contextmanager
def one_line_errors(tool: str) -> Iterator[None]:
    """A SeqlabError raised inside ends the process: ``seqlab.<tool>: error: <key>: ...`` on stderr, exit 2."""
    try:
        yield
    except SeqlabError as exc:
        print(f"seqlab.{tool}: error: {exc}", file=sys.stderr)
        sys.exit(2)


def load_offering(ckpt_path: str, device: str, method: str, refusal: str) -> Any:
    """``seqlab.load(ckpt_path)`` when its task offers ``method``; otherwise ConfigError on ``ckpt_path`` saying
    ``refusal`` (``{task}`` stands for the run's task)."""
    from seqlab.session import load

    run = load(ckpt_path, device=device)
    if method not in run.offers:
        raise ConfigError("ckpt_path", refusal.format(task=run.task))
    return run
