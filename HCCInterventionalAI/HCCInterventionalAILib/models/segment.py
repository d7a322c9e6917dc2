"""The 3D segmentation runner: a volume in, a label map on the same grid (and probabilities) out.

Pipeline, each step as the model card declares it: resample to the model's spacing (linear), reorient,
normalise intensities (on the device) → sliding-window network → activation and argmax (on the device),
back to the source orientation, largest connected component per label, resample the labels onto the
source grid (nearest neighbour).

Example:
    >>> result = segment_volume("liver-ct", ct_volume, progress=print_progress)  # doctest: +SKIP
    >>> segmentation = result.to_segmentation()  # named segments with SNOMED terminology
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging.segmentation import Segmentation
from ..imaging.terminology import Code, Terminology, lookup_terminology
from ..imaging.volume import Geometry, Volume
from ..progress import Progress, ProgressCallback, as_progress
from .card import ModelCard, OutputLabel
from .inference import sliding_window_predict
from .loading import LoadedModel, load_model, resolve_card
from .postprocessing import keep_largest_component, labels_from_output
from .preprocessing import check_inputs, prepare_input

__all__ = ["SegmentationOutput", "segment_volume"]


def _terminology(label: OutputLabel) -> Terminology | None:
    if not label.terminology:
        return None
    codes = {key: Code(entry["scheme"], entry["value"], entry["meaning"]) for key, entry in label.terminology.items()}
    known = lookup_terminology(label.name)
    color = label.color or (known.color if known else (0.5, 0.5, 0.5))
    return Terminology(codes["category"], codes["type"], tuple(color), codes.get("region"))


@dataclass
class SegmentationOutput:
    """Result of :func:`segment_volume`.

    Attributes:
        labels: label map on the source volume's grid (values as in the card).
        card: the model card used.
        probabilities: ``(C, k, j, i)`` float32 per network channel on :attr:`probability_geometry`, or None.
        probability_geometry: the grid the network ran on (the source grid unless resampled).
        provenance: model id, version, checksums, device and library versions.
        timings: seconds spent in ``load``, ``preprocess``, ``inference`` and ``postprocess``.
    """

    labels: Volume
    card: ModelCard
    probabilities: np.ndarray | None = None
    probability_geometry: Geometry | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def label_names(self) -> dict[int, str]:
        return self.card.output.names

    def to_segmentation(self, name: str | None = None) -> Segmentation:
        """Named segments (one per non-zero card label, in card order) with the card's terminology and colours."""
        segmentation = Segmentation(self.labels.geometry, name=name or f"{self.card.name} segmentation")
        for label in self.card.output.labels:
            if label.value != 0:
                segmentation.add(label.name, self.labels.array == label.value, label.color, _terminology(label))
        return segmentation

    def probability_volume(self, value: int) -> Volume:
        """Probability map of the label ``value`` on the source grid (linear resampling when needed)."""
        if self.probabilities is None:
            raise ValueError("No probabilities were kept (segment_volume(..., probabilities=False) or activation none)")
        label = next((item for item in self.card.output.labels if item.value == value), None)
        if label is None:
            raise KeyError(f"The model has no label {value}; labels: {self.label_names}")
        volume = Volume(self.probabilities[label.channel], self.probability_geometry,
                        name=f"{label.name} probability", units="probability")
        if self.probability_geometry.same_grid(self.labels.geometry):
            return volume
        from ..imaging.resample import resample_to_geometry

        return resample_to_geometry(volume, self.labels.geometry, interpolation="linear")


def _segment_classical(card: ModelCard, volumes: list[Volume], progress: Progress) -> SegmentationOutput:
    """Run a non-learning algorithm named by the card (``module:function`` returning a label array)."""
    import importlib

    clock = time.perf_counter()
    module_name, function_name = card.algorithm.split(":")
    algorithm = getattr(importlib.import_module(module_name), function_name)
    labels = np.asarray(algorithm(volumes, progress))
    source = volumes[0]
    provenance = {"id": card.id, "version": card.version, "format": "classical", "algorithm": card.algorithm}
    label_volume = Volume(labels, source.geometry, name=f"{source.name} {card.name}", units="label",
                          metadata={"labels": card.output.names, "model": provenance})
    return SegmentationOutput(label_volume, card, None, None, provenance,
                              {"segment": time.perf_counter() - clock})


def segment_volume(
    card: ModelCard | str,
    volume: Volume | Sequence[Volume],
    progress: Progress | ProgressCallback | None = None,
    *,
    model: LoadedModel | None = None,
    device: Any = "auto",
    cache_dir: str | Path | None = None,
    overlap: float | None = None,
    sw_batch_size: int | None = None,
    largest_component: bool | Sequence[int] | None = None,
    probabilities: bool = True,
) -> SegmentationOutput:
    """Segment a volume with a model card's network and declared pre/post-processing.

    Args:
        card: the model card, or its id in the registry.
        volume: the image, or one volume per input channel (e.g. CT phases) on the same grid.
        progress: progress and cancellation (load 10 %, preprocess 5 %, inference 75 %, postprocess 10 %).
        model: an already loaded model (default: :func:`~.loading.load_model`, LRU-cached).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ... when the model is loaded here.
        cache_dir: download cache folder.
        overlap: sliding-window overlap (default: the card's, else 0.25).
        sw_batch_size: windows per forward pass (default: from free GPU memory).
        largest_component: override the card: True (all labels), False, or a list of label values.
        probabilities: keep per-channel probabilities in the result.

    Returns:
        The label map on the source grid, probabilities, provenance and stage timings.

    Raises:
        ValueError: the card is not a segmentation model.
        ModelInputError: the input does not fit the card (number of volumes, modality).
        Cancelled: the user cancelled.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    card = resolve_card(card)
    if card.task != "segmentation" or card.output is None:
        raise ValueError(f"Model {card.key} is a {card.task} model, not a segmentation model")
    volumes = [volume] if isinstance(volume, Volume) else list(volume)
    progress = as_progress(progress)
    if card.format == "classical":  # channels after the first are optional phases; the algorithm checks them
        check_inputs(volumes[:1], replace(card.input, channels=card.input.channels[:1]))
        return _segment_classical(card, volumes[: len(card.input.channels)], progress)
    check_inputs(volumes, card.input)  # before loading (or downloading) anything
    model = model or load_model(card, device=device, cache_dir=cache_dir, progress=progress.sub(0.0, 0.1))
    timings["load"] = time.perf_counter() - clock

    clock = time.perf_counter()
    progress.update(0.1, "Preprocessing")
    prepared = prepare_input(volumes, card.input, model.device)
    timings["preprocess"] = time.perf_counter() - clock

    clock = time.perf_counter()
    roi_size = card.input.patch_size or tuple(prepared.tensor.shape[2:])
    output = sliding_window_predict(
        model, prepared.tensor, roi_size, overlap=card.inference.overlap if overlap is None else overlap,
        sw_batch_size=sw_batch_size, progress=progress.sub(0.15, 0.9), mode=card.inference.blend_mode,
    )
    prepared.tensor = None  # free the input before post-processing
    timings["inference"] = time.perf_counter() - clock

    clock = time.perf_counter()
    progress.update(0.9, "Postprocessing")
    labels, probs = labels_from_output(output, card.output, probabilities)
    del output
    labels = np.ascontiguousarray(prepared.reorientation.from_network(labels))
    if probs is not None:
        probs = np.ascontiguousarray(prepared.reorientation.from_network(probs))
    if largest_component is None:
        clean = card.output.largest_component
    elif largest_component is True:
        clean = tuple(label.value for label in card.output.labels)
    else:
        clean = tuple(largest_component or ())
    keep_largest_component(labels, clean)
    source = volumes[0]
    if prepared.resampled:
        from ..imaging.resample import resample_to_geometry

        model_grid = Volume(labels, prepared.model_geometry, units="label")
        labels = np.asarray(resample_to_geometry(model_grid, source.geometry, interpolation="nearest").array,
                            dtype=labels.dtype)
    label_volume = Volume(labels, source.geometry, name=f"{source.name} {card.name}", units="label",
                          metadata={"labels": card.output.names, "model": model.provenance})
    progress.update(1.0, "Done")
    timings["postprocess"] = time.perf_counter() - clock
    return SegmentationOutput(label_volume, card, probs, prepared.model_geometry, model.provenance, timings)
