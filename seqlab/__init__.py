"""seqlab: an experiment framework for recurrent sequence models on PyTorch Lightning and Hydra.

From Python: ``seqlab.train("model=lstm", "task=charlm")`` runs a job in this process and returns its Result;
``seqlab.load(run_dir_or_ckpt)`` returns a trained run with its task's inference methods (seqlab/session/).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Result", "load", "train"]


def __getattr__(name: str) -> Any:  # lazy: `import seqlab` and `python -m seqlab --help` stay free of torch
    if name in __all__:
        from seqlab import session

        return getattr(session, name)
    raise AttributeError(f"module 'seqlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
