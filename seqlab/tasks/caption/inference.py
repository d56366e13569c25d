"""``caption``: a trained captioning run describes images (files or tensors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab.errors import ConfigError
from seqlab.tasks.inference import Inference, decode_overrides, vocabularies


class CaptionInference(Inference):
    offers = ("caption", "evaluate")

    def trained_builds(self) -> list[tuple[Any, str, list[Any]]]:
        return [vocabularies(self.module.hparams["itos"])]

    def caption(
        self,
        images: Any,
        method: str | None = None,
        beam_size: int | None = None,
        alpha: float | None = None,
        temperature: float | None = None,
        attention_plot: str | Path | None = None,
    ) -> list[dict[str, Any]]:
        """Captions (``{"text", "tokens", "score", "attention"}``) of ``images``: a path, a list of paths, an image
        tensor (C, H, W) or a batch (B, C, H, W), read as in training. ``method``, ``beam_size``, ``alpha``,
        ``temperature`` replace the run's ``task.decode``; ``attention_plot``: a PNG of each image, its caption
        and (soft attention) where each word looked."""
        from seqlab.output_paths import check_output_file, writing
        from seqlab.tasks.caption.config import DECODE_METHODS
        from seqlab.tasks.caption.plots import plot_captions

        overrides = decode_overrides(DECODE_METHODS, method, beam_size, alpha, temperature)
        plot_path = check_output_file("attention_plot", attention_plot) if attention_plot else None
        batch = self._images(images)
        results = self.module.caption(batch, **overrides)
        if plot_path is not None:
            grid = self.module.image_encoder.grid_shape_for(tuple(batch[0].shape)) if self.module.soft else None
            with writing("attention_plot", plot_path):
                plot_captions(
                    list(batch),
                    [r["text"] for r in results],
                    [r["tokens"] for r in results],
                    [r["attention"] for r in results],
                    grid,
                    plot_path,
                )
        return results

    def _images(self, images: Any) -> Any:
        import torch

        from seqlab.tasks.caption.sources import read_image

        if isinstance(images, torch.Tensor):
            return images.unsqueeze(0) if images.dim() == 3 else images
        paths = [Path(images)] if isinstance(images, str | Path) else [Path(p) for p in images]
        if not paths:
            raise ConfigError("image", "names no file")
        if self.module.task.data.source == "features":
            raise ConfigError("image", "this model reads precomputed features, not images")
        return torch.stack([read_image(p, self.module.task.data.image_size, key="image") for p in paths])
