"""seqlab-parity: the seqlab task contract (per-step, many-to-one, variable lengths), the data, chunks and checks."""

from __future__ import annotations

import pytest
import torch
from seqlab_parity.data import PAD_LABEL, parity_data
from seqlab_parity.task import ParityTask

from seqlab.api import ConfigError
from seqlab.testing import TaskContract, compose_run_config, validate

TINY = ("task.seq_len=8", "task.batch_size=4", "task.train_size=16", "task.val_size=8", "task.test_size=8")


class TestParityContract(TaskContract):  # per-step labels, truncated BPTT; the default model (lstm)
    task_name = "parity"
    overrides = (*TINY, "task.tbptt_steps=4")
    expected_metrics = ("val/loss", "val/acc", "test/loss", "test/acc")


class TestParityFinalContract(TaskContract):  # one label per sequence; TBPTT chunks that only carry the state
    task_name = "parity"
    model_name = "gru"
    overrides = (*TINY, "task.target=final", "task.tbptt_steps=3")
    expected_metrics = ("val/loss", "val/acc", "test/acc")

    def test_causal_task_rejects_a_bidirectional_model(self, tmp_path):
        pytest.skip("target=final accepts a bidirectional model (see test_final_target_allows_bidirectional)")


class TestParityVariableLengthContract(TaskContract):  # many-to-one over sequences of 3 to 8 bits
    task_name = "parity"
    overrides = (*TINY, "task.target=final", "task.min_len=3")
    expected_metrics = ("val/loss", "val/acc", "test/loss", "test/acc")

    def test_causal_task_rejects_a_bidirectional_model(self, tmp_path):
        pytest.skip("target=final accepts a bidirectional model")


def _cfg(*extra: str, model: str = "lstm"):
    return compose_run_config(["task=parity", f"model={model}", *TINY, *extra])


def test_labels_are_the_running_parity_and_padding_is_marked():
    x, y, lengths = parity_data(6, 12, seed=3, min_len=4)
    assert lengths.min() >= 4 and lengths.max() <= 12 and len(set(lengths.tolist())) > 1
    bits = x[..., 0].long()
    for b, n in enumerate(lengths.tolist()):
        for t in range(n):
            assert y[b, t] == bits[b, : t + 1].sum() % 2
        assert (y[b, n:] == PAD_LABEL).all() and (bits[b, n:] == 0).all()


def test_fixed_lengths_and_seeds():
    x, _, lengths = parity_data(4, 6, 1)
    assert lengths.tolist() == [6] * 4
    assert torch.equal(x, parity_data(4, 6, 1)[0])
    assert not torch.equal(x, parity_data(4, 6, 2)[0])


def test_split_batch_gives_each_chunk_its_lengths_and_marks_the_last():
    module, _ = ParityTask.build(_cfg("task.tbptt_steps=3"))
    x, y, _ = parity_data(2, 8, seed=0)
    chunks = module.split_batch([x, y, torch.tensor([8, 4])])
    assert [c[0].size(1) for c in chunks] == [3, 3, 2]
    assert [c[2].tolist() for c in chunks] == [[3, 3], [3, 1], [2, 0]]
    assert [c[3] for c in chunks] == [False, False, True]


def test_final_target_early_chunks_only_carry_the_state():
    module, _ = ParityTask.build(_cfg("task.target=final", "task.tbptt_steps=3"))
    chunks = module.split_batch(list(parity_data(4, 8, seed=0)))
    first = module.train_chunk(chunks[0], None)
    assert first.loss is None and first.count == 0 and first.state is not None and first.tokens == 12
    last = module.train_chunk(chunks[-1], first.state)
    assert last.loss is not None and last.loss.requires_grad and last.count == 4
    assert module.chunks_per_batch() == 1


@pytest.mark.parametrize("target", ["running", "final"])
def test_padding_changes_nothing(target):
    """The loss of a padded batch is the loss of its rows run alone, each at its own length (a bidirectional
    model, built without the task's checks, reads every step it is given: the lengths must reach it)."""
    torch.manual_seed(0)
    module, _ = ParityTask.build(_cfg(f"task.target={target}", "task.min_len=2", "model.bidirectional=true"))
    module.eval()
    x, y, lengths = parity_data(5, 8, seed=4, min_len=2)
    x[~(torch.arange(8)[None, :] < lengths[:, None])] = 7.0  # padding that would change any state it reached
    with torch.no_grad():
        batch = module.eval_batch([x, y, lengths], None, "val")
        total, count = 0.0, 0
        for b, n in enumerate(lengths.tolist()):
            alone = module.eval_batch([x[b : b + 1, :n], y[b : b + 1, :n], lengths[b : b + 1]], None, "val")
            total, count = total + float(alone.loss) * alone.count, count + alone.count
    assert batch.count == count == (int(lengths.sum()) if target == "running" else 5)
    assert float(batch.loss) == pytest.approx(total / count, abs=1e-5)


def test_final_target_allows_bidirectional_but_not_with_tbptt():
    validate(_cfg("task.target=final", "model.bidirectional=true"))
    with pytest.raises(ConfigError, match="task.tbptt_steps"):
        validate(_cfg("task.target=final", "model.bidirectional=true", "task.tbptt_steps=4"))
    with pytest.raises(ConfigError, match="model.bidirectional"):
        validate(_cfg("model.bidirectional=true"))


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["task.target=middle"], "task.target"),
        (["task.tbptt_steps=9"], "task.tbptt_steps"),
        (["task.seq_len=0"], "task.seq_len"),
        (["task.min_len=9"], "task.min_len"),
        (["task.min_len=3", "task.tbptt_steps=4"], "task.tbptt_steps"),
    ],
)
def test_bad_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        validate(_cfg(*overrides))


@pytest.mark.parametrize("target", ["running", "final"])
def test_a_pooled_model_is_refused(target):
    with pytest.raises(ConfigError, match="^model: 'cnn' cannot serve task 'parity'"):
        validate(_cfg(f"task.target={target}", model="cnn"))
