"""Card-declared post-processing: network outputs → labels (and probabilities), largest component.

Activation and argmax run on the inference device; only the compact label map (``uint8``/``uint16``) and,
when asked for, the probabilities travel to the CPU. Connected components are labelled on each label's
bounding box only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .card import OutputSpec
from .dependencies import import_torch

__all__ = ["keep_largest_component", "labels_from_output"]

_FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)


def _label_of_argmax(logits: Any, lut: Any) -> Any:
    """``lut[argmax(logits, dim=0)]``: the label value of the largest channel per voxel (first one on ties).

    For the few channels of a segmentation network, one pass per channel over contiguous memory is several
    times faster on the CPU than ``torch.argmax`` across the channel axis, and needs no index array.
    """
    torch = import_torch()
    if logits.shape[0] > 16:
        return lut[logits.argmax(dim=0)]
    best = logits[0].clone()
    labels = torch.full(logits.shape[1:], int(lut[0]), dtype=lut.dtype, device=logits.device)
    for channel in range(1, logits.shape[0]):
        better = logits[channel] > best
        labels.masked_fill_(better, int(lut[channel]))
        torch.maximum(best, logits[channel], out=best)
    return labels


def labels_from_output(output: Any, spec: OutputSpec, probabilities: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (and probabilities) from one image's network output.

    ``softmax``/``none``: label = value of the card label whose channel is the argmax (0 for unlisted
    channels); ``sigmoid``: each label where its channel's probability exceeds 0.5, later labels winning.

    Args:
        output: ``(1, C, *spatial)`` tensor of raw network outputs.
        spec: the card's output specification.
        probabilities: also return the per-channel probabilities (softmax or sigmoid; ``None`` for ``none``).

    Returns:
        ``(labels, probabilities)``: labels as ``uint8`` (``uint16`` above 255) numpy array of the spatial
        shape; probabilities as float32 ``(C, *spatial)`` numpy array or ``None``.
    """
    torch = import_torch()
    if output.shape[0] != 1:
        raise ValueError(f"Expected the output of one image, shape (1, C, ...); got {tuple(output.shape)}")
    logits = output[0]
    channels = int(logits.shape[0])
    for label in spec.labels:
        if label.channel >= channels:
            raise ValueError(f"Label '{label.name}' reads channel {label.channel} but the network has {channels}")
    max_value = max(label.value for label in spec.labels)
    dtype, numpy_dtype = (torch.uint8, np.uint8) if max_value < 256 else (torch.int32, np.uint16)
    probs = None
    if spec.activation == "sigmoid":
        probs = torch.sigmoid(logits)
        labels = torch.zeros(logits.shape[1:], dtype=dtype, device=logits.device)
        for label in spec.labels:
            labels[probs[label.channel] > 0.5] = label.value
    else:
        lut = torch.zeros(channels, dtype=dtype, device=logits.device)
        for label in spec.labels:
            lut[label.channel] = label.value
        labels = _label_of_argmax(logits, lut)
        if spec.activation == "softmax" and probabilities:
            probs = torch.softmax(logits, dim=0)
    labels_np = labels.cpu().numpy().astype(numpy_dtype, copy=False)
    probs_np = probs.float().cpu().numpy() if probs is not None and probabilities else None
    return labels_np, probs_np


def keep_largest_component(labels: np.ndarray, values: Iterable[int]) -> np.ndarray:
    """Keep only the largest 26-connected component of each label in ``values`` (others become 0), in place.

    Args:
        labels: integer label map (3D).
        values: label values to clean.

    Returns:
        ``labels`` (modified in place).
    """
    from scipy import ndimage

    values = [int(v) for v in values if 0 < int(v) <= int(labels.max(initial=0))]
    if not values:
        return labels
    boxes = ndimage.find_objects(labels, max_label=max(values))
    for value in values:
        box = boxes[value - 1]
        if box is None:
            continue
        region = labels[box]
        mask = region == value
        components, count = ndimage.label(mask, structure=_FULL_CONNECTIVITY)
        if count > 1:
            sizes = np.bincount(components.ravel())
            sizes[0] = 0
            region[mask & (components != int(sizes.argmax()))] = 0
    return labels
