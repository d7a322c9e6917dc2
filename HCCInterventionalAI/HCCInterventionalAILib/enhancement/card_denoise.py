"""CT denoising with a registered model card (an image-to-image CT network): the published ldct-benchmark networks,
or any supervised denoiser whose card is registered. The card says how to feed the network: ``input_normalisation``
(``x = (clip(HU) + hu_offset − mean) / scale``; ``residual``: the output is ``x + f(x)``; mapped back the same
way), ``input.spatial_dims`` (2: slice by slice along k, as the ldct-benchmark networks were trained, tiled in
overlapping windows of ``input.patch_size`` when the card gives one, as the project's supervised denoiser
``ct-denoise-simulated-lowdose``; 3: sliding windows of ``input.patch_size``), ``input.slice_shape`` (the only
slice size a 2-D network accepts, e.g. TransCT's 512×512; other sizes are refused before anything is fetched).

Weights are fetched and SHA-256-verified by the model library only when a model is run (never at import or listing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..imaging.volume import Volume
from ..progress import Progress, ProgressCallback, as_progress
from .errors import EnhancementInputError
from .lowdose import require_ct

__all__ = ["DENOISER_TASK", "denoiser_cards", "denoise_with_card", "is_denoiser_card"]

#: Registry task of denoising networks.
DENOISER_TASK = "image-to-image"


def is_denoiser_card(card: Any) -> bool:
    """Whether ``card`` is an image-to-image network on CT (one input channel)."""
    return card.task == DENOISER_TASK and card.input.modality.upper() == "CT" and len(card.input.channels) == 1


def denoiser_cards(registry: Any = None) -> list[Any]:
    """The newest version of every registered CT denoiser card (:func:`is_denoiser_card`), sorted by id.

    Args:
        registry: a :class:`~HCCInterventionalAILib.models.registry.ModelRegistry`; default: a fresh one on the
            default folders (built-in, user, ``$HCCAI_MODEL_CARDS``).
    """
    if registry is None:
        from ..models.registry import ModelRegistry

        registry = ModelRegistry()
    return sorted((card for card in registry.list_models(DENOISER_TASK) if is_denoiser_card(card)), key=lambda c: c.id)


def _tile_size(card: Any, rows: int, cols: int) -> tuple[int, int]:
    """2-D window: the card's patch size, limited to the slice and rounded down to the network's total stride."""
    stride = int(np.prod((card.network.args or {}).get("strides", [1]))) if card.network else 1
    if rows < stride or cols < stride:
        raise EnhancementInputError(f"Slices of {rows}×{cols} pixels are too small for the network (≥ {stride})")
    patch = card.input.patch_size
    roi = (min(int(patch[0]), rows), min(int(patch[1]), cols))
    return roi[0] - roi[0] % stride, roi[1] - roi[1] % stride


def _run_network(model: Any, array: np.ndarray, card: Any, batch_slices: int, overlap: float,
                 progress: Progress) -> np.ndarray:
    import torch

    from ..models.inference import sliding_window_predict

    if card.input.spatial_dims == 2 and card.input.patch_size:  # tiled: windows over every slice, slices as batch
        roi = _tile_size(card, *array.shape[1:])
        output = sliding_window_predict(model, array[:, None], roi, overlap=overlap, progress=progress,
                                        mode=card.inference.blend_mode, output_device="cpu",
                                        mixed_precision=card.inference.mixed_precision)
        return output[:, 0].numpy()
    if card.input.spatial_dims == 2:
        out = np.empty_like(array, dtype=np.float32)
        for start in range(0, array.shape[0], batch_slices):
            progress.update(start / array.shape[0], f"slices {start + 1}-{min(start + batch_slices, array.shape[0])}")
            batch = torch.from_numpy(np.ascontiguousarray(array[start:start + batch_slices, None]))
            out[start:start + batch_slices] = model(batch)[:, 0].cpu().numpy()
        return out
    roi = card.input.patch_size or array.shape
    output = sliding_window_predict(model, array, roi, overlap=overlap, progress=progress,
                                    mode=card.inference.blend_mode, output_device="cpu")
    return output[0, 0].numpy()


def denoise_with_card(ct: Volume, card: Any, *, device: str | None = None, batch_slices: int = 4,
                      overlap: float | None = None, cache_dir: str | Path | None = None,
                      progress: Progress | ProgressCallback | None = None) -> Volume:
    """Denoise a CT (HU) with the network of a model card.

    Args:
        ct: the CT (HU), any grid (2D networks run at the image's own in-plane spacing, as ldct-benchmark does).
        card: the card or its id (``id`` / ``id@version``).
        device: torch device (None: CUDA when available).
        batch_slices: slices per forward pass (whole-slice 2D networks).
        overlap: sliding-window overlap (tiled and 3D networks); default: the card's ``inference.overlap``.
        cache_dir: model download cache (default: the model library's).
        progress: progress and cancellation (loading 20 %, inference 80 %).

    Returns:
        The denoised CT, a new volume on the same grid.

    Raises:
        NotCTError: the input is not a CT in HU.
        EnhancementInputError: the card is not a CT image-to-image network, the slices are not the size the card
            requires (``input.slice_shape``, e.g. TransCT's 512×512; checked before the weights are fetched), or
            they are smaller than a tiled network's total stride.
        ModelError subclasses: the weights cannot be fetched, verified or loaded.
    """
    from ..models.loading import load_model, resolve_card

    require_ct(ct)
    ct.require_finite()
    reporter = as_progress(progress)
    card = resolve_card(card)
    if not is_denoiser_card(card):
        raise EnhancementInputError(f"Model '{card.key}' is a {card.task} model on {card.input.modality}, not a CT "
                                    "denoiser (image-to-image on CT)")
    required = card.input.slice_shape
    if required is not None and tuple(ct.array.shape[1:]) != tuple(required):
        rows, cols = ct.array.shape[1:]
        raise EnhancementInputError(f"Model '{card.key}' accepts only slices of {required[0]}×{required[1]} pixels, "
                                    f"but this CT has {rows}×{cols}; resample or crop it in-plane first")
    overlap = card.inference.overlap if overlap is None else float(overlap)
    if not 0.0 <= overlap < 1.0:
        raise EnhancementInputError(f"overlap must be in [0, 1), got {overlap}")
    model = load_model(card, device=device or "auto", cache_dir=cache_dir, progress=reporter.sub(0.0, 0.2))
    array = np.asarray(ct.array, dtype=np.float32)
    norm = card.input_normalisation
    x = norm.forward(array).astype(np.float32) if norm is not None else array
    y = _run_network(model, x, card, max(1, int(batch_slices)), overlap, reporter.sub(0.2, 1.0))
    if norm is not None and norm.residual:
        y = x + y
    hu = norm.inverse(y).astype(np.float32) if norm is not None else y.astype(np.float32)
    reporter.update(1.0, f"denoised with {card.name}")
    metadata = {**ct.metadata, "denoiser": card.key, "model_sha256": {f.filename: f.sha256 for f in card.files}}
    return ct.with_array(hu, name=f"{ct.name} denoised ({card.id})", modality="CT", units="HU", metadata=metadata)
