"""Every ``pytorch_lightning.Trainer`` argument as a config key (``trainer.<name>``), with Lightning's defaults.

seqlab builds the logger, the callbacks and the run folder itself, so those arguments are not config keys.

The arguments are read from Lightning's source with :mod:`ast` rather than by importing it: importing
pytorch_lightning takes seconds, and every command line (a typo, ``--help``) composes this node before anything
else. When the source cannot be read, the class's signature is used instead (one import).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

MANAGED = frozenset({"self", "logger", "callbacks", "plugins", "default_root_dir", "enable_checkpointing"})
_PLAIN = (int, float, str, bool, type(None))
_NOT_PLAIN = object()  # a default that is no plain literal (a class, a call): the config key defaults to null


@cache
def trainer_defaults() -> dict[str, Any]:
    """name -> default of each Trainer argument a config may set."""
    try:
        return config_keys(_params_from_source())
    except Exception:  # no readable source (a zipped or compiled-only install): ask the class itself
        return config_keys(_params_from_signature())


def config_keys(params: Iterable[tuple[str, bool, Any]]) -> dict[str, Any]:
    """The config keys among (name, keyword-only, default) parameters: plain defaults kept, others ``None``."""
    return {
        name: default if isinstance(default, _PLAIN) else None
        for name, keyword_only, default in params
        if name not in MANAGED and (keyword_only or not name.startswith("_"))
    }


def _params_from_signature() -> Iterator[tuple[str, bool, Any]]:
    """(name, keyword-only, default) of each ``Trainer.__init__`` parameter, from the imported class."""
    import pytorch_lightning as pl

    for name, param in inspect.signature(pl.Trainer.__init__).parameters.items():
        yield name, param.kind is inspect.Parameter.KEYWORD_ONLY, param.default


def _params_from_source() -> Iterator[tuple[str, bool, Any]]:
    """The same as :func:`_params_from_signature`, parsed from ``pytorch_lightning/trainer/trainer.py``."""
    spec = importlib.util.find_spec("pytorch_lightning")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pytorch_lightning is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "trainer" / "trainer.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    init = next(
        node
        for cls in tree.body
        if isinstance(cls, ast.ClassDef) and cls.name == "Trainer"
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and node.name == "__init__"
    )
    args = init.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [_NOT_PLAIN] * (len(positional) - len(args.defaults)) + [_literal(d) for d in args.defaults]
    yield from ((a.arg, False, d) for a, d in zip(positional, defaults, strict=True))
    if args.vararg:
        yield args.vararg.arg, False, _NOT_PLAIN
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        yield a.arg, True, _NOT_PLAIN if d is None else _literal(d)
    if args.kwarg:
        yield args.kwarg.arg, False, _NOT_PLAIN


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return _NOT_PLAIN
