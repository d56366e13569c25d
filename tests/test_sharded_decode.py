"""decode_stage_once: each item decoded once, in order, by the rank that owns it."""

from __future__ import annotations

from types import SimpleNamespace

from seqlab.training.sharded_decode import decode_stage_once


def module_on(rank: int, world: int, sanity: bool = False, items: list | None = None) -> SimpleNamespace:
    data = SimpleNamespace(references=lambda stage: list(items if items is not None else range(10)))
    trainer = SimpleNamespace(sanity_checking=sanity, datamodule=data, global_rank=rank, world_size=world)
    return SimpleNamespace(trainer=trainer)


def test_one_process_decodes_every_item_once_and_val_is_limited():
    calls: list[list] = []

    def decode(part):
        calls.append(part)
        return [f"out{x}" for x in part]

    done = decode_stage_once(module_on(0, 1), "test", None, decode)
    assert done.items == list(range(10)) and done.decoded == 10
    assert done.outputs == {i: f"out{i}" for i in range(10)} and calls == [list(range(10))]
    assert decode_stage_once(module_on(0, 1), "val", 3, decode).outputs == {0: "out0", 1: "out1", 2: "out2"}


def test_a_rank_decodes_only_its_share_and_nothing_runs_in_the_sanity_check_or_without_items():
    seen: list = []
    decode_stage_once(module_on(1, 3), "test", None, lambda part: seen.extend(part) or part)
    assert seen == [1, 4, 7]  # outside torch.distributed nothing is gathered: this rank's share only
    assert decode_stage_once(module_on(0, 1, sanity=True), "val", None, lambda p: p) is None
    assert decode_stage_once(module_on(0, 1, items=[]), "test", None, lambda p: p) is None
    no_data = SimpleNamespace(trainer=SimpleNamespace(sanity_checking=False, datamodule=None))
    assert decode_stage_once(no_data, "test", None, lambda p: p) is None
