"""Translate sentences with a trained translation model, or an ensemble of several.

``python -m seqlab.translate ckpt_path=RUN_OR_CKPT[,RUN2,...] text="je suis content ."``
``python -m seqlab.translate ckpt_path=outputs/run1 input=sentences.txt beam_size=1 attention_plot=att.png``

Prints one translation per input sentence (``text=`` one sentence, ``input=`` a UTF-8 file with one sentence a
line). Several checkpoints separated by commas decode as one ensemble (their log-probabilities averaged at each step,
Sutskever et al. 2014); they must share vocabularies. ``method``, ``beam_size``, ``alpha`` and ``temperature``
override the checkpoint's ``task.decode``. Words outside the source vocabulary are read as ``<unk>`` and listed in a
note on stderr. ``attention_plot=PATH`` draws the attention of the (first few) sentences.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from seqlab.cli_args import parse_key_values
from seqlab.errors import ConfigError, SeqlabError

SPEC = {
    "ckpt_path": (str, ...),
    "text": (str, None),
    "input": (str, None),
    "method": (str, None),
    "beam_size": (int, None),
    "alpha": (float, None),
    "temperature": (float, None),
    "attention_plot": (str, None),
    "device": (str, "cpu"),
}
MAX_PLOTTED = 6


def load_members(ckpt_paths: str, device: str = "cpu") -> list[Any]:
    """The translation modules of a comma-separated list of checkpoints or run folders."""
    from seqlab.checkpoint import load_module
    from seqlab.tasks.translate.decode import check_members

    members = [load_module(p.strip(), map_location=device) for p in ckpt_paths.split(",") if p.strip()]
    if not members:
        raise ConfigError("ckpt_path", "names no checkpoint")
    for member in members:
        if member.cfg.task.name != "translate":
            raise ConfigError("ckpt_path", f"a '{member.cfg.task.name}' checkpoint does not translate")
    check_members(members)
    return members


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
    device: str = "cpu",
) -> list[Any]:
    """The translations (``seqlab.tasks.translate.decode.Translation``) of the sentences, in order."""
    from seqlab.tasks.translate.config import DECODE_METHODS
    from seqlab.tasks.translate.decode import translations

    sentences = read_sentences(text, input)
    if method is not None and method not in DECODE_METHODS:
        raise ConfigError("method", f"unknown method '{method}'", allowed=DECODE_METHODS)
    if beam_size is not None and beam_size < 1:
        raise ConfigError("beam_size", f"must be >= 1, got {beam_size}")
    if alpha is not None and alpha < 0:
        raise ConfigError("alpha", f"must be >= 0, got {alpha}")
    members = load_members(ckpt_path, device)
    overrides = {
        k: v
        for k, v in (("method", method), ("beam_size", beam_size), ("alpha", alpha), ("temperature", temperature))
        if v is not None
    }
    if beam_size is not None and method is None:
        overrides["method"] = "beam"
    results = translations(members, sentences, **overrides)
    if attention_plot:
        from seqlab.tasks.translate.attention_plot import plot_attention

        maps = [m for m in (r.attention_map() for r in results[:MAX_PLOTTED]) if m is not None]
        if not maps:
            raise ConfigError("attention_plot", "this model has no attention (task.decoder.attention=none)")
        plot_attention(maps, Path(attention_plot), title=f"{len(members)} model(s)")
    return results


def main(argv: list[str] | None = None) -> None:
    try:
        args = parse_key_values(sys.argv[1:] if argv is None else argv, SPEC)
        results = translate(**args)
    except SeqlabError as exc:
        print(f"seqlab.translate: error: {exc}", file=sys.stderr)
        sys.exit(2)
    for result in results:
        if result.unknown:
            words = ", ".join(sorted(set(result.unknown)))
            print(f"seqlab.translate: note: not in the source vocabulary, read as <unk>: {words}", file=sys.stderr)
        print(result.text, flush=True)
    if args.get("attention_plot"):
        print(f"seqlab.translate: attention: {args['attention_plot']}", file=sys.stderr)


if __name__ == "__main__":
    main()
