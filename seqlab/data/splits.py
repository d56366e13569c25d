"""In-order (chronological) train | val | test splits by fraction."""

from __future__ import annotations

from seqlab.errors import ConfigError


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) of ``n`` items split in order; each fraction in (0, 1), their sum below 1."""
    for key, frac in (("task.data.val_fraction", val_fraction), ("task.data.test_fraction", test_fraction)):
        if not 0.0 < frac < 1.0:
            raise ConfigError(key, f"must be in (0, 1), got {frac}")
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError("task.data.val_fraction", "val_fraction + test_fraction must be < 1")
    n_val, n_test = int(n * val_fraction), int(n * test_fraction)
    return n - n_val - n_test, n_val, n_test
