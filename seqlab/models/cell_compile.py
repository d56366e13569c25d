"""The ``model.compile`` option of ``impl=cells``: whether a :class:`CellStack` runs its compiled kernels.

- ``false``: the eager textbook loop (autograd records every step).
- ``true``: the TorchScript kernels with hand-derived BPTT (:mod:`seqlab.models.cell_kernels`); where none exists
  (the layernorm/peephole/cho variants) or they fail a self-check, a warning and the eager loop.
- ``auto`` (default): the kernels wherever one exists and passes the self-check, silently eager otherwise. On the
  CPU we measured (docs/benchmarks.md) the kernels were faster than the eager loop in every configuration but one,
  where they tied (within 1%); GPUs were not measured.

Never crashes: a failure to script, a failed self-check, or an error while running falls back to eager with a
warning. ``torch.compile`` (inductor) of the step was measured too and not chosen; see docs/models.md.
"""

from __future__ import annotations

import warnings
from functools import cache

import torch

COMPILE_OPTIONS = ("auto", "true", "false")


def normalize_compile(value: object) -> str:
    """``True``/``"True"``/``"true"`` -> ``"true"`` (YAML and the command line give booleans); others lowercased."""
    return str(value).strip().lower()


@cache
def kernel_problem(kernel_mode: str) -> str | None:
    """None when the compiled kernel of ``kernel_mode`` matches the eager loop (values and gradients) on a tiny
    padded, bidirectional float64 batch; else a one-line reason. Run once per mode and process, with the caller's
    random state and grad mode left as they were."""
    try:
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.enable_grad():
            return _compare(kernel_mode)
    except Exception as exc:  # anything at all: the eager path still works
        return f"{type(exc).__name__}: {exc}"


def _compare(kernel_mode: str) -> str | None:
    from seqlab.models.cell_stack import CellStack

    mode, _, nonlinearity = kernel_mode.partition("_")
    results = []
    for compiled in (False, True):
        torch.manual_seed(0)
        stack = CellStack(mode, 3, 2, 2, bidirectional=True, nonlinearity=nonlinearity or "tanh", compiled=compiled)
        stack = stack.double()
        x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
        out, _ = stack(x, lengths=torch.tensor([4, 2]))
        (out * torch.arange(out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        results.append([out.detach(), x.grad] + [p.grad for p in stack.parameters()])
    for eager, fast in zip(*results):
        if fast is None or not torch.allclose(eager, fast, atol=1e-9, rtol=1e-7):
            return "compiled kernel disagrees with the eager cells"
    return None


def use_compiled(option: object, kernel_mode: str | None, variant: str = "standard") -> bool:
    """Resolve ``model.compile`` for a stack whose compiled kernel is ``kernel_mode`` (None: no kernel)."""
    option = normalize_compile(option)
    if option == "false":
        return False
    if kernel_mode is None:
        if option == "true":
            warnings.warn(
                f"model.compile=true: variant '{variant}' has no compiled kernel; running the eager cells",
                stacklevel=2,
            )
        return False
    problem = kernel_problem(kernel_mode)
    if problem is not None:
        warnings.warn(
            f"model.compile={option}: compiled {kernel_mode} cells unusable ({problem}); running eagerly", stacklevel=2
        )
        return False
    return True
