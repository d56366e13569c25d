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


class TestLSTMWeightDropContract(ModelContract):
    model_name = "lstm"
    overrides = ("model.weight_drop=0.5",)


class TestGRUCellsWeightDropContract(ModelContract):
    model_name = "gru"
    overrides = ("model.weight_drop=0.5", "model.impl=cells", "model.compile=false")


class TestTransformerContract(ModelContract):
    model_name = "transformer"  # carries no state: the state tests check that it returns None


class TestTransformerLearnedPositionsContract(ModelContract):
    model_name = "transformer"
    overrides = ("model.positions=learned", "model.max_len=16")


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
