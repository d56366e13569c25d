"""What a trained forecaster offers: ``evaluate`` (MAE/MASE on a series scaled as the run was trained)."""

from __future__ import annotations

from typing import Any

from seqlab.tasks.inference import Inference


class ForecastInference(Inference):
    offers = ("evaluate",)

    def trained_builds(self) -> list[tuple[Any, str, list[Any]]]:
        """The run's scaler (the mean and std of its training series): a new series is scaled as the run was."""
        import numpy as np

        from seqlab.tasks.forecast.series import Scaler

        saved = self.module.hparams["data"]
        return [(Scaler, "fit", [Scaler(mean=np.asarray(saved["mean"]), std=np.asarray(saved["std"]))])]
