"""Caption images with a trained captioning model.

``python -m seqlab.caption ckpt_path=RUN image=photo.png [image=more.png ...] [beam_size=5] [attention_plot=out.png]``

Prints one caption per image (``image=`` may repeat, or name several files separated by commas). ``method``,
``beam_size``, ``alpha``, ``temperature`` override the checkpoint's ``task.decode`` (checked as training checks them:
seqlab/generation/checks.py). ``attention_plot=PATH`` draws each image with its caption and, for a model with soft
attention, the attention of every word over the image; the path is checked before anything is read. An unreadable
image is one line naming the file; nothing is written then.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from seqlab.cli.args import parse_key_values
from seqlab.cli.tool import DECODE_KEYS, load_offering, one_line_errors
from seqlab.errors import ConfigError

SPEC = {
    "ckpt_path": (str, ...),
    "image": (str, ...),
    **DECODE_KEYS,
    "attention_plot": (str, None),
    "device": (str, "cpu"),
}


def caption(
    ckpt_path: str,
    image: str,
    method: str | None = None,
    beam_size: int | None = None,
    alpha: float | None = None,
    temperature: float | None = None,
    attention_plot: str | None = None,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """The captions (``{"text", "tokens", "score", "attention"}``) of the images, in order:
    ``seqlab.load(ckpt_path).caption(...)`` (seqlab/tasks/caption/inference.py)."""
    from seqlab.output_paths import check_output_file
    from seqlab.tasks.caption.config import DECODE_METHODS
    from seqlab.tasks.inference import decode_overrides

    decode_overrides(DECODE_METHODS, method, beam_size, alpha, temperature)  # checked before anything loads
    if attention_plot:
        check_output_file("attention_plot", attention_plot)
    paths = [Path(p.strip()) for p in image.split(",") if p.strip()]
    if not paths:
        raise ConfigError("image", "names no file")
    run = load_offering(ckpt_path, device, "caption", "a '{task}' checkpoint does not caption images")
    return run.caption(
        paths, method=method, beam_size=beam_size, alpha=alpha, temperature=temperature, attention_plot=attention_plot
    )


def main(argv: list[str] | None = None) -> None:
    args_in = sys.argv[1:] if argv is None else argv
    images = [a.split("=", 1)[1] for a in args_in if a.startswith("image=")]
    rest = [a for a in args_in if not a.startswith("image=")]
    with one_line_errors("caption"):
        args = parse_key_values([*rest, f"image={','.join(images)}"] if images else rest, SPEC, doc=__doc__)
        results = caption(**args)
    for result in results:
        print(result["text"], flush=True)


if __name__ == "__main__":
    main()
