"""The SYNTHETIC sample patient's anatomy: an upper abdomen and lower thorax built from analytic shapes.

This is not a real patient. Organs are ellipsoids and super-elliptic cylinders with smooth, volume-keeping
deformations, vessels are tubes along polylines; all sizes are in millimetres in an anatomical frame
(LPS axes, origin on the midline at the level of the liver's centre) placed in scanner coordinates by
:data:`FRAME_ORIGIN_LPS`. Sizes are typical adult values: liver ≈ 1.5 L (normal adult liver 1.2–1.8 L,
Heinemann et al., Forensic Sci Int 1999;106:37–45), spleen ≈ 0.25 L, kidneys ≈ 11 cm long, aorta 24 mm
and portal vein 14 mm in diameter, and two HCC nodules of 3.0 and 1.8 cm (BCLC stage A, multinodular
≤ 3 nodules ≤ 3 cm; Reig et al., J Hepatol 2022;76:681–693).

The same :class:`Anatomy` rasterises on any voxel grid (CT, SPECT, or a user's), so ground-truth masks on
different grids describe the same patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ..imaging.segmentation import Segmentation
from ..imaging.volume import Geometry
from .shapes import (
    Difference,
    Ellipsoid,
    Intersection,
    Shape,
    SuperEllipticCylinder,
    Union,
    rotation_matrix,
    tube,
)

__all__ = [
    "FRAME_ORIGIN_LPS",
    "SEGMENT_NAMES",
    "Anatomy",
    "Lesion",
    "Structure",
    "Tissue",
    "build_anatomy",
]

#: Scanner (LPS) position in mm of the anatomical frame's origin: the patient lies near the isocentre,
#: a little posterior (on the table), with the liver's centre at table position z = −360 mm.
FRAME_ORIGIN_LPS: tuple[float, float, float] = (0.0, 20.0, -360.0)

#: Ground-truth segments, in the order they appear in a :class:`Segmentation`.
SEGMENT_NAMES: tuple[str, ...] = (
    "Body", "Liver", "Tumor 1", "Tumor 2", "Portal vein", "Hepatic vein", "Hepatic artery",
    "Inferior vena cava", "Aorta", "Lung", "Heart", "Spleen", "Kidney", "Bone",
)


class Tissue(IntEnum):
    """Tissue classes; each has one CT number per contrast phase (see :mod:`.ct`)."""

    AIR = 0
    FAT = 1
    MUSCLE = 2
    LUNG = 3
    HEART = 4
    SPLEEN = 5
    KIDNEY = 6
    LIVER = 7
    PORTAL_VEIN = 8
    HEPATIC_VEIN = 9
    IVC = 10
    AORTA = 11
    HEPATIC_ARTERY = 12
    TUMOUR_CAPSULE = 13
    TUMOUR = 14
    BONE = 15
    DISC = 16


@dataclass(frozen=True)
class Structure:
    """One painted solid.

    Args:
        name: unique descriptive name ("Right lung").
        tissue: what it is made of.
        shape: the solid in LPS mm.
        segment: ground-truth segment it belongs to (None: background tissue such as fat or muscle).
        envelope: the segment is the whole shape, including what later structures paint inside it
            (whole-organ convention for the liver and body); otherwise it is the voxels that remain this
            structure after painting.
    """

    name: str
    tissue: Tissue
    shape: Shape
    segment: str | None = None
    envelope: bool = False


@dataclass(frozen=True)
class Lesion:
    """An HCC nodule: an ellipsoid with its (possibly jittered) centre."""

    name: str
    shape: Ellipsoid

    @property
    def center_lps(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.shape.center)  # type: ignore[return-value]

    @property
    def semi_axes_mm(self) -> tuple[float, float, float]:
        return self.shape.semi_axes

    @property
    def volume_ml(self) -> float:
        return self.shape.volume_ml

    @property
    def equivalent_diameter_mm(self) -> float:
        """Diameter of the sphere of the same volume."""
        return float(2.0 * np.prod(self.shape.semi_axes) ** (1.0 / 3.0))


@dataclass(frozen=True)
class Anatomy:
    """Structures in painting order (later ones win where they overlap) plus the lesions."""

    structures: tuple[Structure, ...]
    lesions: tuple[Lesion, ...]
    liver: Ellipsoid

    def __post_init__(self) -> None:
        if len(self.structures) > 254:
            raise ValueError("At most 254 structures fit a uint8 label map")

    @property
    def tissue_of_label(self) -> np.ndarray:
        """Tissue code of each label value (label 0 is air, label n the n-th structure)."""
        return np.array([Tissue.AIR] + [s.tissue for s in self.structures], dtype=np.uint8)

    @property
    def label_names(self) -> dict[int, str]:
        return {index: s.name for index, s in enumerate(self.structures, start=1)}

    def label_map(self, geometry: Geometry) -> np.ndarray:
        """uint8 array (k, j, i): which structure each voxel centre shows (0 = air)."""
        labels = np.zeros(geometry.shape, dtype=np.uint8)
        for value, structure in enumerate(self.structures, start=1):
            for box, sub in structure.shape.boxes(geometry):
                labels[box] = np.where(sub, np.uint8(value), labels[box])
        return labels

    def segmentation(self, geometry: Geometry, labels: np.ndarray | None = None, name: str = "Truth") -> Segmentation:
        """Ground-truth :class:`Segmentation` on ``geometry`` (segments in :data:`SEGMENT_NAMES` order).

        Args:
            geometry: the voxel grid.
            labels: this anatomy's :meth:`label_map` on the same grid, when already computed.
            name: segmentation name.
        """
        labels = self.label_map(geometry) if labels is None else labels
        masks: dict[str, np.ndarray] = {}
        for value, structure in enumerate(self.structures, start=1):
            if structure.segment is None:
                continue
            mask = structure.shape.rasterise(geometry) if structure.envelope else labels == value
            masks[structure.segment] = masks[structure.segment] | mask if structure.segment in masks else mask
        segmentation = Segmentation(geometry, name=name)
        for segment in SEGMENT_NAMES:
            if segment in masks:
                segmentation.add(segment, masks[segment])
        return segmentation


def _at(x: float, y: float, z: float) -> tuple[float, float, float]:
    """Anatomical-frame point (mm) → scanner LPS point (mm)."""
    return (x + FRAME_ORIGIN_LPS[0], y + FRAME_ORIGIN_LPS[1], z + FRAME_ORIGIN_LPS[2])


def _path(*points: tuple[float, float, float]) -> list[tuple[float, float, float]]:
    return [_at(*p) for p in points]


#: Nominal lesion centres (anatomical frame, mm) and semi-axes (mm): 3.0 cm in the right lobe (segment
#: VII/VIII), 1.8 cm in segment IV.
_LESIONS = (
    ("Tumor 1", (-80.0, 5.0, 20.0), (16.0, 14.0, 15.0), 20.0),
    ("Tumor 2", (-20.0, -30.0, 5.0), (9.5, 9.0, 8.5), -15.0),
)


def build_anatomy(rng: np.random.Generator | None = None, *, lesion_jitter_mm: float = 3.0) -> Anatomy:
    """The sample patient's anatomy.

    Args:
        rng: moves each lesion centre by up to ``lesion_jitter_mm`` along each axis (uniform); None keeps
            the nominal positions.
        lesion_jitter_mm: largest shift per axis; lesions stay at least 3 mm inside the liver.

    Returns:
        The anatomy (deterministic for a given generator state).
    """
    liver = Ellipsoid(
        _at(-35.0, 0.0, 0.0), (95.0, 62.0, 58.0),
        taper=(-0.35, -0.55),  # thick right lobe, thin left lobe
        bend_y=(-25.0, 0.0),  # left lobe curves anteriorly
        bend_z=(0.0, -10.0),  # domed
    )
    lesions = []
    for name, center, semi_axes, angle in _LESIONS:
        shift = np.zeros(3) if rng is None else rng.uniform(-lesion_jitter_mm, lesion_jitter_mm, 3)
        shape = Ellipsoid(_at(*(np.asarray(center) + shift)), semi_axes, rotation=rotation_matrix(z_deg=angle))
        if np.max(liver.field(*shape.surface_points().T)) > -3.0:
            raise ValueError(f"{name} would reach the liver surface; use a smaller lesion_jitter_mm")
        lesions.append(Lesion(name, shape))
    tumour_1 = lesions[0].shape.center

    body = SuperEllipticCylinder(_at(0.0, 0.0, 0.0), (165.0, 115.0), exponent=2.4)
    wall = SuperEllipticCylinder(_at(0.0, 0.0, 0.0), (148.0, 98.0), exponent=2.4)
    cavity = SuperEllipticCylinder(_at(0.0, 0.0, 0.0), (137.0, 89.0), exponent=2.4)
    heart = Ellipsoid(_at(15.0, -20.0, 100.0), (60.0, 45.0, 50.0), rotation=rotation_matrix(z_deg=30.0))
    spleen = Ellipsoid(_at(85.0, 50.0, 10.0), (25.0, 52.0, 45.0), rotation=rotation_matrix(z_deg=-35.0))

    def lung(x: float) -> Shape:
        lobe = Ellipsoid(_at(x, 15.0, 160.0), (58.0, 85.0, 130.0), rotation=rotation_matrix(x_deg=15.0))
        # Diaphragm (≈ 7 mm) over the liver and spleen, pericardium around the heart, ribs' inner surface.
        return Difference(Intersection((lobe, cavity)), (liver.dilated(7.0), spleen.dilated(7.0), heart.dilated(3.0)))

    discs = Union(tuple(
        SuperEllipticCylinder(_at(0.0, 78.0, z), (21.0, 18.0), half_height=4.0) for z in np.arange(-176.0, 330.0, 32.0)
    ))
    ribs = Union(tuple(
        part for z_back, reach in ((140, 150), (110, 145), (80, 135), (50, 120), (20, 100), (-10, 80))
        for side in (-1.0, 1.0) for part in _rib(side, float(z_back), float(reach)).parts
    ))
    structures = (
        Structure("Body", Tissue.FAT, body, "Body", envelope=True),
        Structure("Abdominal wall", Tissue.MUSCLE, wall),
        Structure("Visceral fat", Tissue.FAT, cavity),
        Structure("Paraspinal muscles", Tissue.MUSCLE, Union((
            SuperEllipticCylinder(_at(-38.0, 92.0, 0.0), (24.0, 18.0)),
            SuperEllipticCylinder(_at(38.0, 92.0, 0.0), (24.0, 18.0)),
        ))),
        Structure("Right lung", Tissue.LUNG, lung(-85.0), "Lung"),
        Structure("Left lung", Tissue.LUNG, lung(85.0), "Lung"),
        Structure("Heart", Tissue.HEART, heart, "Heart"),
        Structure("Spleen", Tissue.SPLEEN, spleen, "Spleen"),
        Structure("Right kidney", Tissue.KIDNEY,
                  Ellipsoid(_at(-75.0, 62.0, -100.0), (28.0, 24.0, 55.0), rotation=rotation_matrix(z_deg=-25.0)), "Kidney"),
        Structure("Left kidney", Tissue.KIDNEY,
                  Ellipsoid(_at(75.0, 60.0, -90.0), (28.0, 24.0, 55.0), rotation=rotation_matrix(z_deg=25.0)), "Kidney"),
        Structure("Liver", Tissue.LIVER, liver, "Liver", envelope=True),
        Structure("Inferior vena cava", Tissue.IVC, tube(
            _path((-22, 45, -400), (-22, 45, 30), (-15, 25, 62), (-5, 0, 85)), 11.0), "Inferior vena cava"),
        Structure("Portal vein", Tissue.PORTAL_VEIN, Union((
            tube(_path((10, 10, -400), (5, 25, -75), (-25, 10, -35)), [6.0, 7.0, 7.0]),  # SMV → main portal vein
            tube(_path((62, 35, 5), (40, 30, -40), (5, 25, -75)), [4.5, 5.0, 5.5]),  # splenic vein
            tube(_path((-25, 10, -35), (-70, 15, -20), (-95, -15, -5)), [5.5, 4.5, 3.0]),  # right, anterior
            tube(_path((-70, 15, -20), (-100, 40, -10)), [4.0, 3.0]),  # right posterior
            tube(_path((-25, 10, -35), (5, -10, -15), (30, -35, 0)), [5.0, 4.0, 3.0]),  # left
        )), "Portal vein"),
        Structure("Hepatic veins", Tissue.HEPATIC_VEIN, Union((
            tube(_path((-19, 36, 44), (-70, 38, 20), (-110, 30, -10)), [5.5, 4.0, 2.5]),  # right
            tube(_path((-19, 36, 44), (-35, 0, 20), (-45, -40, -10)), [5.0, 3.5, 2.5]),  # middle
            tube(_path((-19, 36, 44), (-2, 15, 25), (28, -20, 5)), [5.0, 3.5, 2.5]),  # left
        )), "Hepatic vein"),
        Structure("Aorta", Tissue.AORTA, tube(
            _path((18, 45, -400), (22, 45, 0), (25, 58, 120), (28, 62, 400)), 12.0), "Aorta"),
        Structure("Hepatic artery", Tissue.HEPATIC_ARTERY, Union((
            tube(_path((22, 40, -40), (16, 22, -45), (-10, 12, -40), (-25, 5, -30)), [3.0, 3.0, 2.5, 2.2]),
            tube([_at(-25, 5, -30), _at(-55, 5, -8), tumour_1], [2.2, 1.8, 1.5]),  # right hepatic → tumour 1
            tube(_path((-25, 5, -30), (0, -15, -15)), [1.8, 1.5]),  # left hepatic
        )), "Hepatic artery"),
        *(Structure(f"{lesion.name} capsule", Tissue.TUMOUR_CAPSULE, lesion.shape.dilated(1.5)) for lesion in lesions),
        *(Structure(lesion.name, Tissue.TUMOUR, lesion.shape, lesion.name, envelope=True) for lesion in lesions),
        Structure("Vertebral bodies", Tissue.BONE, SuperEllipticCylinder(_at(0.0, 78.0, 0.0), (20.0, 17.0)), "Bone"),
        Structure("Intervertebral discs", Tissue.DISC, discs),
        Structure("Posterior elements", Tissue.BONE, SuperEllipticCylinder(_at(0.0, 104.0, 0.0), (9.0, 9.0)), "Bone"),
        Structure("Ribs", Tissue.BONE, ribs, "Bone"),
    )
    return Anatomy(structures, tuple(lesions), liver)


def _rib(side: float, z_back: float, reach_deg: float) -> Union:
    """One rib: an arc around the body wall from beside the spine, sloping down by 40 mm anteriorly."""
    angles = np.radians(np.linspace(20.0, reach_deg, 10))
    points = [
        _at(side * 141.0 * np.sin(a), 92.0 * np.cos(a), z_back - 40.0 * (a - angles[0]) / np.radians(140.0))
        for a in angles
    ]
    return tube(points, 5.0)
