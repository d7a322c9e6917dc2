"""The inputs of a Y-90 plan, validated and brought onto the activity image's grid once: :class:`PlanningCase`.

:meth:`PlanningCase.prepare` checks the counts (NaN, negatives, empty), resamples the segmentation and the CT onto
the SPECT grid, detects which segment plays which part (:class:`StructureRoles`), checks that the segmentation is
registered to the images (:mod:`.alignment`), and builds the compartment masks (tumours inside the treated region,
normal treated liver). The planning stages (:mod:`.planning`) then only read it. Every warning goes into one
de-duplicating :class:`WarningLog`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .alignment import AlignmentReport, check_alignment
from .counts import checked_counts
from .errors import MissingStructureError
from .presets import tissue_density
from .tissue import density_from_hu, density_volume_from_ct, mass_from_density

if TYPE_CHECKING:  # pragma: no cover
    from HCCInterventionalAILib.imaging.segmentation import Segmentation
    from HCCInterventionalAILib.imaging.volume import Geometry, Volume

__all__ = ["StructureRoles", "WarningLog", "PlanningCase"]

_TUMOUR = re.compile(r"^\s*(tumou?r|lesion|hcc|metastas[ie]s)\b", re.IGNORECASE)
_LUNG = re.compile(r"\blungs?\b", re.IGNORECASE)


class WarningLog(list):
    """The warnings of one plan, in order, each once."""

    def add(self, *messages: str) -> None:
        for message in messages:
            if message and message not in self:
                self.append(message)

    def extend(self, messages: Iterable[str]) -> None:  # type: ignore[override]
        self.add(*messages)


@dataclass
class StructureRoles:
    """Which segments play which part. Detected from names, or given explicitly."""

    liver: str | None = None
    perfused: str | None = None
    tumours: list[str] = field(default_factory=list)
    lungs: list[str] = field(default_factory=list)

    @classmethod
    def detect(cls, segmentation: Segmentation) -> StructureRoles:
        """Liver: "liver"/"whole liver"; perfused: "perfused volume"/"perfused"/"perfused liver"/"treated volume";
        tumours: names starting with tumour/tumor/lesion/HCC; lungs: names containing "lung"."""
        liver = segmentation.find("liver", "whole liver", "liver whole")
        perfused = segmentation.find("perfused volume", "perfused", "perfused liver", "perfused territory",
                                     "treated volume")
        names = segmentation.names
        tumours = [n for n in names if _TUMOUR.match(n) and "normal" not in n.lower()]
        lungs = [n for n in names if _LUNG.search(n) and "shunt" not in n.lower()]
        return cls(liver.name if liver else None, perfused.name if perfused else None, tumours, lungs)

    @classmethod
    def resolve(cls, segmentation: Segmentation, roles: StructureRoles | Mapping[str, Any] | None) -> StructureRoles:
        """Detected roles, with any given role replacing the detected one."""
        if isinstance(roles, StructureRoles):
            return roles
        detected = cls.detect(segmentation)
        for key, value in dict(roles or {}).items():
            if key not in ("liver", "perfused", "tumours", "lungs"):
                raise MissingStructureError(f"Unknown structure role {key!r}; use liver, perfused, tumours or lungs")
            if value:
                setattr(detected, key, list(value) if key in ("tumours", "lungs") else value)
        missing = [n for n in [detected.liver, detected.perfused, *detected.tumours, *detected.lungs]
                   if n and n not in segmentation]
        if missing:
            raise MissingStructureError(f"Segment(s) {', '.join(missing)} not in the segmentation ({segmentation.names})")
        return detected

    def tissue_of(self, name: str) -> str | None:
        """The radiobiology tissue class of a structure: hcc_tumour, lung, normal_liver or None."""
        if name in self.tumours or _TUMOUR.match(name):
            return "hcc_tumour"
        if name in self.lungs or _LUNG.search(name):
            return "lung"
        lowered = name.lower()
        if "liver" in lowered or "perfused" in lowered or "normal" in lowered:
            return "normal_liver"
        return None


def _field_of_view_on(source: Geometry, target: Geometry) -> np.ndarray:
    """Where the ``source`` grid has data, as a mask on the ``target`` grid."""
    from HCCInterventionalAILib.imaging.resample import resample_to_geometry
    from HCCInterventionalAILib.imaging.volume import Volume

    ones = Volume(np.ones(source.shape, np.uint8), source)
    return resample_to_geometry(ones, target, "nearest", default_value=0).array > 0


def touches_grid_edge(mask: np.ndarray) -> bool:
    """True when a mask reaches a face of its grid, i.e. the structure may continue outside the field of view."""
    faces = (mask[0], mask[-1], mask[:, 0], mask[:, -1], mask[:, :, 0], mask[:, :, -1])
    return any(face.any() for face in faces)


@dataclass
class PlanningCase:
    """Validated inputs on the activity image's grid (built by :meth:`prepare`)."""

    spect: Volume
    counts: np.ndarray
    segmentation: Segmentation
    roles: StructureRoles
    ct: Volume | None
    ct_native: Volume | None
    density: Volume | None
    ct_covers: np.ndarray
    segmentation_covers: np.ndarray
    liver: np.ndarray
    treated: np.ndarray
    treated_name: str
    tumours: dict[str, np.ndarray]
    normal: np.ndarray
    normal_name: str
    lung_segment: np.ndarray
    cut_lungs: list[str]
    alignment: AlignmentReport
    warnings: WarningLog = field(default_factory=WarningLog)

    @classmethod
    def prepare(cls, spect: Volume, segmentation: Segmentation, ct: Volume | None = None,
                roles: StructureRoles | Mapping[str, Any] | None = None, *,
                allow_misregistration: bool = False) -> PlanningCase:
        """Validate and resample the inputs once.

        Raises:
            Y90InputError subclasses: bad counts, no liver, empty treated region, no normal liver;
            :class:`.alignment.MisregistrationError` when the segmentation does not lie on the images.
        """
        warnings = WarningLog()
        counts, count_warnings = checked_counts(spect)
        warnings.add(*count_warnings)
        grid = spect.geometry
        seg, seg_covers = segmentation, np.ones(spect.shape, dtype=bool)
        if not segmentation.geometry.same_grid(grid):
            from HCCInterventionalAILib.imaging.resample import resample_segmentation

            warnings.add(f"Segmentation resampled from {segmentation.geometry.shape} voxels of "
                         f"{tuple(round(s, 3) for s in segmentation.geometry.spacing)} mm onto the SPECT grid "
                         f"{grid.shape} ({tuple(round(s, 3) for s in grid.spacing)} mm)")
            seg = resample_segmentation(segmentation, grid)
            seg_covers = _field_of_view_on(segmentation.geometry, grid)
        ct_on_grid, density, ct_covers = None, None, np.ones(spect.shape, dtype=bool)
        if ct is not None:
            ct.require_finite()
            ct_on_grid = ct
            if not ct.geometry.same_grid(grid):
                from HCCInterventionalAILib.imaging.resample import resample_to_geometry

                ct_covers = _field_of_view_on(ct.geometry, grid)
                ct_on_grid = resample_to_geometry(ct, grid, "linear", default_value=-1000.0)
            density = density_volume_from_ct(ct_on_grid)

        struct = StructureRoles.resolve(seg, roles)
        if struct.liver is None:
            raise MissingStructureError(f"No liver segment found among {seg.names}; name it 'liver' or pass roles")
        liver = seg.mask(struct.liver, allow_empty=True)
        if not liver.any():
            raise MissingStructureError(f"The liver segment '{struct.liver}' is empty on the SPECT grid")
        treated_name = struct.perfused or struct.liver
        treated = seg.mask(treated_name, allow_empty=True)
        if not treated.any():
            raise MissingStructureError(f"The perfused segment '{struct.perfused}' is empty on the SPECT grid")

        lung_segment = np.zeros(spect.shape, dtype=bool)
        for name in struct.lungs:
            lung_segment |= seg.mask(name, allow_empty=True)
        alignment = check_alignment(counts, spect, liver | treated,
                                    ct_hu=np.asarray(ct_on_grid.array) if ct_on_grid is not None else None,
                                    ct_covers=ct_covers, lungs=lung_segment if lung_segment.any() else None,
                                    allow=allow_misregistration)
        if alignment.problems:
            warnings.add("Alignment check overridden: " + "; ".join(alignment.problems))

        tumours: dict[str, np.ndarray] = {}
        for name in struct.tumours:
            mask = seg.mask(name, allow_empty=True)
            inside = mask & treated
            if not mask.any():
                warnings.add(f"Tumour '{name}' is empty on the SPECT grid and was ignored")
            elif not inside.any():
                warnings.add(f"Tumour '{name}' lies outside the treated region '{treated_name}' and gets no activity")
            else:
                if inside.sum() < mask.sum():
                    warnings.add(f"{int(mask.sum() - inside.sum())} voxels of tumour '{name}' lie outside the "
                                 f"treated region '{treated_name}'; only the part inside is a compartment")
                tumours[name if inside.sum() == mask.sum() else f"{name} (treated part)"] = inside
        normal = treated.copy()
        for mask in tumours.values():
            normal &= ~mask
        if not normal.any():
            raise MissingStructureError("The treated region holds no normal liver (tumours fill it)")
        cut = [name for name in struct.lungs if touches_grid_edge(segmentation.mask(name, allow_empty=True))]
        return cls(spect, counts, seg, struct, ct_on_grid, ct, density, ct_covers, seg_covers, liver, treated,
                   treated_name, tumours, normal, "normal perfused liver" if struct.perfused else "normal liver",
                   lung_segment, cut, alignment, warnings)

    # -- derived quantities --------------------------------------------------------------------------------
    @property
    def voxel_ml(self) -> float:
        return self.spect.geometry.voxel_volume_ml

    @property
    def liver_all(self) -> np.ndarray:
        return self.liver | self.treated

    @property
    def all_tumours(self) -> np.ndarray:
        combined = np.zeros(self.spect.shape, dtype=bool)
        for mask in self.tumours.values():
            combined |= mask
        return combined

    def mass(self, mask: np.ndarray, tissue: str) -> float:
        """Mass (kg) of a region: CT densities where the CT covers it; the uncovered part gets the covered
        part's mean density (or the tissue preset when nothing is covered), with a warning."""
        preset = float(mask.sum()) * self.voxel_ml * tissue_density(tissue) / 1000.0
        if self.density is None:
            return preset
        covered = mask & self.ct_covers
        if not covered.any():
            self.warnings.add(f"The CT does not cover the {tissue} region; its mass uses the {tissue} density preset")
            return preset
        measured = mass_from_density(self.density.array, covered, self.voxel_ml)
        if covered.sum() < mask.sum():
            share = covered.sum() / mask.sum()
            self.warnings.add(f"The CT covers only {100 * share:.0f}% of the {tissue} region; its mass is "
                              "extrapolated from the covered part's mean density")
            measured /= share
        return measured

    def lung_mass(self, lung: np.ndarray) -> float | None:
        """Lung mass (kg) = mean CT density of the lung interior × lung volume; None without a CT.

        Aerated lung (about 0.15-0.3 g/ml) borders the chest wall and diaphragm (about 1 g/ml), so any voxel that
        straddles the pleura, and every voxel the linear resampling onto a 4-5 mm SPECT grid blends, raises the
        apparent density: on the sample patient the density summed over the lung mask on the SPECT grid gives
        +15% lung mass. The mean density is therefore taken on the CT's own grid, over the lung mask eroded by
        one voxel (parenchyma with its vessels, not the pleural partial-volume shell), and multiplied by the
        lung volume of the mask; a CT that covers only part of the lungs gives the mean of the covered part.
        """
        if self.ct_native is None or not lung.any():
            return None
        from scipy import ndimage

        from HCCInterventionalAILib.imaging.resample import resample_to_geometry
        from HCCInterventionalAILib.imaging.volume import Volume

        ct = self.ct_native
        on_ct = resample_to_geometry(Volume(lung.astype(np.uint8), self.spect.geometry), ct.geometry, "nearest",
                                     default_value=0).array > 0
        interior = ndimage.binary_erosion(on_ct)
        if interior.sum() < 10:
            interior = on_ct
        volume_ml = float(lung.sum()) * self.voxel_ml
        if not interior.any():
            self.warnings.add("The CT does not cover the lung region; the lung mass uses the lung density preset")
            return volume_ml * tissue_density("lung") / 1000.0
        rho = float(np.mean(density_from_hu(np.asarray(ct.array)[interior])))
        share = float((lung & self.ct_covers).sum()) / float(lung.sum())
        if share < 0.999:
            self.warnings.add(f"The CT covers only {100 * share:.0f}% of the lung region; the lung mass is its volume "
                              f"× the mean density of the covered lung ({rho:.3f} g/ml)")
        return rho * volume_ml / 1000.0
