"""Radiomic features with pyradiomics: one image, one mask, one parameter file (a preset or the user's).

Feature names are pyradiomics' own (``original_firstorder_Mean``, ``log-sigma-3-0-mm-3D_glcm_Contrast``, ...):
see van Griethuysen J.J.M. et al., "Computational Radiomics System to Decode the Radiographic Phenotype",
Cancer Research 2017;77:e104-e107. Presets are pyradiomics parameter files in ``Resources/Presets``
(``radiomics_<name>.yaml``), each documenting its settings and their source.

Input checks before pyradiomics runs: a 3D image; a mask on the image grid (a mask on another grid is
resampled onto it with nearest neighbour and a warning, or refused when they do not overlap); a non-empty
label; CT presets refuse images that do not look like Hounsfield units.
"""

from __future__ import annotations

import functools
import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging.segmentation import EmptyMaskError
from ..imaging.volume import Volume

__all__ = [
    "PRESETS",
    "FeatureVector",
    "GridMismatchWarning",
    "NotCTError",
    "extract_features",
    "load_params",
    "preset_path",
    "presets_directory",
]

logger = logging.getLogger(__name__)

#: Preset name → (file in Resources/Presets, modality it is meant for).
PRESETS: dict[str, tuple[str, str]] = {
    "ibsi-ct": ("radiomics_ibsi_ct.yaml", "CT"),
    "ct-arterial": ("radiomics_ct_arterial.yaml", "CT"),
    "ct-portal-venous": ("radiomics_ct_portal_venous.yaml", "CT"),
}


class NotCTError(ValueError):
    """A CT preset was asked for an image that does not hold Hounsfield units."""


class GridMismatchWarning(UserWarning):
    """The mask was on another grid and was resampled onto the image's."""


@dataclass
class FeatureVector:
    """Features of one region: pyradiomics names → values, plus the settings used."""

    features: dict[str, float]
    settings: dict[str, Any]
    voxels: int

    def to_dict(self) -> dict[str, Any]:
        return {"features": dict(self.features), "settings": dict(self.settings), "voxels": self.voxels}


def presets_directory() -> Path:
    """``Resources/Presets`` of the checkout or of the installed extension."""
    here = Path(__file__).resolve()
    candidates = [here.parents[3] / "Resources" / "Presets", here.parents[2] / "Resources" / "Presets"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def preset_path(name: str) -> Path:
    """Parameter file of a preset.

    Raises:
        ValueError: unknown preset name.
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown radiomics preset '{name}'; presets are {', '.join(PRESETS)}")
    return presets_directory() / PRESETS[name][0]


def load_params(params: str | Path | Mapping[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    """A pyradiomics parameter mapping and the modality it is for (None when unknown).

    Args:
        params: a preset name, a parameter file (YAML/JSON), a mapping, or None (preset ``ibsi-ct``).

    Raises:
        ValueError: unknown preset or missing/invalid parameter file.
    """
    import yaml

    if params is None:
        params = "ibsi-ct"
    if isinstance(params, Mapping):
        return dict(params), None
    text = str(params)
    if text in PRESETS:
        return yaml.safe_load(_preset_text(str(preset_path(text)))), PRESETS[text][1]
    path = Path(text)
    if not path.is_file():
        raise ValueError(f"No radiomics parameter file or preset '{text}'; presets are {', '.join(PRESETS)}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ValueError(f"{path} is not a pyradiomics parameter file (a mapping with setting/imageType/featureClass)")
    return dict(data), None


def _mask_array(mask: Volume | np.ndarray, image: Volume, label: int) -> np.ndarray:
    if isinstance(mask, Volume):
        if not mask.geometry.same_grid(image.geometry):
            from ..imaging.resample import resample_mask

            source = mask.array == label
            if not source.any():
                raise EmptyMaskError(f"The mask has no voxel with label {label}")
            resampled = resample_mask(source, mask.geometry, image.geometry)
            if not resampled.any():
                raise ValueError("The mask does not overlap the image: they are on different, disjoint grids")
            warnings.warn("The mask is on another grid than the image; it was resampled onto the image grid "
                          "(nearest neighbour)", GridMismatchWarning, stacklevel=3)
            return resampled
        array = mask.array == label
    else:
        array = np.asarray(mask)
        if array.shape != image.shape:
            raise ValueError(f"The mask array has shape {array.shape} but the image is {image.shape}; pass the mask "
                             "as a Volume so that it can be resampled")
        array = array == label if array.dtype != bool else array
    if not array.any():
        raise EmptyMaskError(f"The mask has no voxel with label {label}")
    return array


def _check_ct(image: Volume) -> None:
    values = image.array[:: max(1, image.shape[0] // 16)]
    low, high = np.percentile(values, [0.5, 99.5])
    if low < -1200 or high > 4000 or (high - low) < 10 or high <= -200:  # HU span, not normalised 0-1 data
        raise NotCTError(f"The image does not look like CT in Hounsfield units (0.5/99.5 percentiles {low:.0f}/{high:.0f}); "
                         "use a non-CT parameter file for this image")


@functools.lru_cache(maxsize=8)
def _extractor(settings_json: str):
    """One pyradiomics extractor per parameter set (building one parses and validates the parameters)."""
    from radiomics import featureextractor

    return featureextractor.RadiomicsFeatureExtractor(json.loads(settings_json))


@functools.lru_cache(maxsize=16)
def _preset_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def extract_features(
    image: Volume,
    mask: Volume | np.ndarray,
    params: str | Path | Mapping[str, Any] | None = None,
    *,
    label: int = 1,
    diagnostics: bool = False,
) -> FeatureVector:
    """Extract pyradiomics features of one region.

    Args:
        image: the image (3D).
        mask: label volume (any grid; resampled with a warning) or a boolean/label array on the image grid.
        params: preset name (see :data:`PRESETS`), parameter file or mapping; default ``ibsi-ct``.
        label: the mask value of the region.
        diagnostics: also keep pyradiomics' ``diagnostics_*`` entries (as strings are dropped, numbers kept).

    Returns:
        The :class:`FeatureVector` (feature name → float, in pyradiomics order).

    Raises:
        ValueError: 2D image or mask array of another shape; EmptyMaskError: no voxel with ``label``;
        NotCTError: CT preset on a non-HU image.
    """
    from ..imaging.io import to_sitk

    if image.array.ndim != 3 or min(image.shape) < 2:
        raise ValueError(f"Radiomics needs a 3D image with at least 2 slices, got shape {image.array.shape}")
    settings, modality = load_params(params)
    if modality == "CT":
        _check_ct(image)
    array = _mask_array(mask, image, label)
    mask_value = int(settings.get("setting", {}).get("label", 1) or 1)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractor = _extractor(json.dumps(settings, sort_keys=True, default=str))
    sitk_image = to_sitk(image.with_array(image.array.astype(np.float32)))
    sitk_mask = to_sitk(Volume(array.astype(np.uint8) * np.uint8(mask_value), image.geometry))
    sitk_mask.CopyInformation(sitk_image)
    try:
        result = extractor.execute(sitk_image, sitk_mask, label=mask_value)
    except ValueError as error:
        raise ValueError(f"pyradiomics refused the region: {error}") from error
    features: dict[str, float] = {}
    for name, value in result.items():
        if name.startswith("diagnostics_"):
            if not diagnostics:
                continue
            try:
                features[name] = float(value)
            except (TypeError, ValueError):
                continue
        else:
            features[name] = float(value)
    return FeatureVector(features, {k: v for k, v in settings.get("setting", {}).items()}, int(array.sum()))
