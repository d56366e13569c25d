"""The layering of seqlab's packages, checked on every import statement (top-level and inside functions):
models import neither tasks nor training; training imports no task; data imports no model, task or training code;
the search module imports no task; the config layer imports no task or training code; a task never imports
another task. The public plugin API (``seqlab.api``) is imported by no seqlab module but the contract suites
(``seqlab.testing``), so it can re-export anything without a cycle; and every file under ``plugins/`` imports only
``seqlab.api`` and ``seqlab.testing`` of seqlab. And no import cycle: the graph of module-level imports (what runs
when a module is first imported, its parent packages included) has none. Every task package keeps its config
dataclasses in its config.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seqlab"
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
PUBLIC = ("seqlab.api", "seqlab.testing")  # what a plugin may import of seqlab

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
            found.append((node.lineno, imported_from(node, here, path)))
    return found


def imported_from(node: ast.ImportFrom, here: list[str], path: Path) -> str:
    """The module a ``from ... import`` names, a relative one resolved against ``here`` (the importing module)."""
    if not node.level:
        return node.module or ""
    base = here[: len(here) - node.level + (1 if path.name == "__init__.py" else 0)]
    return ".".join([*base, node.module] if node.module else base)


def module_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of the imports that run when the module is imported: not those inside a function (deferred)
    nor under ``if TYPE_CHECKING:``; ``from pkg import name`` counts ``pkg`` and, where it is one, ``pkg.name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = module_name(path).split(".")
    found: list[tuple[int, str]] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                name = imported_from(node, here, path)
                found.append((node.lineno, name))
                found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, field, []))

    visit(tree.body)
    return found


def import_graph() -> dict[str, set[str]]:
    """seqlab module -> the seqlab modules importing it imports (parent packages of each target included)."""
    modules = {module_name(path): path for path in sources()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for _, mod in module_level_imports(path):
            parts = mod.split(".")
            targets |= {".".join(parts[:n]) for n in range(1, len(parts) + 1)} & modules.keys()
        parents = {".".join(name.split(".")[:n]) for n in range(1, name.count(".") + 1)}
        graph[name] = targets - {name} - parents  # a package's own submodules may import the package
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: each strongly connected group of two or more modules, shown as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                top = stack.pop()
                group.add(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    found = []
    for group in groups:  # walk from the smallest name back to itself inside the group
        start = min(group)
        path, seen = [start], {start}
        while True:
            nxt = min(n for n in graph[path[-1]] if n in group and (n == start or n not in seen))
            path.append(nxt)
            if nxt == start:
                break
            seen.add(nxt)
        found.append(path)
    return sorted(found)


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


def test_no_import_cycles():
    """Importing any seqlab module never re-enters a module still being imported (deferred imports inside
    functions, for a fast start, are not counted)."""
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_planted_cycle(tmp_path, monkeypatch):
    """The checker itself: a.py importing b at its top and b.py importing a (through ``from seqlab.x import a``) is
    one cycle; an import inside a function or under TYPE_CHECKING, and a package's submodule importing its package,
    are not."""
    fake = tmp_path / "seqlab"
    (fake / "x").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "x" / "__init__.py").write_text("from seqlab.x.c import C\n")
    (fake / "x" / "a.py").write_text("import seqlab.x.b\n")
    (fake / "x" / "b.py").write_text("from seqlab.x import a\n")
    (fake / "x" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nimport seqlab.x\nif TYPE_CHECKING:\n    import seqlab.x.d\nC = 1\n"
    )
    (fake / "x" / "d.py").write_text("def f():\n    import seqlab.x.c\nimport seqlab.x.c\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert cycles(import_graph()) == [["seqlab.x.a", "seqlab.x.b", "seqlab.x.a"]]
    (fake / "x" / "b.py").write_text("def f():\n    from seqlab.x import a\n")
    assert cycles(import_graph()) == []


def plugin_violations() -> list[str]:
    """``file:line imports X`` for every import of seqlab under plugins/ other than the public modules (both
    ``from seqlab.x import y`` and ``from seqlab import x`` count as importing ``seqlab.x``)."""
    out = []
    for path in sorted(PLUGINS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                module = node.module
                targets = [f"seqlab.{a.name}" for a in node.names] if module == "seqlab" else [module]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == "seqlab" and not any(
                    target == p or target.startswith(p + ".") for p in PUBLIC
                ):
                    out.append(f"{path.relative_to(PLUGINS.parent)}:{node.lineno} imports {target}")
    return out


def test_plugins_import_only_the_public_api():
    assert plugin_violations() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from seqlab.models.base import State\n", "imports seqlab.models.base"),
        ("from seqlab import registry\n", "imports seqlab.registry"),
        ("import seqlab\n", "imports seqlab"),
        ("def f():\n    import seqlab.training.tbptt as t\n", "imports seqlab.training.tbptt"),
    ],
)
def test_the_plugin_check_finds_an_internal_import(tmp_path, monkeypatch, source, expected):
    """The checker itself: a plugin file importing an internal module is reported; the public ones and the plugin's
    own modules (``seqlab_x``) are not."""
    src = tmp_path / "plugins" / "seqlab-x" / "src" / "seqlab_x"
    src.mkdir(parents=True)
    (src / "ok.py").write_text("from seqlab.api import State\nimport seqlab.testing\nfrom seqlab_x import ok\n")
    (src / "bad.py").write_text(source)
    monkeypatch.setattr(__import__(__name__), "PLUGINS", tmp_path / "plugins")
    (found,) = plugin_violations()
    assert found.startswith("plugins/seqlab-x/src/seqlab_x/bad.py:") and found.endswith(expected)


def test_only_the_contract_suites_import_the_public_api():
    """seqlab.api re-exports from everywhere: a seqlab module importing it (other than seqlab.testing) would close
    an import cycle."""
    users = [
        f"{module_name(path)}:{line}"
        for path in sources()
        for line, mod in imports(path)
        if mod == "seqlab.api" and not module_name(path).startswith(("seqlab.testing", "seqlab.api"))
    ]
    assert users == []


def test_every_task_package_keeps_its_config_in_config_py():
    """Every built-in task package is shaped alike: its ``Config`` and the dataclasses nested in it are defined in
    ``seqlab/tasks/<task>/config.py`` (which task.py, data and inference modules import), not beside the Task."""
    import dataclasses

    from seqlab import registry

    def nested(cls: type) -> list[type]:
        found = [cls]
        for f in dataclasses.fields(cls):
            default = f.default_factory if f.default_factory is not dataclasses.MISSING else None
            if isinstance(default, type) and dataclasses.is_dataclass(default):
                found += nested(default)
        return found

    packages = sorted(p.name for p in (PACKAGE / "tasks").iterdir() if (p / "task.py").is_file())
    builtin = [n for n in registry.names("task") if registry.get_task(n).__module__.startswith("seqlab.tasks.")]
    assert sorted({registry.get_task(n).__module__.split(".")[2] for n in builtin}) == packages
    for name in builtin:
        task = registry.get_task(name)
        package = task.__module__.rsplit(".", 1)[0]
        for cls in nested(task.Config):
            if cls.__module__.startswith(f"{package}."):  # a shared piece (SyntheticDataConfig) lives elsewhere
                assert cls.__module__ == f"{package}.config", (name, cls.__qualname__, cls.__module__)
        assert (PACKAGE / "tasks" / package.split(".")[2] / "config.py").is_file(), name
