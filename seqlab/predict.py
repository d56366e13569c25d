"""Classify texts with a trained classifier (e.g. ``task=sentiment``).

``python -m seqlab.predict ckpt_path=PATH "some text" [device=cpu]``

Prints ``LABEL<TAB>PROBABILITY`` (the most likely class and its softmax probability). ``ckpt_path`` may be a run
folder (its last checkpoint); the vocabulary and label names come from the checkpoint itself.
"""

from __future__ import annotations

import sys

from seqlab.cli.args import parse_key_values
from seqlab.cli.tool import load_offering, one_line_errors

SPEC = {
    "ckpt_path": (str, ...),
    "text": (str, ...),
    "device": (str, "cpu"),
}


def predict(ckpt_path: str, texts: list[str], device: str = "cpu") -> list[tuple[str, float]]:
    """``(label, probability)`` for each text."""
    return load_offering(ckpt_path, device, "predict", "task '{task}' does not classify texts").predict(texts)


def main(argv: list[str] | None = None) -> None:
    with one_line_errors("predict"):
        args = parse_key_values(sys.argv[1:] if argv is None else argv, SPEC, positional="text", doc=__doc__)
        for label, prob in predict(args["ckpt_path"], [args["text"]], args["device"]):
            print(f"{label}\t{prob:.4f}")


if __name__ == "__main__":
    main()
