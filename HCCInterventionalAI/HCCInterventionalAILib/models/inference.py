"""Memory-aware sliding-window inference with progress and cancellation.

Wraps :func:`monai.inferers.sliding_window_inference`. The window batch size is chosen from the free GPU
memory (by measuring one window's peak memory), the stitched output stays on the GPU when it fits, and the
predictor reports progress after each window batch, which is also where a cancellation takes effect.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from ..device import autocast, free_memory_bytes, select_device
from ..progress import Progress, ProgressCallback, as_progress
from .dependencies import import_monai, import_torch

__all__ = ["CPU_SW_BATCH_SIZE", "choose_sw_batch_size", "count_windows", "sliding_window_predict"]

logger = logging.getLogger(__name__)

#: Windows per forward pass on the CPU (larger batches do not run faster there, they only cost memory).
CPU_SW_BATCH_SIZE = 1
_MAX_GPU_BATCH = 32
_GPU_MEMORY_FRACTION = 0.7


def count_windows(image_size: Sequence[int], roi_size: Sequence[int], overlap: float) -> int:
    """Number of windows MONAI's sliding window visits for one image.

    Along each axis of size ``n`` with window ``r`` (the image padded to ``r`` when smaller), the step is
    ``s = max(int(r * (1 - overlap)), 1)`` (``r`` when ``n == r``) and the count is ``ceil((n - r) / s) + 1``.
    """
    total = 1
    for size, roi in zip(image_size, roi_size, strict=True):
        size = max(int(size), int(roi))
        step = roi if size == roi else max(int(roi * (1 - overlap)), 1)
        total *= math.ceil((size - roi) / step) + 1
    return total


def _window_peak_bytes(model: Any, window_shape: tuple[int, ...], device: Any, mixed_precision: bool) -> int:
    """Peak CUDA memory of one forward pass on a ``(1, C, *roi)`` window of zeros."""
    torch = import_torch()
    torch.cuda.synchronize(device)
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad(), autocast(device, mixed_precision):
        model(torch.zeros(window_shape, device=device))
    torch.cuda.synchronize(device)
    return max(int(torch.cuda.max_memory_allocated(device) - baseline), 1)


def choose_sw_batch_size(model: Any, roi_size: Sequence[int], in_channels: int, device: Any, *,
                         n_windows: int | None = None, reserved_bytes: int = 0, mixed_precision: bool = True) -> int:
    """Windows per forward pass: from free memory on CUDA, :data:`CPU_SW_BATCH_SIZE` elsewhere.

    On CUDA one window is run to measure its peak memory ``m``; the batch is
    ``floor(0.7 * (free - reserved_bytes) / m)``, clipped to ``[1, min(32, n_windows)]``.

    Args:
        model: the callable network (already on ``device``).
        roi_size: window size.
        in_channels: input channels.
        device: ``torch.device``.
        n_windows: windows in the image (an upper bound for the batch).
        reserved_bytes: memory to leave free (e.g. for the stitched output).
        mixed_precision: measure under autocast, as inference will run.
    """
    torch = import_torch()
    device = torch.device(device)
    limit = min(_MAX_GPU_BATCH, n_windows or _MAX_GPU_BATCH)
    if device.type != "cuda":
        return max(min(CPU_SW_BATCH_SIZE, limit), 1)
    per_window = _window_peak_bytes(model, (1, in_channels, *roi_size), device, mixed_precision)
    budget = _GPU_MEMORY_FRACTION * max(free_memory_bytes(device) - reserved_bytes, 0)
    batch = int(max(min(budget // per_window, limit), 1))
    logger.info("Sliding window: %d windows per batch (%.0f MiB per window, %.0f MiB free)",
                batch, per_window / 2**20, free_memory_bytes(device) / 2**20)
    return batch


class _ReportingPredictor:
    """Calls the model on each window batch and reports progress; cancellation raises here."""

    def __init__(self, model: Any, progress: Progress, total: int) -> None:
        self.model, self.progress, self.total, self.done = model, progress, max(total, 1), 0

    def __call__(self, windows: Any, *args: Any, **kwargs: Any) -> Any:
        self.progress.check()
        output = self.model(windows, *args, **kwargs)
        self.done += int(windows.shape[0])
        self.progress.update(self.done / self.total, f"Inference: window {self.done} of {self.total}")
        return output


def _as_batch(volume: Any, spatial_dims: int) -> Any:
    torch = import_torch()
    tensor = volume if isinstance(volume, torch.Tensor) else torch.from_numpy(_contiguous(volume))
    extra = tensor.ndim - spatial_dims
    if extra not in (0, 1, 2):
        raise ValueError(f"Expected a {spatial_dims}D image, optionally with channel and batch axes; got shape "
                         f"{tuple(tensor.shape)}")
    for _ in range(2 - extra):
        tensor = tensor.unsqueeze(0)
    return tensor.float() if not tensor.is_floating_point() else tensor


def _contiguous(array: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(array, dtype=np.float32)


def _resolve_model_device(model: Any, device: Any) -> tuple[Any, Any, bool]:
    """(callable, torch.device, mixed precision) for a LoadedModel or a plain ``torch.nn.Module``."""
    torch = import_torch()
    from .loading import LoadedModel

    if isinstance(model, LoadedModel):
        if str(device) not in ("auto", str(model.device)):
            logger.info("Sliding window: the model was loaded on %s; running there, not on %s", model.device, device)
        return model, model.device, model.mixed_precision and not model.is_onnx
    device = select_device(device)
    if isinstance(model, torch.nn.Module):
        model.to(device).eval()
    return model, device, True


def sliding_window_predict(
    model: Any,
    volume: Any,
    roi_size: Sequence[int],
    *,
    overlap: float = 0.25,
    sw_batch_size: int | None = None,
    device: Any = "auto",
    progress: Progress | ProgressCallback | None = None,
    mode: str = "gaussian",
    mixed_precision: bool | None = None,
    output_device: Any = None,
) -> Any:
    """Run ``model`` over ``volume`` in overlapping windows and stitch the outputs.

    Args:
        model: a :class:`~.loading.LoadedModel` (runs on its own device) or a ``torch.nn.Module`` (moved to
            ``device`` and put in eval mode), or any callable on ``(N, C, *roi)`` tensors.
        volume: array or tensor of shape ``spatial``, ``(C, *spatial)`` or ``(N, C, *spatial)``.
        roi_size: window size in voxels, one value per spatial axis.
        overlap: fraction of overlap between neighbouring windows (0 ≤ overlap < 1).
        sw_batch_size: windows per forward pass; default: from free GPU memory, 1 on the CPU.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ... for a plain module.
        progress: reported after every window batch; a cancellation raises
            :class:`~HCCInterventionalAILib.progress.Cancelled` at the next batch.
        mode: blending of overlapping windows, ``"gaussian"`` or ``"constant"``.
        mixed_precision: autocast on CUDA; default: on (or as the model's card says).
        output_device: where the stitched output is kept; default: the model's device when the output fits
            in a third of the free GPU memory, else the CPU.

    Returns:
        A float32 tensor ``(N, C_out, *spatial)`` on ``output_device``.

    Raises:
        Cancelled: the user cancelled.
    """
    torch = import_torch()
    inferers = import_monai().inferers
    progress = as_progress(progress)
    roi_size = tuple(int(r) for r in roi_size)
    batch = _as_batch(volume, len(roi_size))
    predictor, device, model_precision = _resolve_model_device(model, device)
    mixed_precision = model_precision if mixed_precision is None else mixed_precision
    spatial = tuple(batch.shape[2:])
    n_windows = count_windows(spatial, roi_size, overlap)
    if output_device is None:
        output_device = device
        free = free_memory_bytes(device)
        if free is not None:
            # Stitched output + weight map, float32, for a guessed number of channels (at least 4).
            output_bytes = 4 * batch.shape[0] * max(4, batch.shape[1]) * math.prod(spatial) * 2
            output_device = device if output_bytes < free / 3 else torch.device("cpu")
    output_device = torch.device(output_device)
    batch = batch.to(device if output_device == device else batch.device)
    if sw_batch_size is None:
        reserved = 0 if output_device.type == "cpu" else 4 * math.prod(batch.shape) * 8
        sw_batch_size = choose_sw_batch_size(predictor, roi_size, int(batch.shape[1]), device,
                                             n_windows=n_windows, reserved_bytes=reserved,
                                             mixed_precision=mixed_precision)
    reporter = _ReportingPredictor(predictor, progress, n_windows * int(batch.shape[0]))
    progress.update(0.0, f"Inference: {n_windows} windows of {roi_size} on {device}")
    with torch.no_grad(), autocast(device, mixed_precision):
        output = inferers.sliding_window_inference(
            batch, roi_size, sw_batch_size, reporter, overlap=overlap, mode=mode,
            sw_device=device, device=output_device,
        )
    return output.float()
