"""Inference of the MAA → Y-90 translation through the common model-loading library."""

from __future__ import annotations

from typing import Any

from HCCInterventionalAILib.imaging.volume import Volume
from HCCInterventionalAILib.progress import Progress, ProgressCallback, as_progress

from .data import PairedCase, network_input

__all__ = ["predict_y90_distribution"]


def predict_y90_distribution(
    model: Any,
    maa: Volume,
    ct: Volume | None = None,
    *,
    device: str = "auto",
    progress: Progress | ProgressCallback | None = None,
) -> Volume:
    """Predicted Y-90 activity distribution on the MAA grid (relative units, mean 1 over the field of view).

    Args:
        model: a model card, card id, :class:`~HCCInterventionalAILib.models.LoadedModel` or a torch module.
        maa: pre-treatment 99mTc-MAA SPECT (counts).
        ct: CT (any grid; resampled onto the SPECT grid), optional.
        device: "auto", "cpu" or "cuda".
        progress: progress reporter; cancellation raises ``Cancelled``.
    """
    import torch

    from HCCInterventionalAILib.models import load_model, sliding_window_predict
    from HCCInterventionalAILib.models.card import ModelCard

    from .network import to_activity

    progress = as_progress(progress)
    if isinstance(model, (str, ModelCard)):
        model = load_model(model, device=device)
    roi = (32, 32, 32)
    card = getattr(model, "card", None)
    if card is not None and card.input.patch_size:
        roi = tuple(card.input.patch_size)
    case = PairedCase("inference", maa, None, ct).prepared()
    inputs = torch.from_numpy(network_input(case))
    logits = sliding_window_predict(model, inputs, roi, overlap=0.5, device=device, progress=progress)
    activity = to_activity(torch.as_tensor(logits), inputs[None]).squeeze().cpu().numpy()
    activity *= activity.size / max(float(activity.sum()), 1e-12)
    provenance = model.provenance if card is not None else {"model": type(model).__name__, "trained_here": True}
    return maa.with_array(activity.astype("float32"), name=f"{maa.name} → predicted Y-90", modality="PT",
                          units="relative activity", metadata={"model": provenance})
