"""seqlab's own models and the charlm task pass the contract suites plugin authors subclass (seqlab.testing)."""

from __future__ import annotations

from pathlib import Path

from seqlab.testing import ModelContract, TaskContract


class TestLSTMContract(ModelContract):
    model_name = "lstm"


class TestGRUContract(ModelContract):
    model_name = "gru"


class TestRNNContract(ModelContract):
    model_name = "rnn"
    overrides = ("model.nonlinearity=relu",)


class TestCharLMContract(TaskContract):
    task_name = "charlm"
    overrides = (
        "task.batch_size=2",
        "task.seq_len=12",
        "task.tbptt_steps=6",
        "task.embedding_dim=8",
        "task.sample.length=10",
    )
    expected_metrics = ("val/loss", "val/bpc", "test/loss", "test/bpc")

    def data_overrides(self, tmp_path: Path) -> list[str]:
        path = tmp_path / "corpus.txt"
        path.write_text("".join(f"line {i}: the quick brown fox, {i % 5}\n" for i in range(120)), encoding="utf-8")
        return [f"task.data.path={path}"]
