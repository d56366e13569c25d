"""Generate text from a trained language model.

``python -m seqlab.generate ckpt_path=PATH prompt="ROMEO:" length=500 temperature=0.8 seed=1``

Prints the prompt followed by ``length`` sampled tokens; the same seed gives the same text; ``temperature=0`` is
greedy. ``ckpt_path`` may be a run folder (its last checkpoint). ``seed=N`` draws from its own stream,
``derive_seed(N, "generate")``, so it never repeats the run's N-th validation sample (drawn with seed N).
"""

from __future__ import annotations

import sys

from seqlab.cli.args import parse_key_values
from seqlab.cli.tool import load_offering, one_line_errors

SPEC = {
    "ckpt_path": (str, ...),
    "prompt": (str, "\n"),
    "length": (int, 500),
    "temperature": (float, 1.0),
    "seed": (int, 0),
    "device": (str, "cpu"),
}


def generate(
    ckpt_path: str, prompt: str = "\n", length: int = 500, temperature: float = 1.0, seed: int = 0, device: str = "cpu"
) -> str:
    """``seqlab.load(ckpt_path).generate(...)`` with the tool's errors (seqlab/tasks/inference.py)."""
    run = load_offering(ckpt_path, device, "generate", "task '{task}' does not generate text")
    return run.generate(prompt, length, temperature, seed)


def main(argv: list[str] | None = None) -> None:
    with one_line_errors("generate"):
        args = parse_key_values(sys.argv[1:] if argv is None else argv, SPEC, doc=__doc__)
        print(generate(**args))


if __name__ == "__main__":
    main()
