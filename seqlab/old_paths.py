"""The import paths seqlab 0.1's docs showed plugin authors, kept for one release (until seqlab 0.3).

Now a plugin imports only ``seqlab.api`` (plugin API 1.0) and ``seqlab.testing``; the modules the 0.1 docs named
(``seqlab.models.base``, ``seqlab.tasks.base``, ``seqlab.training.tbptt``, ...) are internal. They stay where
they are and seqlab itself keeps importing them, so they cannot warn on import (a module runs once, for whoever
imports it first). Instead each such module calls :func:`keep_old_paths` with the names the docs showed: reading one
of those names from the module (``from seqlab.models.base import State``, or ``base.State``) raises a
``DeprecationWarning`` naming the new import, when the reading code is outside seqlab: its module's ``__name__`` is
not ``seqlab`` or ``seqlab.*`` (for ``python -m seqlab.x``, its ``__spec__`` name), nor one of the libraries in
``_INTERNAL`` that read attributes for others (``importlib``, ``pickle``, ...), and its file is not in the ``tests``
or ``benchmarks`` folder of seqlab's checkout. seqlab's own code never sees a warning; other names of the module
never warn.

The check is one attribute hook on the module object (its ``__class__`` becomes :class:`_OldPathsModule`); the
module's own code reads its globals directly, and nothing else changes.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType

REMOVED_IN = "0.3"
# callers that never warn (prefixes of their module's __name__): seqlab itself, and the libraries that read module
# attributes on someone else's behalf (imports, pickling, introspection, monkeypatching, the frameworks seqlab drives)
_INTERNAL = (
    "seqlab",
    "hydra_plugins.seqlab_searchpath",
    "hydra_plugins.seqlab_sweeper",
    "importlib",
    "pickle",
    "copyreg",
    "copy",
    "inspect",
    "typing",
    "dataclasses",
    "pydoc",
    "doctest",
    "unittest.mock",
    "_pytest",
    "multiprocessing",
    "torch",
    "lightning",
    "lightning_fabric",
    "pytorch_lightning",
    "hydra",
    "omegaconf",
)
# seqlab's own tests and benchmarks beside the package (a checkout): they test the internals, so they never warn
_OWN_FOLDERS = tuple(os.path.join(os.path.dirname(os.path.dirname(__file__)), d, "") for d in ("tests", "benchmarks"))
_MOVED: dict[str, dict[str, str]] = {}  # module -> {name: its new home}


def _outside_seqlab(frame_depth: int) -> bool:
    """Whether the code ``frame_depth`` frames up is outside seqlab (judged by its module's ``__name__``)."""
    try:
        frame = sys._getframe(frame_depth)
    except ValueError:  # no such frame: called from C at the bottom of the stack
        return False
    caller = str(frame.f_globals.get("__name__", ""))
    spec = frame.f_globals.get("__spec__")
    if caller == "__main__" and spec is not None:  # python -m seqlab.translate: judged by its real name
        caller = str(getattr(spec, "name", caller))
    if any(caller == p or caller.startswith(p + ".") for p in _INTERNAL):
        return False
    return not os.path.abspath(frame.f_code.co_filename).startswith(_OWN_FOLDERS)


class _OldPathsModule(ModuleType):
    """A module whose 0.1 plugin names warn when code outside seqlab reads them."""

    def __getattribute__(self, name: str) -> object:
        value = super().__getattribute__(name)
        if name.startswith("_"):
            return value
        moved = _MOVED.get(super().__getattribute__("__name__"))
        if moved is not None and name in moved and _outside_seqlab(2):
            module = super().__getattribute__("__name__")
            warnings.warn(
                f"{module}.{name} is an internal path (seqlab 0.1's docs showed it) and goes away in seqlab "
                f"{REMOVED_IN}: use `from {moved[name]} import {name}`",
                DeprecationWarning,
                stacklevel=2,
            )
        return value


def keep_old_paths(module: str, names: tuple[str, ...], new_home: str = "seqlab.api") -> None:
    """Make ``names`` of the (already imported) ``module`` warn when read from outside seqlab (see above)."""
    target = sys.modules[module]
    if type(target) is ModuleType:
        target.__class__ = _OldPathsModule
    _MOVED.setdefault(module, {}).update(dict.fromkeys(names, new_home))
