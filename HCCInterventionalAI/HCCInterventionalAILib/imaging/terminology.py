"""Standard terminology (SNOMED CT codes, as used by DICOM SEG and Slicer) for the structures we segment.

Codes are from the DICOM standard's context groups (CID 7150 segmentation property categories, CID 7151
property types / CID 4031 anatomic regions); colours follow Slicer's General Anatomy colour table where it
has the structure.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Code", "Terminology", "lookup_terminology", "STRUCTURES"]


@dataclass(frozen=True)
class Code:
    """A coded concept: coding scheme designator, code value, code meaning."""

    scheme: str
    value: str
    meaning: str

    def slicer(self) -> str:
        return f"{self.scheme}^{self.value}^{self.meaning}"


ANATOMICAL_STRUCTURE = Code("SCT", "123037004", "Anatomical Structure")
ALTERED_STRUCTURE = Code("SCT", "49755003", "Morphologically Altered Structure")
PHYSICAL_OBJECT = Code("SCT", "260787004", "Physical object")


@dataclass(frozen=True)
class Terminology:
    """Category + type of a segment (DICOM SEG segmented property) with a display colour."""

    category: Code
    type: Code
    color: tuple[float, float, float]
    region: Code | None = None

    def to_slicer(self) -> str:
        """Slicer's serialised terminology entry (segment tag ``TerminologyEntry``)."""
        region = self.region.slicer() if self.region else "^^"
        return (
            "Segmentation category and type - 3D Slicer General Anatomy list"
            f"~{self.category.slicer()}~{self.type.slicer()}~^^"
            f"~Anatomic codes - DICOM master list~{region}~^^"
        )

    @classmethod
    def from_slicer(cls, entry: str, color: tuple[float, float, float]) -> Terminology | None:
        parts = entry.split("~")
        if len(parts) < 3:
            return None

        def code(text: str) -> Code | None:
            fields = text.split("^")
            return Code(*fields[:3]) if len(fields) >= 3 and fields[1] else None

        category, type_ = code(parts[1]), code(parts[2])
        if category is None or type_ is None:
            return None
        region = code(parts[5]) if len(parts) > 5 else None
        return cls(category, type_, color, region)


def _rgb(r: int, g: int, b: int) -> tuple[float, float, float]:
    return (r / 255.0, g / 255.0, b / 255.0)


LIVER = Code("SCT", "10200004", "Liver")

#: Canonical structures, keyed by lower-case name; aliases below map other spellings onto them.
STRUCTURES: dict[str, Terminology] = {
    "liver": Terminology(ANATOMICAL_STRUCTURE, LIVER, _rgb(221, 130, 101)),
    "tumor": Terminology(ALTERED_STRUCTURE, Code("SCT", "108369006", "Neoplasm"), _rgb(255, 238, 0), LIVER),
    "lung": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "39607008", "Lung"), _rgb(197, 165, 145)),
    "portal vein": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "32764006", "Portal vein"), _rgb(0, 151, 206)),
    "hepatic vein": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "8993003", "Hepatic vein"), _rgb(0, 112, 165)),
    "hepatic artery": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "76015000", "Hepatic artery"), _rgb(216, 101, 79)),
    "aorta": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "15825003", "Aorta"), _rgb(224, 97, 76)),
    "spleen": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "78961009", "Spleen"), _rgb(157, 108, 162)),
    "kidney": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "64033007", "Kidney"), _rgb(185, 102, 83)),
    "gallbladder": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "28231008", "Gallbladder"), _rgb(139, 150, 98)),
    "bone": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "272673000", "Bone"), _rgb(241, 214, 145)),
    "body": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "38266002", "Entire body"), _rgb(177, 122, 101)),
    "ablation zone": Terminology(ALTERED_STRUCTURE, Code("SCT", "6574001", "Necrosis"), _rgb(230, 80, 40), LIVER),
    "vessels": Terminology(ANATOMICAL_STRUCTURE, Code("SCT", "59820001", "Blood vessel"), _rgb(0, 151, 206)),
}

_ALIASES = {
    "tumour": "tumor", "hcc": "tumor", "lesion": "tumor", "neoplasm": "tumor",
    "lungs": "lung", "left lung": "lung", "right lung": "lung",
    "liver vessels": "vessels", "hepatic vessels": "vessels", "blood vessel": "vessels",
    "portal": "portal vein", "hepatic veins": "hepatic vein", "ablation": "ablation zone",
}


def lookup_terminology(name: str) -> Terminology | None:
    """Terminology for a structure name ('Liver', 'Tumor 1', 'HCC', 'lungs', ...), or None if unknown."""
    key = name.strip().lower()
    if key in STRUCTURES:
        return STRUCTURES[key]
    key = _ALIASES.get(key, key)
    if key in STRUCTURES:
        return STRUCTURES[key]
    base = key.rstrip("0123456789 _-")  # "tumor 2", "lesion_1"
    base = _ALIASES.get(base, base)
    return STRUCTURES.get(base)
