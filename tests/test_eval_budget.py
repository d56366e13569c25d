"""A step- or time-budgeted run validates on a bounded subset and tests once on the whole test set."""

from __future__ import annotations

import json

from conftest import TINY, compose_config, run_inprocess

from seqlab.training.eval_budget import eval_limits

UNBOUNDED = [a for a in TINY if not a.startswith(("trainer.limit_val_batches", "trainer.limit_test_batches"))]


def test_budgeted_runs_bound_validation_and_leave_the_test_whole():
    assert eval_limits(compose_config(["trainer.max_steps=100"])) == {"limit_val_batches": 50}
    assert eval_limits(compose_config(["trainer.max_steps=-1", "trainer.max_time=00:00:05:00"])) == {
        "limit_val_batches": 50
    }
    assert eval_limits(compose_config(["budget=long"])) == {}, "an epoch-bounded run validates on everything"
    assert eval_limits(compose_config(["trainer.max_steps=100", "trainer.limit_val_batches=7"])) == {}
    assert eval_limits(compose_config(["trainer.max_steps=100", "eval.val_batches=null", "eval.test_batches=3"])) == {
        "limit_test_batches": 3
    }


def test_a_step_capped_run_validates_on_the_subset_and_announces_the_test(tmp_path, tiny_corpus):
    proc = run_inprocess(
        [*UNBOUNDED, f"task.data.path={tiny_corpus}", "eval.val_batches=2", "hydra.run.dir=run"], cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["val_batches"] == 2
    assert results["test_batches"] > 2, "the test covers the whole test split"
    assert f"testing on the whole test set: {results['test_batches']} batches, about" in proc.stdout
