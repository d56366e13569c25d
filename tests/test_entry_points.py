"""Every ``python -m seqlab.<tool>`` entry point answers ``--help`` with its usage and exit 0: each module is run as
``__main__`` (``runpy``, what ``python -m`` does) in this process, so the entry line itself is exercised."""

from __future__ import annotations

import runpy
import sys

import pytest

TOOLS = {  # module -> a key its usage names
    "seqlab.generate": "ckpt_path=",
    "seqlab.predict": "ckpt_path=",
    "seqlab.translate": "beam_size=",
    "seqlab.caption": "attention_plot=",
    "seqlab.embeddings": "export=",
    "seqlab.evaluate": "task.data.",
    "seqlab.report": "sort=",
    "seqlab.wandb_sweep": "method=",
    "seqlab.plugins": "--json",
}


@pytest.mark.parametrize("module", sorted(TOOLS))
def test_help_prints_the_usage_and_exits_zero(module, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    assert code == 0
    out = capsys.readouterr().out
    assert TOOLS[module] in out and f"python -m {module}" in out


def test_an_unknown_key_is_still_one_line_naming_the_keys(capsys):
    from seqlab.generate import main

    with pytest.raises(SystemExit) as exc:
        main(["lenght=5"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert err.startswith("seqlab.generate: error: lenght: unknown argument (allowed: ckpt_path=")


def test_the_sweep_summary_is_written_once_whoever_finishes_first():
    """on_multirun_end and the exit hook both finish the summary; the second call finds nothing pending."""
    from seqlab.sweep.summary import SweepSummary

    summary = SweepSummary()
    summary._finish()  # nothing pending: no file, no error
    assert summary._pending is None
