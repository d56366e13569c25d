"""The ``seqlab`` command: ``python -m seqlab`` and the ``seqlab`` script run :func:`seqlab.cli.command.main`
(check the command line, compose with Hydra, run the job); ``args.py`` parses the ``key=value`` arguments of the
other commands and ``tool.py`` holds what those tools share. ``seqlab.cli.main`` and ``seqlab.cli.launch`` name the
same functions, imported when first read, so ``import seqlab.cli.args`` stays free of Hydra."""

from typing import Any

__all__ = ["launch", "main"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from seqlab.cli import command

        return getattr(command, name)
    raise AttributeError(f"module 'seqlab.cli' has no attribute {name!r}")
