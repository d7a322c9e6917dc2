"""The built-in SYNTHETIC sample patient (a computer-generated phantom, not a real patient).

Example:
    >>> from HCCInterventionalAILib.sample import make_sample_patient
    >>> patient = make_sample_patient(seed=7, size="small")
    >>> sorted(patient.ct)
    ['arterial', 'non-contrast', 'portal venous']
    >>> patient.spect.modality, patient.truth.names[:3]
    ('NM', ['Body', 'Liver', 'Tumor 1'])
"""

from .anatomy import FRAME_ORIGIN_LPS, SEGMENT_NAMES, Anatomy, Lesion, Structure, Tissue, build_anatomy
from .ct import PHASES, SYNTHETIC_NOTE, TISSUE_HU, hu_table, synthesize_ct
from .patient import SIZES, SamplePatient, ct_geometry, make_sample_patient, spect_geometry
from .spect import maa_activity_concentration, simulate_spect

__all__ = [
    "FRAME_ORIGIN_LPS",
    "PHASES",
    "SEGMENT_NAMES",
    "SIZES",
    "SYNTHETIC_NOTE",
    "TISSUE_HU",
    "Anatomy",
    "Lesion",
    "SamplePatient",
    "Structure",
    "Tissue",
    "build_anatomy",
    "ct_geometry",
    "hu_table",
    "maa_activity_concentration",
    "make_sample_patient",
    "simulate_spect",
    "spect_geometry",
    "synthesize_ct",
]
