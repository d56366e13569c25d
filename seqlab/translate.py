"""Translate sentences with a trained translation model, or an ensemble of several.

``python -m seqlab.translate ckpt_path=RUN_OR_CKPT[,RUN2,...] text="je suis content ."``
``python -m seqlab.translate ckpt_path=outputs/run1 input=sentences.txt beam_size=1 attention_plot=att.png``

Prints one translation per input sentence (``text=`` one sentence, ``input=`` a UTF-8 file with one sentence a
line). Several checkpoints separated by commas decode as one ensemble (their log-probabilities averaged at each step,
Sutskever et al. 2014); they must share vocabularies. ``method``, ``beam_size``, ``alpha`` and ``temperature``
override the checkpoint's ``task.decode`` (checked as training checks them: seqlab/generation/checks.py). Words outside
the source vocabulary are read as ``<unk>`` and listed in a note on stderr. ``attention_plot=PATH`` draws the
attention of the (first few) sentences; the path is checked before anything is read or decoded. A sentence of more
than ``max_source_tokens`` (250) tokens is refused in one line naming its line (decoding time grows with the square of
its length): split it into sentences, one a line. An input of several batches prints its progress on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqlab.cli.args import parse_key_values
from seqlab.cli.tool import DECODE_KEYS, load_offering, one_line_errors
from seqlab.errors import ConfigError

SPEC = {
    "ckpt_path": (str, ...),
    "text": (str, None),
    "input": (str, None),
    **DECODE_KEYS,
    "attention_plot": (str, None),
    "max_source_tokens": (int, 250),
    "device": (str, "cpu"),
}


def read_sentences(text: str | None, input_path: str | None) -> list[str]:
    if (text is None) == (input_path is None):
        raise ConfigError("text", "give exactly one of text=SENTENCE or input=FILE")
    if text is not None:
        return [text]
    path = Path(input_path)
    if not path.is_file():
        raise ConfigError("input", f"no such file: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigError("input", f"{path} is not UTF-8 (byte {exc.start})") from None
    sentences = [line for line in lines if line.strip()]
    if not sentences:
        raise ConfigError("input", f"{path} holds no sentence")
    return sentences


def translate(
    ckpt_path: str,
    text: str | None = None,
    input: str | None = None,  # noqa: A002 - the command line's key
    method: str | None = None,
    beam_size: int | None = None,
    alpha: float | None = None,
    temperature: float | None = None,
    attention_plot: str | None = None,
    max_source_tokens: int = 250,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """The translations (``seqlab.tasks.translate.decode.Translation``) of the sentences, in order:
    ``seqlab.load(first).translate(..., ensemble=rest)`` (seqlab/tasks/translate/inference.py). Every value and the
    plot's path are checked before a checkpoint is read; a sentence of more than ``max_source_tokens`` tokens is
    refused before any is decoded. ``progress(done, total)`` is called after each decoded batch."""
    from seqlab.tasks.translate.inference import check_request

    sentences = read_sentences(text, input)
    check_request(method, beam_size, alpha, temperature, attention_plot, max_source_tokens)  # before anything loads
    paths = [p.strip() for p in ckpt_path.split(",") if p.strip()]
    if not paths:
        raise ConfigError("ckpt_path", "names no checkpoint")
    run = load_offering(paths[0], device, "translate", "a '{task}' checkpoint does not translate")
    return run.translate(
        sentences,
        method=method,
        beam_size=beam_size,
        alpha=alpha,
        temperature=temperature,
        ensemble=paths[1:],
        attention_plot=attention_plot,
        max_source_tokens=max_source_tokens,
        progress=progress,
    )


def stderr_progress() -> Callable[[int, int], None]:
    """A ``progress(done, total)`` that prints one stderr line per decoded batch when the input spans several."""
    shown = False

    def show(done: int, total: int) -> None:
        nonlocal shown
        if done < total or shown:
            shown = True
            print(f"seqlab.translate: translated {done} of {total} sentences", file=sys.stderr, flush=True)

    return show


def main(argv: list[str] | None = None) -> None:
    with one_line_errors("translate"):
        args = parse_key_values(sys.argv[1:] if argv is None else argv, SPEC, doc=__doc__)
        results = translate(**args, progress=stderr_progress())
    for result in results:
        if result.unknown:
            words = ", ".join(sorted(set(result.unknown)))
            print(f"seqlab.translate: note: not in the source vocabulary, read as <unk>: {words}", file=sys.stderr)
        print(result.text, flush=True)
    if args.get("attention_plot"):
        print(f"seqlab.translate: attention: {args['attention_plot']}", file=sys.stderr)


if __name__ == "__main__":
    main()
