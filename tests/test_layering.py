"""The layering of seqlab's packages, checked on every import statement (top-level and inside functions):
models import neither tasks nor training; training imports no task; data imports no model, task or training code;
the search module imports no task; the config layer imports no task or training code; a task never imports
another task."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seqlab"

FORBIDDEN = {
    "seqlab.models": ("seqlab.tasks", "seqlab.training", "seqlab.run", "seqlab.cli"),
    "seqlab.training": ("seqlab.tasks",),
    "seqlab.data": ("seqlab.models", "seqlab.tasks", "seqlab.training"),
    "seqlab.generation": ("seqlab.tasks", "seqlab.training"),
    "seqlab.config": ("seqlab.tasks", "seqlab.training"),
    "seqlab.vectors": ("seqlab.tasks", "seqlab.models", "seqlab.training"),
    "seqlab.metrics": ("seqlab.tasks", "seqlab.models", "seqlab.training", "seqlab.run", "seqlab.cli"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = module_name(path).split(".")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + (1 if path.name == "__init__.py" else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "conf" not in p.relative_to(PACKAGE).parts)


def violations() -> list[str]:
    out = []
    for path in sources():
        name = module_name(path)
        for layer, banned in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                out += [
                    f"{name}:{line} imports {mod}"
                    for line, mod in imports(path)
                    if any(mod == b or mod.startswith(b + ".") for b in banned)
                ]
        if name.startswith("seqlab.tasks.") and name.count(".") >= 3:  # seqlab.tasks.<task>.<module>
            task = name.split(".")[2]
            for line, mod in imports(path):
                parts = mod.split(".")
                if mod.startswith("seqlab.tasks.") and len(parts) >= 4 and parts[2] != task:
                    out.append(f"{name}:{line} imports another task: {mod}")
    return out


def test_the_packages_keep_their_layers():
    assert violations() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from seqlab.tasks.base import Task\n", "imports seqlab.tasks.base"),
        ("def f():\n    import seqlab.training.tbptt\n", "imports seqlab.training.tbptt"),
    ],
)
def test_the_check_finds_a_forbidden_import(tmp_path, monkeypatch, source, expected):
    """The checker itself: a models module importing a task (or training, inside a function) is reported."""
    fake = tmp_path / "seqlab"
    (fake / "models").mkdir(parents=True)
    (fake / "models" / "bad.py").write_text(source)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    (found,) = violations()
    assert found.startswith("seqlab.models.bad:") and expected in found
