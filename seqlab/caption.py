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

from seqlab.cli_args import parse_key_values
from seqlab.errors import ConfigError, SeqlabError

SPEC = {
    "ckpt_path": (str, ...),
    "image": (str, ...),
    "method": (str, None),
    "beam_size": (int, None),
    "alpha": (float, None),
    "temperature": (float, None),
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
    """The captions (``{"text", "tokens", "score", "attention"}``) of the images, in order."""
    import torch

    from seqlab.checkpoint import load_module
    from seqlab.generation.checks import check_decode
    from seqlab.output_paths import check_output_file, writing
    from seqlab.tasks.caption.plots import plot_captions
    from seqlab.tasks.caption.sources import read_image

    overrides = {
        k: v
        for k, v in (("method", method), ("beam_size", beam_size), ("alpha", alpha), ("temperature", temperature))
        if v is not None
    }
    check_decode(overrides)
    plot_path = check_output_file("attention_plot", attention_plot) if attention_plot else None
    paths = [Path(p.strip()) for p in image.split(",") if p.strip()]
    if not paths:
        raise ConfigError("image", "names no file")
    module = load_module(ckpt_path, map_location=device)
    if module.cfg.task.name != "caption":
        raise ConfigError("ckpt_path", f"a '{module.cfg.task.name}' checkpoint does not caption images")
    if module.task.data.source == "features":
        raise ConfigError("image", "this model reads precomputed features, not images")
    images = torch.stack([read_image(p, module.task.data.image_size, key="image") for p in paths])
    if beam_size is not None and method is None:
        overrides["method"] = "beam"
    results = module.caption(images, **overrides)
    if plot_path is not None:
        grid = module.image_encoder.grid_shape_for(tuple(images[0].shape)) if module.soft else None
        with writing("attention_plot", plot_path):
            plot_captions(
                list(images),
                [r["text"] for r in results],
                [r["tokens"] for r in results],
                [r["attention"] for r in results],
                grid,
                plot_path,
            )
    return results


def main(argv: list[str] | None = None) -> None:
    args_in = sys.argv[1:] if argv is None else argv
    images = [a.split("=", 1)[1] for a in args_in if a.startswith("image=")]
    rest = [a for a in args_in if not a.startswith("image=")]
    try:
        args = parse_key_values([*rest, f"image={','.join(images)}"] if images else rest, SPEC)
        results = caption(**args)
    except SeqlabError as exc:
        print(f"seqlab.caption: error: {exc}", file=sys.stderr)
        sys.exit(2)
    for result in results:
        print(result["text"], flush=True)


if __name__ == "__main__":
    main()
