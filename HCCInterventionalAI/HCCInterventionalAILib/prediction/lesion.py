"""Radiomics of one lesion for a saved model: the features its radiomics score needs, extracted with its preset.

Node-independent: takes an image :class:`~HCCInterventionalAILib.imaging.volume.Volume` and a
:class:`~HCCInterventionalAILib.imaging.segmentation.Segmentation` on the same grid (the Slicer module converts its
nodes with ``HCCInterventionalAILib.scene``), so the same call serves the GUI, scripts and tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import PredictionInputError, UnknownColumnError

__all__ = ["LesionRadiomicsError", "lesion_radiomics_row"]


class LesionRadiomicsError(PredictionInputError):
    """The lesion cannot give the radiomics row a model needs (no radiomics in the model, no or empty segment)."""


def lesion_radiomics_row(model: Any, image: Any, segmentation: Any, segment: str) -> dict[str, float]:
    """The radiomics row of one segmented lesion, as the model's radiomics score expects it.

    Features are extracted with :func:`HCCInterventionalAILib.radiomics.extract_features` using the preset recorded
    in the model card (``SavedModel.radiomics_preset``); only the features the model needs are returned, in the
    card's order, ready for :func:`.pipeline.predict_patient`.

    Args:
        model: a :class:`~.artefact.SavedModel` with radiomics features.
        image: the CT phase (a ``Volume``).
        segmentation: a ``Segmentation`` whose masks lie on ``image``'s grid.
        segment: name of the lesion's segment (exact, or case-insensitive).

    Returns:
        Feature name → value for every feature in ``model.radiomics_features``.

    Raises:
        LesionRadiomicsError: the model has no radiomics features, no segment is named, the segment is missing or
            empty, or its mask is not on the image grid.
        UnknownColumnError: the preset does not produce a feature the model needs.
    """
    from ..radiomics import extract_features

    needed = list(model.radiomics_features)
    if not needed:
        raise LesionRadiomicsError("The loaded model uses no radiomics features, so a lesion cannot be used; "
                                   "type its clinical values only.")
    if not segment or not str(segment).strip():
        raise LesionRadiomicsError("Name the lesion's segment.")
    found = segmentation.segments.get(segment) or segmentation.find(str(segment))
    if found is None:
        raise LesionRadiomicsError(f"No segment named '{segment}' in '{segmentation.name}'; segments are: "
                                   f"{', '.join(segmentation.names) or 'none'}.")
    mask = np.asarray(found.mask, dtype=bool)
    if mask.shape != image.array.shape:
        raise LesionRadiomicsError(f"The mask of '{found.name}' (shape {mask.shape}) is not on the image grid "
                                   f"(shape {image.array.shape}).")
    if not mask.any():
        raise LesionRadiomicsError(f"Segment '{found.name}' is empty: it has no voxel to compute radiomics on.")
    features = extract_features(image, mask, model.radiomics_preset).features
    absent = [name for name in needed if name not in features]
    if absent:
        raise UnknownColumnError(f"The radiomics preset '{model.radiomics_preset}' does not give {len(absent)} "
                                 f"feature(s) the model needs, e.g. {', '.join(absent[:3])}.")
    return {name: features[name] for name in needed}
