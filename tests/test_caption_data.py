"""Captioning data: the seeded scene generator (deterministic, held-out combinations, captions that describe the
pixels, its cache), the Karpathy / folder / features loaders on tiny fixtures, one-line errors for bad input, image
reading, and the data module's batches, references and DDP sharding."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from seqlab.data.vocab import Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.caption import scenes
from seqlab.tasks.caption.config import CaptionConfig, SceneConfig
from seqlab.tasks.caption.data import CaptionDataModule
from seqlab.tasks.caption.scenes import PALETTE, generate, load_or_generate, relation, scene_folder
from seqlab.tasks.caption.sources import (
    image_array,
    load_features,
    load_folder,
    load_karpathy,
    read_caption_file,
    read_image,
)

SMALL = {"num_train": 60, "num_val": 12, "num_test": 12}


def small(**keys) -> SceneConfig:
    return SceneConfig(**{**SMALL, **keys})


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """The folder generated scene sets are cached in (``$SEQLAB_CACHE_DIR``)."""
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


# ---- the scene generator -------------------------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    a = load_or_generate(small(), 32, root=tmp_path / "a")
    b = load_or_generate(small(), 32, root=tmp_path / "b")
    for name in ("scenes.npz", "scenes.json"):
        assert (a.folder / name).read_bytes() == (b.folder / name).read_bytes()
    again = generate(small(), 32)
    assert all(np.array_equal(a.images[s], again.images[s]) for s in scenes.SPLITS) and a.scenes == again.scenes
    other = generate(small(seed=7), 32)
    assert not np.array_equal(a.images["train"], other.images["train"])


def test_held_out_combinations_never_occur_in_train():
    cfg = small(num_train=300, num_val=40, held_out_fraction=0.25)
    out = generate(cfg, 32)
    held = set(out.held_out)
    assert len(held) == round(0.25 * 15)
    train_pairs = {(o.colour, o.shape) for s in out.scenes["train"] for o in s.objects}
    assert not train_pairs & held
    assert {c for c, _ in train_pairs} == set(cfg.colours) and {s for _, s in train_pairs} == set(cfg.shapes)
    for split in ("val", "test"):
        groups = [s.group for s in out.scenes[split]]
        assert groups.count("heldout") == groups.count("seen") == len(groups) // 2
        for s in out.scenes[split]:
            has_held = any((o.colour, o.shape) in held for o in s.objects)
            assert has_held == (s.group == "heldout")
    assert all(s.group == "seen" for s in generate(small(held_out_fraction=0.0), 32).scenes["val"])


def test_captions_describe_the_drawn_pixels():
    out = generate(small(max_objects=3, num_train=80), 48)
    names = np.array(list(PALETTE.values()))
    for split in scenes.SPLITS:
        for image, scene in zip(out.images[split], out.scenes[split]):
            first = scene.captions[0].split()
            for obj in scene.objects:
                x0, y0, x1, y1 = obj.box
                pixel = image[(y0 + y1) // 2, (x0 + x1) // 2]
                nearest = list(PALETTE)[int(np.abs(names - pixel).sum(1).argmin())]
                assert nearest == obj.colour and tuple(pixel) == PALETTE[obj.colour]
                corner_filled = tuple(image[y0, x0]) == PALETTE[obj.colour]
                assert corner_filled == (obj.shape == "square")
                # the first caption names each object as "a <size> <colour> <shape>" in drawing order
                phrase = obj.phrase.split()
                assert any(first[i : i + 4] == phrase for i in range(len(first)))
            if len(scene.objects) == 2:
                a, b = scene.objects
                assert scene.captions[0] == f"{a.phrase} {relation(a, b)} {b.phrase}"
                assert scene.captions[1] == f"{b.phrase} {relation(b, a)} {a.phrase}"
                (ax, ay), (bx, by) = a.centre, b.centre
                expected = {"left of": ax < bx, "right of": ax > bx, "above": ay < by, "below": ay > by}
                assert expected[relation(a, b)]


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        ({"colours": ["red", "mauve"]}, "task.data.scenes.colours"),
        ({"shapes": []}, "task.data.scenes.shapes"),
        ({"held_out_fraction": 0.9}, "task.data.scenes.held_out_fraction"),
        ({"max_objects": 0}, "task.data.scenes.max_objects"),
        ({"max_objects": 40}, "task.data.scenes.max_objects"),
    ],
)
def test_bad_scene_keys(keys, key):
    with pytest.raises(ConfigError) as err:
        generate(small(**keys), 32)
    assert str(err.value).startswith(key) and "\n" not in str(err.value)


def test_cache_is_reused_and_never_overwritten(data_dir, monkeypatch):
    first = load_or_generate(small(), 32)
    assert first.folder.parent == data_dir / "synthetic-scenes"
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in first.folder.iterdir()}
    monkeypatch.setattr(scenes, "generate", lambda *a, **k: pytest.fail("regenerated a cached set"))
    second = load_or_generate(small(), 32)
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in second.folder.iterdir()} == stamps
    assert np.array_equal(first.images["val"], second.images["val"]) and first.scenes == second.scenes
    assert [p.name for p in first.folder.parent.iterdir()] == [first.folder.name]  # no temporary left behind
    # a folder at the place of another key set that seqlab did not write is refused, and left alone
    foreign = scene_folder(small(seed=5), 32)
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    with pytest.raises(DataError) as err:
        load_or_generate(small(seed=5), 32)
    assert str(foreign) in str(err.value) and "\n" not in str(err.value)
    assert [p.name for p in foreign.iterdir()] == ["mine.txt"]


# ---- loaders -------------------------------------------------------------------------------------------------------
def png(path: Path, size=(12, 8), colour=(200, 10, 10), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else colour[: len(mode)]).save(path)
    return path


def karpathy(tmp_path: Path, images: list[dict]) -> Path:
    path = tmp_path / "dataset_flickr8k.json"
    path.write_text(json.dumps({"images": images, "dataset": "flickr8k"}), encoding="utf-8")
    return path


def entry(name: str, split: str, *captions: str, filepath: str | None = None) -> dict:
    item = {"filename": name, "split": split, "sentences": [{"raw": c, "tokens": c.lower().split()} for c in captions]}
    return {**item, "filepath": filepath} if filepath else item


def test_karpathy_json(tmp_path):
    folder = tmp_path / "images"
    for name in ("a.jpg", "b.jpg", "c.jpg", "val2014/d.jpg"):
        png(folder / name)
    path = karpathy(
        tmp_path,
        [
            entry("a.jpg", "train", "A dog runs.", "A brown dog."),
            entry("b.jpg", "restval", "Two cats."),
            entry("c.jpg", "val", "A bird."),
            entry("d.jpg", "test", "A car.", filepath="val2014"),
        ],
    )
    examples = load_karpathy(path, folder)
    assert [(e.id, e.split) for e in examples] == [("a.jpg", "train"), ("b.jpg", "train"), ("c.jpg", "val"),
                                                   ("val2014/d.jpg", "test")]  # fmt: skip
    assert examples[0].captions == ["A dog runs.", "A brown dog."] and examples[3].image == folder / "val2014/d.jpg"
    tokens_only = karpathy(tmp_path, [{"filename": "a.jpg", "split": "train", "sentences": [{"tokens": ["a", "b"]}]}])
    assert load_karpathy(tokens_only, folder)[0].captions == ["a b"]


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_folder_with_captions_file(tmp_path, kind):
    names = [f"img{i}.png" for i in range(10)]
    for name in names:
        png(tmp_path / name)
    if kind == "csv":
        rows = [f"{n},a caption of {n}" for n in names] + [f'{names[0]},"another, with a comma"']
        (tmp_path / "captions.csv").write_text("image,caption\n" + "\n".join(rows) + "\n", encoding="utf-8")
    else:
        table = {n: [f"a caption of {n}"] for n in names}
        table[names[0]].append("another, with a comma")
        (tmp_path / "captions.json").write_text(json.dumps(table), encoding="utf-8")
    captions = tmp_path / f"captions.{kind}"
    examples = load_folder(tmp_path, captions, 0.2, 0.2, seed=3)
    assert [e.id for e in examples] == names and examples[0].captions == [
        "a caption of img0.png",
        "another, with a comma",
    ]
    assert sorted(e.split for e in examples) == ["test"] * 2 + ["train"] * 6 + ["val"] * 2
    again = load_folder(tmp_path, captions, 0.2, 0.2, seed=3)
    assert [e.split for e in again] == [e.split for e in examples]
    assert [e.split for e in load_folder(tmp_path, captions, 0.2, 0.2, seed=4)] != [e.split for e in examples]


def test_read_image_converts_and_center_crops(tmp_path):
    wide = Image.new("RGB", (40, 20), (0, 0, 255))
    wide.paste((0, 255, 0), (10, 0, 30, 20))  # the central 20x20 square is green, the borders blue
    wide.save(tmp_path / "wide.png")
    out = read_image(tmp_path / "wide.png", 8)
    assert out.shape == (3, 8, 8) and out.dtype == torch.float32
    assert torch.allclose(out, torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1).expand(3, 8, 8), atol=1e-6)
    gray = read_image(png(tmp_path / "g.png", (9, 9), (128,), mode="L"), 6)
    assert gray.shape == (3, 6, 6) and torch.allclose(gray, torch.full((3, 6, 6), 128 / 255))
    rgba = image_array(png(tmp_path / "a.png", (6, 6), (10, 20, 30, 0), mode="RGBA"), 6)
    assert rgba.shape == (6, 6, 3) and tuple(rgba[0, 0]) == (10, 20, 30)


def test_features_per_file_and_in_one_npz(tmp_path):
    grids = {f"im{i}": np.full((2, 3, 5), i, dtype=np.float64) for i in range(3)}
    folder = tmp_path / "feats"
    folder.mkdir()
    np.save(folder / "im0.npy", grids["im0"])
    np.save(folder / "im1.npy", grids["im1"])
    np.savez(folder / "im2.npz", features=grids["im2"])
    (folder / "notes.txt").write_text("ignored")
    per_file = load_features(folder)
    assert per_file.shape == (2, 3, 5) and sorted(per_file) == ["im0", "im1", "im2"]
    assert (
        per_file.find("im1.jpg") == "im1" and per_file.find("val2014/im2.jpg") == "im2" and per_file.find("x") is None
    )
    assert per_file["im2"].dtype == np.float32 and np.array_equal(per_file["im2"], grids["im2"])
    np.savez(tmp_path / "all.npz", **{"a.jpg": np.ones(7), "b.jpg": np.zeros(7)})
    one = load_features(tmp_path / "all.npz")
    assert one.shape == (7,) and one.find("a.jpg") == "a.jpg" and one["a.jpg"].sum() == 7


# ---- bad input: one line naming the file ---------------------------------------------------------------------------
def bad_karpathy_missing_image(tmp_path):
    png(tmp_path / "im" / "a.jpg")
    path = karpathy(tmp_path, [entry("a.jpg", "train", "x"), entry("gone.jpg", "val", "y")])
    return lambda: load_karpathy(path, tmp_path / "im"), ["gone.jpg", "images[1]", str(path)]


def bad_karpathy_unreadable_image(tmp_path):
    (tmp_path / "im").mkdir()
    (tmp_path / "im" / "a.jpg").write_text("not an image")
    path = karpathy(tmp_path, [entry("a.jpg", "train", "x")])
    return lambda: load_karpathy(path, tmp_path / "im"), [str(tmp_path / "im" / "a.jpg"), "cannot read", "images[0]"]


def bad_karpathy_empty_caption(tmp_path):
    png(tmp_path / "im" / "a.jpg")
    path = karpathy(tmp_path, [entry("a.jpg", "train", "x", "  ")])
    return lambda: load_karpathy(path, tmp_path / "im"), [str(path), "images[0].sentences[1]", "empty"]


def bad_karpathy_not_json(tmp_path):
    path = tmp_path / "dataset_coco.json"
    path.write_text('{"images": [\n  {"filename": }]}')
    return lambda: load_karpathy(path, tmp_path), [str(path), "line 2"]


def bad_csv_without_captions(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_text("image,caption\n\n")
    return lambda: read_caption_file(path), [str(path), "no captions"]


def bad_csv_empty_caption(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_text("image,caption\na.png,a cat\nb.png,  \n")
    return lambda: read_caption_file(path), [str(path), "line 3", "empty caption"]


def bad_csv_header(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_text("file,text\na.png,a cat\n")
    return lambda: read_caption_file(path), [str(path), "'caption'"]


def bad_json_no_captions(tmp_path):
    path = tmp_path / "captions.json"
    path.write_text('{"a.png": ["a cat"], "b.png": []}')
    return lambda: read_caption_file(path), [str(path), "entry 'b.png'", "no captions"]


def bad_folder_missing_image(tmp_path):
    for name in ("a.png", "c.png", "d.png"):
        png(tmp_path / name)
    (tmp_path / "captions.csv").write_text("image,caption\na.png,x\nb.png,y\nc.png,z\nd.png,w\n")
    return lambda: load_folder(tmp_path, tmp_path / "captions.csv", 0.3, 0.3, 0), [str(tmp_path / "b.png"), "line 3"]


def bad_truncated_image(tmp_path):
    path = png(tmp_path / "a.png", (64, 64))
    path.write_bytes(path.read_bytes()[:60])
    return lambda: image_array(path, 8), [str(path), "cannot read"]


def bad_features_shape(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((4, 4, 8)))
    np.save(tmp_path / "b.npy", np.zeros((4, 4, 9)))
    return lambda: load_features(tmp_path), [str(tmp_path / "b.npy"), "(4, 4, 9)"]


def bad_features_file(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"garbage")
    return lambda: load_features(tmp_path), [str(tmp_path / "a.npy")]


@pytest.mark.parametrize(
    "case",
    [
        bad_karpathy_missing_image,
        bad_karpathy_unreadable_image,
        bad_karpathy_empty_caption,
        bad_karpathy_not_json,
        bad_csv_without_captions,
        bad_csv_empty_caption,
        bad_csv_header,
        bad_json_no_captions,
        bad_folder_missing_image,
        bad_truncated_image,
        bad_features_shape,
        bad_features_file,
    ],
)
def test_bad_input_is_one_line_naming_the_file(tmp_path, case):
    call, words = case(tmp_path)
    with pytest.raises(DataError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


# ---- the data module -----------------------------------------------------------------------------------------------
def synthetic_module(**cfg_keys) -> CaptionDataModule:
    cfg = CaptionConfig(**{"batch_size": 8, "bucket_batches": 2, **cfg_keys})
    cfg.data.image_size = 32
    cfg.data.scenes = small()
    return CaptionDataModule(cfg)


def test_synthetic_batches_and_references(data_dir):
    dm = synthetic_module()
    vocab = dm.prepare()
    assert dm.prepare() is vocab and {"red", "circle", "left", "of"} <= set(vocab.itos)
    images, captions, lengths, index = next(iter(dm.train_dataloader()))
    assert images.shape == (8, 3, 32, 32) and images.dtype == torch.float32 and 0 <= images.min() <= images.max() <= 1
    assert captions.shape[0] == 8 and lengths.max() == captions.shape[1]
    assert (captions[:, 0] == vocab.bos_id).all() and (captions[torch.arange(8), lengths - 1] == vocab.eos_id).all()
    assert all((captions[b, lengths[b] :] == Vocab.pad_id).all() for b in range(8))
    train = dm.examples["train"]
    for b in range(8):
        words = " ".join(vocab.decode(captions[b, 1 : lengths[b] - 1]))
        assert words in train[int(index[b])].captions
        assert torch.equal(images[b], dm.stores["train"].tensor(int(index[b])))
    assert dm.summary["train_pairs"] == 3 * SMALL["num_train"]
    refs = dm.references("val")
    assert [r.index for r in refs] == list(range(SMALL["num_val"])) and len(refs[0].references) == 3
    assert refs[0].image.shape == (3, 32, 32) and refs[0].boxes and {r.group for r in refs} == {"seen", "heldout"}
    with pytest.raises(ValueError):
        dm.references("train")


def test_ddp_shards_train_and_keeps_every_eval_batch(data_dir):
    seen: dict[str, list[list[int]]] = {"train": [], "val": []}
    for rank in (0, 1):
        dm = synthetic_module()
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        seen["train"].append([int(i) for batch in dm.train_dataloader() for i in batch[3]])
        seen["val"].append(sorted(int(i) for batch in dm.val_dataloader() for i in batch[3]))
    assert len(seen["train"][0]) == len(seen["train"][1]) > 0
    assert sorted(seen["val"][0] + seen["val"][1]) == sorted(i for i in range(SMALL["num_val"]) for _ in range(3))


def test_default_training_batches_mix_one_and_two_object_scenes(data_dir):
    """Caption length follows the number of objects; batches grouped by length would feed BatchNorm one kind of
    scene at a time (running statistics that fit neither), so by default they are not grouped."""

    def mixed_share(dm: CaptionDataModule) -> float:
        dm.prepare()
        kinds = [[len(dm.examples["train"][int(i)].boxes) for i in batch[3]] for batch in dm.train_dataloader()]
        return sum(len(set(k)) > 1 for k in kinds) / len(kinds)

    assert CaptionConfig().bucket_batches == 1
    assert mixed_share(synthetic_module(bucket_batches=1)) >= 0.8
    assert mixed_share(synthetic_module(bucket_batches=8)) <= 0.5  # pooled by length: mostly one kind per batch


def test_max_caption_len_leaves_long_training_captions_out(data_dir):
    dm = synthetic_module(max_caption_len=5)  # one-object captions have 4-7 words, two-object ones 10
    dm.prepare()
    assert 0 < dm.summary["train_pairs"] < 3 * SMALL["num_train"] and dm.summary["train_captions_too_long"] > 0
    assert dm.summary["val_pairs"] == 3 * SMALL["num_val"]


def test_folder_and_features_sources(tmp_path):
    names = [f"img{i}.png" for i in range(10)]
    for i, name in enumerate(names):
        png(tmp_path / "im" / name, (20, 16), (20 * i, 0, 0))
        np.save(tmp_path / "im" / f"{Path(name).stem}.npy", np.full((2, 2, 4), i, dtype=np.float32))
    table = {n: [f"A picture, number {i}.", "Something red."] for i, n in enumerate(names)}
    (tmp_path / "im" / "captions.json").write_text(json.dumps(table))
    cfg = CaptionConfig(batch_size=4)
    cfg.data.source, cfg.data.images, cfg.data.image_size = "folder", str(tmp_path / "im"), 8
    dm = CaptionDataModule(cfg)
    images, captions, _, index = next(iter(dm.train_dataloader()))
    assert images.shape == (4, 3, 8, 8) and dm.image_shape == (3, 8, 8)
    assert dm.references("test")[0].references[1] == "something red ."
    cfg.data.source, cfg.data.features, cfg.data.path = (
        "features",
        str(tmp_path / "im"),
        str(tmp_path / "im/captions.json"),
    )
    feats = CaptionDataModule(cfg)
    images, _, _, index = next(iter(feats.train_dataloader()))
    assert images.shape == (4, 2, 2, 4) and feats.image_shape == (2, 2, 4)
    assert [feats.examples["train"][int(i)].id for i in index] == [
        f"img{int(images[b, 0, 0, 0])}.png" for b in range(4)
    ]
    del table[names[0]]
    table["other.png"] = ["a caption"]
    (tmp_path / "im" / "captions.json").write_text(json.dumps(table))
    with pytest.raises(DataError, match="has no features for image 'other.png'"):
        CaptionDataModule(cfg).prepare()
