"""docs/plugins.md and the example plugins agree line for line, and the page documents every testing helper.

A fenced block right after a line ``<!-- file: <path> -->`` is the complete file at ``<path>`` (relative to the
repository root); after ``<!-- excerpt: <path> -->`` its lines appear, in a row, in that file. The usage-comment
rule the page states is the one the contract suites enforce (``seqlab.testing.usage_line``), and every YAML option
seqlab and the examples ship keeps it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import seqlab.testing
from seqlab.testing import usage_line

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "plugins.md"
EXAMPLES = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
MARKER = re.compile(r"^<!-- (file|excerpt): (\S+) -->$")


def marked_blocks(text: str) -> list[tuple[str, str, str]]:
    """``(kind, path, block text)`` for every marked fenced block; ValueError for a marker without a block."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        match = MARKER.match(line)
        if not match:
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            raise ValueError(f"docs/plugins.md line {i + 1}: the marker must be followed by a ``` fence")
        end = next((j for j in range(i + 2, len(lines)) if lines[j] == "```"), None)
        if end is None:
            raise ValueError(f"docs/plugins.md line {i + 2}: the fence is never closed")
        blocks.append((match.group(1), match.group(2), "\n".join(lines[i + 2 : end]) + "\n"))
    return blocks


BLOCKS = marked_blocks(PAGE.read_text(encoding="utf-8"))
FILES = [(path, block) for kind, path, block in BLOCKS if kind == "file"]
EXCERPTS = [(path, block) for kind, path, block in BLOCKS if kind == "excerpt"]


def shipped_files(plugin: Path) -> list[str]:
    """The files of an example plugin the page must show: pyproject.toml, the sources, YAML files and tests."""
    found = [plugin / "pyproject.toml"]
    for folder, patterns in (("src", ("*.py", "*.yaml")), ("tests", ("*.py",))):
        found += [p for pattern in patterns for p in (plugin / folder).rglob(pattern) if "__pycache__" not in p.parts]
    return sorted(str(p.relative_to(ROOT)) for p in found)


def test_the_page_marks_complete_files_of_both_examples():
    assert len(EXAMPLES) >= 2 and len(FILES) >= 10
    assert len({path for path, _ in FILES}) == len(FILES), "a file is shown twice"


@pytest.mark.parametrize("path,block", FILES, ids=[path for path, _ in FILES])
def test_a_complete_file_on_the_page_is_the_shipped_file(path, block):
    shipped = ROOT / path
    assert shipped.is_file(), f"docs/plugins.md shows {path}, which does not exist"
    assert block == shipped.read_text(encoding="utf-8"), f"docs/plugins.md and {path} differ: update one of them"


@pytest.mark.parametrize("path,block", EXCERPTS, ids=[path for path, _ in EXCERPTS])
def test_an_excerpt_on_the_page_is_in_the_file(path, block):
    assert block in (ROOT / path).read_text(encoding="utf-8"), f"the excerpt of {path} is not in the file"


@pytest.mark.parametrize("plugin", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_file_of_an_example_is_on_the_page(plugin):
    missing = sorted(set(shipped_files(plugin)) - {path for path, _ in FILES})
    assert not missing, f"docs/plugins.md does not show these files of {plugin.name}: {missing}"


def test_the_marker_parser_finds_blocks_and_refuses_a_bare_marker():
    text = "a\n<!-- file: x/y.py -->\n```python\nline 1\n\nline 3\n```\n<!-- excerpt: z.toml -->\n```\nk = 1\n```\n"
    assert marked_blocks(text) == [("file", "x/y.py", "line 1\n\nline 3\n"), ("excerpt", "z.toml", "k = 1\n")]
    with pytest.raises(ValueError, match="followed by a ``` fence"):
        marked_blocks("<!-- file: x.py -->\ntext\n")


def test_every_public_testing_helper_is_documented():
    section = PAGE.read_text(encoding="utf-8").split("## Testing a plugin", 1)[1].split("\n## ", 1)[0]
    undocumented = [name for name in seqlab.testing.__all__ if not re.search(rf"^#+ {name}$|`{name}\(", section, re.M)]
    assert not undocumented, f"docs/plugins.md, 'Testing a plugin', does not document {undocumented}"
    for key in ("model_name", "decoder_name", "data_overrides", "supports_lengths", "validate("):
        assert key in section


# ---- the usage-comment rule -------------------------------------------------------------------------------------
def yaml_options() -> list[tuple[Path, str, str]]:
    """(file, group, option) of every model and task option seqlab ships and every option of the examples."""
    found = []
    for group in ("model", "task"):
        found += [(p, group, p.stem) for p in sorted((ROOT / "conf" / group).glob("*.yaml"))]
    for plugin in EXAMPLES:
        for conf in (plugin / "src").glob("*/conf"):
            for p in sorted(conf.rglob("*.yaml")):
                found.append((p, str(p.parent.relative_to(conf)), p.stem))
    return found


@pytest.mark.parametrize("path,group,option", yaml_options(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_shipped_option_has_its_usage_comment_in_the_header(path, group, option):
    assert usage_line(path, group, option) is not None, f"{path}: no '# ... Usage: python -m seqlab {group}={option}'"


@pytest.mark.parametrize(
    "text,found",
    [
        ("# An LSTM.\n# Usage: python -m seqlab model=mycell task=charlm\nname: mycell\n", True),
        ("# An LSTM. Usage: python -m seqlab task=charlm model=mycell\nname: mycell\n", True),
        ("# @package _global_\n# Usage: python -m seqlab model=mycell\nname: mycell\n", True),
        ("name: mycell\n# Usage: python -m seqlab model=mycell\n", False),  # after the first key
        ("# An LSTM.\n\n# Usage: python -m seqlab model=mycell\nname: mycell\n", False),  # after a blank line
        ("# Try model=mycell\nname: mycell\n", False),  # no usage line
        ("# Usage: python -m seqlab model=mycell2\nname: mycell2\n", False),  # another option
        ("# model=mycell. Usage: python -m seqlab model=lstm\nname: mycell\n", False),  # not in the usage line
    ],
)
def test_usage_line_is_the_rule_the_page_states(tmp_path, text, found):
    path = tmp_path / "mycell.yaml"
    path.write_text(text)
    assert (usage_line(path, "model", "mycell") is not None) is found
    page = " ".join(PAGE.read_text(encoding="utf-8").split())
    assert "starts with comment lines (its header: everything before the first key or blank line)" in page
