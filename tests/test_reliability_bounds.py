"""Issue 24, causes 6-9: bounded work, decoding values checked in every entry point, output paths checked before any
work, and role nodes that follow the chosen image encoder.

Tests run as root, where ``chmod`` does not stop a write: an unwritable place is a path under a file
(``<file>/x.png``), a path under ``/proc``, or a folder that ``os.access`` (monkeypatched) calls read-only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import compose_config, run_cli
from omegaconf import OmegaConf
from PIL import Image

from seqlab import caption as caption_tool
from seqlab import embeddings as embeddings_tool
from seqlab import translate as translate_tool
from seqlab.config.preflight import preflight
from seqlab.config.validate import validate
from seqlab.errors import ConfigError
from seqlab.report import command as report_tool
from seqlab.run.job import run
from seqlab.sweep import wandb as wandb_sweep

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["trainer.max_steps=2", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "logger=csv"]
TRANSLATE = [
    "task=translate_digits",
    "model=gru",
    "model.hidden_size=16",
    "model.num_layers=1",
    "task.decoder.hidden_size=16",
    "task.decoder.embedding_dim=8",
    "task.embedding_dim=8",
    "task.batch_size=16",
    "task.data.synthetic_pairs=200",
    "task.decode.val_sentences=8",
    "task.decode.beam_size=2",
    "test=false",
    *TINY,
]
CAPTION = [
    "task=caption",
    "model=gru",
    "model.hidden_size=16",
    "model.num_layers=1",
    "task.data.scenes.num_train=24",
    "task.data.scenes.num_val=8",
    "task.data.scenes.num_test=8",
    "task.image_encoder.width=4",
    "task.image_encoder.depth=2",
    "task.decoder.embedding_dim=8",
    "task.decoder.attention_size=8",
    "task.decode.val_images=4",
    "task.decode.show=1",
    "task.batch_size=8",
    "test=false",
    *TINY,
]


@pytest.fixture(scope="module")
def translation(tmp_path_factory) -> Path:
    """A translation run folder trained for 2 steps (untrained: it rarely ends a sentence, the worst case)."""
    root = tmp_path_factory.mktemp("translate")
    run(compose_config(TRANSLATE), root / "run")
    return root / "run"


@pytest.fixture(scope="module")
def captioner(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("caption")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQLAB_CACHE_DIR", str(root / "cache"))
        run(compose_config(CAPTION), root / "run")
    return root / "run"


@pytest.fixture
def picture(tmp_path) -> Path:
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[8:28, 8:28] = (255, 0, 0)
    Image.fromarray(pixels).save(tmp_path / "red.png")
    return tmp_path / "red.png"


def _one_line_exit_2(capsys, call) -> str:
    """Run ``call`` (a tool's main) and return its one stderr line; it must exit 2 and print nothing on stdout."""
    with pytest.raises(SystemExit) as caught:
        call()
    out, err = capsys.readouterr()
    assert caught.value.code == 2, err
    assert err.strip() and len(err.strip().splitlines()) == 1, err
    assert not out.strip(), out
    return err.strip()


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


# ---- 6. bounded work ---------------------------------------------------------------------------------------------
def test_a_source_longer_than_the_model_serves_is_refused_in_one_line_at_once(translation, tmp_path, capsys):
    long_line = tmp_path / "long.txt"
    long_line.write_text("1 2 3\n" + " ".join(["4"] * 10_000) + "\n", encoding="utf-8")
    started = time.monotonic()
    err = _one_line_exit_2(capsys, lambda: translate_tool.main([f"ckpt_path={translation}", f"input={long_line}"]))
    assert time.monotonic() - started < 30  # it was hours (quadratic in the source length)
    assert err.startswith("seqlab.translate: error: max_source_tokens:") and "line 2" in err and "10000" in err
    # the limit is a key: raised, the same line is translated
    short = translate_tool.translate(str(translation), text=" ".join(["4"] * 40), method="greedy")
    assert len(short) == 1
    with pytest.raises(ConfigError, match="max_source_tokens"):
        translate_tool.translate(str(translation), text=" ".join(["4"] * 40), max_source_tokens=20)


def test_a_long_input_shows_progress_on_stderr(translation, tmp_path, capsys):
    many = tmp_path / "many.txt"
    many.write_text("".join(f"{i % 10} {i % 7} 3\n" for i in range(150)), encoding="utf-8")
    translate_tool.main([f"ckpt_path={translation}", f"input={many}", "method=greedy"])
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 150
    progress = [line for line in err.splitlines() if "sentences" in line and "translated" in line]
    assert len(progress) >= 2 and progress[-1].endswith("150 of 150 sentences"), err


@pytest.mark.parametrize("beam", [10**9, 101])
def test_an_absurd_beam_size_is_refused_in_one_line(translation, picture, capsys, beam):
    err = _one_line_exit_2(
        capsys, lambda: translate_tool.main([f"ckpt_path={translation}", "text=1 2", f"beam_size={beam}"])
    )
    assert "beam_size" in err and "<= 100" in err


def test_an_absurd_beam_size_is_refused_by_caption_and_by_training(captioner, picture):
    with pytest.raises(ConfigError) as caught:
        caption_tool.caption(str(captioner), str(picture), beam_size=10**9)
    assert caught.value.key == "beam_size"
    for base, prefix in ((CAPTION, "task.decode"), (TRANSLATE, "task.decode")):
        with pytest.raises(ConfigError) as caught:
            validate(compose_config([*base, "task.decode.beam_size=1000000000"]))
        assert caught.value.key == f"{prefix}.beam_size"
    with pytest.raises(ConfigError) as caught:
        validate(compose_config([*CAPTION, "task.decode.max_len=1000000000"]))
    assert caught.value.key == "task.decode.max_len"


def test_a_sweep_is_counted_before_it_is_expanded_and_refused_above_the_limit():
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        preflight(["-m", "model=lstm,gru", "model.hidden_size=range(1,100000000)"])
    assert time.monotonic() - started < 30
    assert caught.value.key == "sweep_max_jobs"
    assert "199999998 jobs" in str(caught.value) and "sweep_max_jobs=1000" in str(caught.value)
    # the limit is a key; a preset's grid counts too (sweep=arch_grid has several jobs)
    with pytest.raises(ConfigError, match="sweep_max_jobs=3"):
        preflight(["-m", "sweep_max_jobs=3", "model.hidden_size=8,16,32,64"])
    with pytest.raises(ConfigError, match="sweep_max_jobs=1"):
        preflight(["-m", "sweep_max_jobs=1", "sweep=arch_grid"])
    preflight(["-m", "sweep_max_jobs=4", "model.hidden_size=range(8,16,2)"])  # 4 jobs: within
    with pytest.raises(ConfigError, match="sweep_max_jobs"):  # without -m too: never listed
        preflight(["model.hidden_size=range(1,100000000)"])


def test_a_huge_sweep_from_the_command_line_is_one_line_and_writes_nothing(tmp_path):
    result = run_cli(
        ["-m", "task=copy", "model.hidden_size=range(1,100000000)", f"hydra.sweep.dir={tmp_path}/sweep"],
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) == 1 and "sweep_max_jobs" in result.stderr, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no sweep folder, no .seqlab-sweep.json


def test_a_huge_wandb_grid_is_refused_before_it_is_listed(tmp_path, capsys):
    out = tmp_path / "sweep.yaml"
    started = time.monotonic()
    err = _one_line_exit_2(
        capsys,
        lambda: wandb_sweep.main(["method=grid", f"out={out}", "model.hidden_size=range(1,1000000000)"]),
    )
    assert time.monotonic() - started < 30 and "sweep_max_jobs" in err and not out.exists()


# ---- 7. every decoding value checked in every entry point -------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value", "extra"),
    [("temperature", -1.0, {"method": "sample"}), ("alpha", -1.0, {}), ("temperature", float("nan"), {})],
)
def test_bad_decoding_values_are_one_error_in_both_tools(translation, captioner, picture, key, value, extra):
    with pytest.raises(ConfigError) as by_translate:
        translate_tool.translate(str(translation), text="1 2", **{key: value}, **extra)
    with pytest.raises(ConfigError) as by_caption:
        caption_tool.caption(str(captioner), str(picture), **{key: value}, **extra)
    assert by_translate.value.key == by_caption.value.key == key
    assert str(by_translate.value) == str(by_caption.value)  # one shared check, one wording


@pytest.mark.parametrize(
    "overrides",
    [["task.decode.alpha=-1"], ["task.decode.method=sample", "task.decode.temperature=-1"]],
)
def test_caption_training_checks_decoding_values_at_preflight_as_translate_does(overrides):
    key = overrides[-1].split("=")[0]
    errors = []
    for base in (CAPTION, TRANSLATE):
        with pytest.raises(ConfigError) as caught:
            validate(compose_config([*base, *overrides]))
        errors.append(caught.value)
    assert errors[0].key == errors[1].key == key
    assert str(errors[0]) == str(errors[1])


def test_caption_tool_bad_temperature_is_one_line(captioner, picture, capsys):
    err = _one_line_exit_2(
        capsys,
        lambda: caption_tool.main([f"ckpt_path={captioner}", f"image={picture}", "method=sample", "temperature=-1"]),
    )
    assert err.startswith("seqlab.caption: error: temperature:")


# ---- 8. every output path checked before work starts ------------------------------------------------------------
@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("mine\n")
    return path


def test_translate_refuses_an_unwritable_attention_plot_before_translating(translation, a_file, capsys):
    for target in (a_file / "att.png", Path("/proc/att.png"), a_file.parent):
        err = _one_line_exit_2(
            capsys,
            lambda t=target: translate_tool.main([f"ckpt_path={translation}", "text=1 2 3", f"attention_plot={t}"]),
        )
        assert err.startswith("seqlab.translate: error: attention_plot:"), err
    assert a_file.read_text() == "mine\n"


def test_caption_refuses_an_unwritable_attention_plot(captioner, picture, a_file, capsys):
    for target in (a_file / "att.png", Path("/proc/att.png")):
        err = _one_line_exit_2(
            capsys,
            lambda t=target: caption_tool.main([f"ckpt_path={captioner}", f"image={picture}", f"attention_plot={t}"]),
        )
        assert err.startswith("seqlab.caption: error: attention_plot:"), err


def test_embeddings_refuses_an_export_into_a_file_or_onto_a_folder_before_loading(translation, a_file, capsys):
    for target in (a_file / "vec.txt", a_file.parent, Path("/proc/vec.txt")):
        err = _one_line_exit_2(
            capsys, lambda t=target: embeddings_tool.main([f"ckpt_path={translation}", f"export={t}"])
        )
        assert err.startswith("seqlab.embeddings: error: export:"), err  # not "has no word vectors": checked first


def test_a_read_only_place_is_refused_through_os_access(translation, tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != locked and real(p, mode, **kw))
    err = _one_line_exit_2(
        capsys,
        lambda: translate_tool.main([f"ckpt_path={translation}", "text=1 2", f"attention_plot={locked}/att.png"]),
    )
    assert "attention_plot" in err and "not writable" in err
    assert not any(locked.iterdir())


@pytest.fixture
def sweep(translation, tmp_path) -> Path:
    """A sweep folder holding one finished run (a copy of the translation run)."""
    folder = tmp_path / "sweep"
    shutil.copytree(translation, folder / "0")
    (folder / "0" / ".hydra").mkdir(exist_ok=True)  # what Hydra writes beside a run started from the command line
    OmegaConf.save(compose_config(TRANSLATE), folder / "0" / ".hydra" / "config.yaml")
    (folder / "0" / ".hydra" / "overrides.yaml").write_text("[]\n")
    return folder


def test_report_checks_its_outputs_before_writing_any(sweep, a_file, monkeypatch, capsys):
    before = _files(sweep)
    for args in (
        [str(sweep), "--html", "--out", str(a_file / "report.html")],
        [str(sweep), "--html", "--out", "/proc/report.html"],
        [str(sweep), f"out={a_file / 'reports'}"],
    ):
        err = _one_line_exit_2(capsys, lambda a=args: report_tool.main(a))
        assert re.match(r"seqlab\.report: error: (--out|out):", err), err
        assert _files(sweep) == before  # no report.csv / report.md / report_curves.png left in the sweep
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != sweep and real(p, mode, **kw))
    err = _one_line_exit_2(capsys, lambda: report_tool.main([str(sweep), "--html"]))
    assert err.startswith("seqlab.report: error: out:") and "not writable" in err
    assert _files(sweep) == before
    monkeypatch.setattr(os, "access", real)
    report_tool.main([str(sweep), "--html", "--out", str(sweep)])  # a folder for --out: report.html goes in it
    assert {"report.csv", "report.md", "report.html"} <= {p.name for p in sweep.iterdir()}


def test_an_unwritable_plot_on_the_command_line_is_one_line_without_the_translation(translation, tmp_path):
    result = run_cli(
        [f"ckpt_path={translation}", "text=1 2 3", "attention_plot=/proc/att.png"],
        cwd=tmp_path,
        module="seqlab.translate",
    )
    assert result.returncode == 2 and not result.stdout
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "attention_plot" in result.stderr


# ---- 9. role nodes follow the chosen component ----------------------------------------------------------------
@pytest.fixture
def features(tmp_path) -> tuple[Path, Path]:
    """Precomputed features (one .npz keyed by image name, 2 x 2 grids of 2048 channels) and their captions."""
    names = [f"img{i}.png" for i in range(12)]
    np.savez(tmp_path / "feats.npz", **{n: np.full((2, 2, 2048), i, dtype=np.float32) for i, n in enumerate(names)})
    captions = {n: [f"picture number {i % 3}", "a thing"] for i, n in enumerate(names)}
    (tmp_path / "captions.json").write_text(json.dumps(captions))
    return tmp_path / "feats.npz", tmp_path / "captions.json"


def _docs_commands() -> list[list[str]]:
    """The overrides of every command in docs/caption.md that picks an image encoder."""
    text = (Path(__file__).parents[1] / "docs" / "caption.md").read_text()
    lines = [line.split("#")[0] for line in text.splitlines() if line.startswith("python -m seqlab task=caption")]
    return [line.split()[4:] for line in lines if "image_encoder.name=" in line]


def test_the_docs_image_encoder_commands_run(features, tmp_path):
    commands = _docs_commands()
    assert commands, "docs/caption.md shows no image encoder command"
    feats, captions = features
    places = {"task.data.features": feats, "task.data.path": captions}
    small = [o for o in CAPTION[1:] if not o.startswith("task.image_encoder.")]
    for overrides in commands:
        given = [f"{o.split('=')[0]}={places[o.split('=')[0]]}" if o.split("=")[0] in places else o for o in overrides]
        name = next(o.split("=")[1] for o in given if o.startswith("task.image_encoder.name="))
        cfg = compose_config(["task=caption", *small, *given])
        if name == "torchvision":  # the [vision] extra: not installable beside the CPU torch of these machines
            with pytest.raises(ConfigError, match="torchvision") as caught:
                validate(cfg)
            assert caught.value.key == "task.image_encoder.name"
            continue
        validate(cfg)
        results = run(cfg, tmp_path / f"run_{name}")
        assert np.isfinite(results["val/loss"])


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        (["task.image_encoder.name=features"], None),
        (["task.image_encoder.name=features", "task.image_encoder.feature_size=2048"], None),
        (["task.image_encoder.name=small_cnn", "task.image_encoder.width=8"], None),
        (["task.image_encoder.name=features", "task.image_encoder.width=64"], "task.image_encoder.width"),
        (["task.image_encoder.feature_size=512"], "task.image_encoder.feature_size"),
        (["task.image_encoder.name=small_cnn", "task.image_encoder.freeze=false"], "task.image_encoder.freeze"),
    ],
)
def test_the_image_encoder_node_takes_the_chosen_encoders_keys_only(overrides, refused):
    from seqlab.tasks.caption.roles import build_image_encoder

    cfg = compose_config(["task=caption", *overrides])
    if refused is None:
        encoder = build_image_encoder(cfg.task.image_encoder)
        assert type(encoder).__name__ != "" and encoder.output_size > 0
        return
    with pytest.raises(ConfigError) as caught:
        build_image_encoder(cfg.task.image_encoder)
    assert caught.value.key == refused and "has no such key" in str(caught.value)


def test_torchvision_keys_reach_the_torchvision_encoder_only():
    from seqlab.tasks.caption.roles import image_encoder_config

    cfg = compose_config(["task=caption", "task.image_encoder.name=torchvision", "task.image_encoder.freeze=false"])
    config = image_encoder_config(cfg.task.image_encoder)
    assert type(config).__name__ == "TorchvisionEncoderConfig" and config.freeze is False
    assert not hasattr(config, "width")
