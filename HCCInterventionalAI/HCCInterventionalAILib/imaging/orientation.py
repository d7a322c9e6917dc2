"""Bringing a ``(k, j, i)`` array into the orientation and axis order a network was trained with, and back.

Orientation codes follow nibabel/MONAI/ITK: ``"RAS"`` means the first voxel axis (i) increases towards the
patient's Right, j towards Anterior, k towards Superior. A :class:`Volume`'s direction matrix (columns = LPS
unit vectors of i, j, k) gives its own codes, e.g. ``"LPS"`` for an identity matrix. Reorienting only
permutes and flips axes (array views, no interpolation); an oblique volume is assigned to its nearest axes.

This is the one place that plans reorientations: :func:`imaging.resample.reorient` (volume → volume) and
the model runner (array views with a channel axis, inverted for the network output) both use it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["Reorientation", "orientation_codes", "plan_reorientation"]

# Letter for +/- along each LPS axis.
_POSITIVE = "LPS"
_NEGATIVE = "RAI"


def orientation_codes(direction: np.ndarray) -> str:
    """Axis codes of the i, j, k axes for a 3×3 LPS direction matrix (columns = axes).

    The voxel axes are matched one-to-one to the patient axes so that the summed |cosine| between each
    voxel axis and its patient axis is largest; every patient axis is used once, also for 45° obliques.
    """
    direction = np.asarray(direction, dtype=float)
    # rows[a] is the LPS axis assigned to voxel axis a
    rows = max(itertools.permutations(range(3)), key=lambda p: sum(abs(direction[p[a], a]) for a in range(3)))
    return "".join(
        _POSITIVE[row] if direction[row, column] > 0 else _NEGATIVE[row] for column, row in enumerate(rows)
    )


def _axis(code: str) -> int:
    return _POSITIVE.index(code) if code in _POSITIVE else _NEGATIVE.index(code)


@dataclass(frozen=True)
class Reorientation:
    """Axis permutation and flips from a volume's ``(k, j, i)`` array to the network's layout.

    Attributes:
        source_codes: orientation of the volume's i, j, k axes (e.g. ``"LPS"``).
        target_codes: orientation of the network's i, j, k axes.
        permutation: ``permutation[w]`` is the source voxel axis (0=i, 1=j, 2=k) that becomes network axis w.
        flips: whether network axis w runs opposite to its source axis.
        axis_order: ``"kji"`` or ``"ijk"``, the network's array layout.
    """

    source_codes: str
    target_codes: str
    permutation: tuple[int, int, int]
    flips: tuple[bool, bool, bool]
    axis_order: str = "kji"

    @property
    def is_identity(self) -> bool:
        return self.permutation == (0, 1, 2) and not any(self.flips) and self.axis_order == "kji"

    def to_network(self, array: np.ndarray) -> np.ndarray:
        """View of a ``(..., k, j, i)`` array in the network's layout (the last three axes are spatial)."""
        lead = array.ndim - 3
        ijk = [lead + 2, lead + 1, lead]  # array axis holding voxel axis i, j, k
        oriented = array.transpose(*range(lead), *(ijk[v] for v in self.permutation))  # network i, j, k
        flipped = [lead + w for w in range(3) if self.flips[w]]
        if flipped:
            oriented = np.flip(oriented, axis=flipped)
        if self.axis_order == "kji":
            oriented = oriented.transpose(*range(lead), lead + 2, lead + 1, lead)
        return oriented

    def from_network(self, array: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_network`: view of a network-layout array as ``(..., k, j, i)`` of the volume."""
        lead = array.ndim - 3
        if self.axis_order == "kji":
            array = array.transpose(*range(lead), lead + 2, lead + 1, lead)  # now network i, j, k
        flipped = [lead + w for w in range(3) if self.flips[w]]
        if flipped:
            array = np.flip(array, axis=flipped)
        inverse = [self.permutation.index(v) for v in range(3)]  # network axis holding source axis v
        source_ijk = array.transpose(*range(lead), *(lead + w for w in inverse))
        return source_ijk.transpose(*range(lead), lead + 2, lead + 1, lead)

    def source_spacing(self, network_spacing: tuple[float, float, float]) -> tuple[float, float, float]:
        """Spacing along the volume's i, j, k axes for a spacing given along the network's i, j, k axes."""
        spacing = [0.0, 0.0, 0.0]
        for w, v in enumerate(self.permutation):
            spacing[v] = float(network_spacing[w])
        return (spacing[0], spacing[1], spacing[2])

    def network_shape(self, shape_kji: tuple[int, int, int]) -> tuple[int, int, int]:
        """Shape of the network-layout array for a volume of shape ``(k, j, i)``."""
        return tuple(self.to_network(np.empty(shape_kji, dtype=np.uint8)).shape)


def plan_reorientation(direction: np.ndarray, target: str | None, axis_order: str = "kji") -> Reorientation:
    """How to bring a volume with this direction matrix to ``target`` codes and ``axis_order``.

    Args:
        direction: the volume's 3×3 LPS direction matrix.
        target: codes such as ``"RAS"``; ``None`` keeps the volume's own orientation.
        axis_order: ``"kji"`` or ``"ijk"``.
    """
    if axis_order not in ("kji", "ijk"):
        raise ValueError(f"axis_order must be 'kji' or 'ijk', got '{axis_order}'")
    source = orientation_codes(direction)
    if target is None:
        return Reorientation(source, source, (0, 1, 2), (False, False, False), axis_order)
    code = target.strip().upper()
    if len(code) != 3 or any(c not in _POSITIVE + _NEGATIVE for c in code) or sorted(map(_axis, code)) != [0, 1, 2]:
        raise ValueError(
            f"Orientation must be three letters, one of each R/L, A/P, S/I (e.g. 'RAS'), got '{target}'"
        )
    target = code
    source_axis = [_axis(c) for c in source]
    permutation = tuple(source_axis.index(_axis(code)) for code in target)
    flips = tuple(source[v] != target[w] for w, v in enumerate(permutation))
    return Reorientation(source, target, permutation, flips, axis_order)
