"""What ``seqlab.train`` returns: the run folder and what the run wrote into it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.results import RESULTS_FILE

METRICS_CSV = Path("csv") / "metrics.csv"  # written by the csv logger (logger=csv, the default)


@dataclass(frozen=True)
class Result:
    """One finished run. ``results``: the dict written to ``results.json``; ``metrics``: its ``train/``, ``val/``
    and ``test/`` entries; ``run_dir``: the run folder (``.hydra/`` config, checkpoints, logs)."""

    run_dir: Path
    results: dict[str, Any]

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> Result:
        """The result of an earlier run, read from its folder's results.json."""
        import json

        return cls(Path(run_dir), json.loads((Path(run_dir) / RESULTS_FILE).read_text(encoding="utf-8")))

    @property
    def metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.results.items() if k.startswith(("train/", "val/", "test/"))}

    @property
    def interrupted(self) -> bool:
        return bool(self.results.get("interrupted"))

    @property
    def checkpoint(self) -> Path | None:
        """The best checkpoint, else the last one (None when the run saved none)."""
        found = self.results.get("best_checkpoint") or self.results.get("last_checkpoint")
        return Path(found) if found else None

    @property
    def config(self) -> Any:
        """The composed config the run used (its ``.hydra/config.yaml``)."""
        from omegaconf import OmegaConf

        return OmegaConf.load(self.run_dir / ".hydra" / "config.yaml")

    def history(self) -> list[dict[str, float]]:
        """The rows of the csv logger's ``metrics.csv`` (step, epoch and the metrics logged then, as numbers);
        empty without a csv logger."""
        path = self.run_dir / METRICS_CSV
        if not path.is_file():
            return []
        with path.open(newline="", encoding="utf-8") as fh:
            return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(fh)]

    def load(self, which: str = "best", device: str = "cpu") -> Any:
        """The trained run with its task's inference methods (``seqlab.load``); ``which``: best or last."""
        from seqlab.errors import ConfigError
        from seqlab.session.loading import load

        if which not in ("best", "last"):
            raise ConfigError("which", f"unknown checkpoint '{which}'", allowed=["best", "last"])
        chosen = self.results.get(f"{which}_checkpoint") or self.results.get("last_checkpoint")
        return load(chosen or self.run_dir, device=device)
