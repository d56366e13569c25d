"""docs/plugins.md and the example plugins agree line for line, and the page documents every testing helper.

A fenced block right after a line ``<!-- file: <path> -->`` is the complete file at ``<path>`` (relative to the
repository root); after ``<!-- excerpt: <path> -->`` its lines appear, in a row, in that file. The usage-comment
rule the page states is the one the contract suites enforce (``seqlab.testing.usage_line``), and every YAML option
seqlab and the examples ship keeps it.
"""

from __future__ import annotations

import re
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch

import seqlab.testing
from seqlab import registry
from seqlab.api import ConfigError
from seqlab.testing import ImageEncoderContract, compose_run_config, usage_line

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


# ---- the examples written on the page (not shipped as files): they run, with only the public API -----------------
EXAMPLE = re.compile(r"^<!-- example: (\S+) -->\n```python\n(.*?)^```$", re.M | re.S)


def page_example(name: str) -> dict:
    """Run the example block ``name`` of the page as a module outside seqlab; DeprecationWarnings are errors, so
    an example that used a 0.1 import path would fail here."""
    examples = dict(EXAMPLE.findall(PAGE.read_text(encoding="utf-8")))
    module = types.ModuleType(f"docs_example_{name.replace('-', '_')}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        exec(compile(examples[name], f"docs/plugins.md:{name}", "exec"), module.__dict__)
    return module.__dict__


def test_the_page_shows_the_examples_it_runs():
    assert set(dict(EXAMPLE.findall(PAGE.read_text(encoding="utf-8")))) == {"image-encoder", "decoder-by-name"}
    for _, code in EXAMPLE.findall(PAGE.read_text(encoding="utf-8")):
        imported = re.findall(r"^(?:from|import) (seqlab\S*)", code, re.M)
        assert imported and set(imported) <= {"seqlab.api"}


class TestThePagesImageEncoder(ImageEncoderContract):
    def make_encoder(self):
        example = page_example("image-encoder")
        return example["Patches"](example["PatchesConfig"](patch=8, size=6))


def test_the_pages_image_encoder_names_its_bad_key():
    example = page_example("image-encoder")
    with pytest.raises(ConfigError, match=r"^image_encoder\.patch: "):
        example["Patches"](example["PatchesConfig"](patch=0))


@pytest.mark.parametrize(
    "decoder",
    [{}, {"cell": "lstm", "num_layers": 2, "attention": "luong_general"}, {"name": "indrnn"}],
    ids=["rnn", "rnn-lstm", "indrnn"],
)
def test_the_pages_seq2seq_takes_any_decoder_by_name(decoder):
    if decoder.get("name") == "indrnn" and "indrnn" not in registry.names("decoder"):
        pytest.skip("the example plugin seqlab-indrnn is not installed")
    example = page_example("decoder-by-name")
    model_cfg = compose_run_config(["model=lstm", "model.hidden_size=8", "model.num_layers=2"]).model
    model_cfg.bidirectional = True  # an encoder state of 2 layers x 2 directions: encoder_size = 16
    node = {**example["decoder_node"](), "hidden_size": 12, "embedding_dim": 6, **decoder}
    task = example["Seq2SeqConfig"](embedding_dim=5, decoder=node)
    example["check_decoder"](task, 16)
    torch.manual_seed(0)
    model = example["Seq2Seq"](model_cfg, task, src_vocab=10, tgt_vocab=9).eval()
    assert model.bridge.project_h.in_features == 16 and model.decoder.hidden_size == 12
    src, lengths = torch.randint(4, 10, (3, 7)), torch.tensor([7, 5, 2])
    tgt_in = torch.randint(4, 9, (3, 4))
    logits = model(src, lengths, tgt_in)
    assert logits.shape == (3, 4, 9) and torch.isfinite(logits).all()
    out = model.translate(src, lengths, bos_id=2, eos_id=3)
    assert len(out) == 3 and all(1 <= len(row) <= 20 for row in out)
    # the first greedy token is the argmax of the teacher-forced logits after <bos>
    first = model(src, lengths, torch.full((3, 1), 2))[:, 0].argmax(-1).tolist()
    assert [row[0] for row in out] == first


def test_the_pages_seq2seq_refuses_a_bad_decoder_key_in_check():
    example = page_example("decoder-by-name")
    task = example["Seq2SeqConfig"](decoder={**example["decoder_node"](), "cell": "tree"})
    with pytest.raises(ConfigError, match=r"^task\.decoder\.cell: unknown cell 'tree'"):
        example["check_decoder"](task, 16)


def test_the_api_table_lists_every_public_name():
    """The page's table of ``seqlab.api`` and the module's ``__all__`` agree, both ways."""
    import seqlab.api

    section = PAGE.read_text(encoding="utf-8").split("## The public API: `seqlab.api`", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    listed = {name for row in rows for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)(?:\(|`)", row)}
    assert sorted(set(seqlab.api.__all__) - listed) == [], "in seqlab.api but not on the page"
    assert sorted(name for name in listed if not hasattr(seqlab.api, name)) == [], "on the page but not in seqlab.api"
